#!/usr/bin/env bash
# The main job: installs what is missing, then runs Airlock's example on embedded SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export COREPACK_INTEGRITY_KEYS=0
exec pnpm start
