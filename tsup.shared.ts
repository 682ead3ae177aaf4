/**
 * The JS build every package shares: ESM from src/index.ts, run from the package folder.
 * Declarations are emitted per file by `tsc` (see each package's `build` script): bundled
 * declarations lose one side of names that are both a type and a value (`Ids.TenantId`).
 */
import { defineConfig } from "tsup"

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: false,
  sourcemap: true,
  clean: true,
  target: "node20",
  tsconfig: "tsconfig.build.json"
})
