#!/usr/bin/env bash
# Makes a fresh machine ready: pnpm 10 (through corepack, or npm as a fallback) and the
# workspace's dependencies from the lockfile. Safe to run again (about 3 s when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."

want="$(node -p 'require("./package.json").packageManager.split("@")[1]')"
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$want" ]; then
  echo "[airlock] setting up pnpm $want"
  # corepack's bundled signing keys are older than current pnpm releases; the hash is still checked.
  if ! (COREPACK_INTEGRITY_KEYS=0 corepack enable >/dev/null 2>&1 && COREPACK_INTEGRITY_KEYS=0 corepack prepare "pnpm@$want" --activate >/dev/null 2>&1); then
    npm install -g "pnpm@$want" >/dev/null
  fi
fi
export COREPACK_INTEGRITY_KEYS=0
pnpm install --frozen-lockfile --reporter=append-only | tail -n 3
