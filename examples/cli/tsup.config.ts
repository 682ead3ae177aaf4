/**
 * The built `airlock` bin: one ESM file, `cli/dist/airlock.js`, with the workspace packages
 * compiled in from their sources (so no package build is needed first) and every npm dependency
 * of the examples package left to node_modules (the packages' own npm dependencies are compiled in). `pnpm --filter @airlock/examples build:cli`; the tests run this file.
 */
import { defineConfig } from "tsup"

export default defineConfig({
  entry: { airlock: "cli/main.ts" },
  outDir: process.env.AIRLOCK_CLI_OUT_DIR ?? "cli/dist",
  format: ["esm"],
  platform: "node",
  target: "node20",
  dts: false,
  sourcemap: true,
  clean: true,
  noExternal: [/^@airlock\//],
  esbuildOptions(options) {
    options.conditions = ["source"]
  },
  // CommonJS code compiled in (tar-stream, a dependency of adapters-http) requires Node's builtins
  banner: {
    js: '#!/usr/bin/env node\nimport { createRequire as __airlockRequire } from "node:module"\n' +
      "const require = __airlockRequire(import.meta.url)"
  }
})
