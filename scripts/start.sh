#!/usr/bin/env bash
# The main job: installs what is missing, then runs Airlock's reference HTTP server on embedded
# SQLite (./airlock.db where this command was run; AIRLOCK_DB overrides) in development mode.
set -euo pipefail
export AIRLOCK_DB="${AIRLOCK_DB:-$PWD/airlock.db}"
export AIRLOCK_ENV="${AIRLOCK_ENV:-development}"
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export COREPACK_INTEGRITY_KEYS=0
exec pnpm start
