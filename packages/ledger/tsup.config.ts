import { defineConfig } from "tsup"

// Declarations come from `tsc -p tsconfig.build.json` (see package.json): tsup's bundled .d.ts
// drops the value side of `const X` + `type X` pairs re-exported through `export * as`, so
// consumers of the built package could not use schemas such as `Chart.NewAccount` as values.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: false,
  sourcemap: true,
  clean: true,
  target: "node20",
  tsconfig: "tsconfig.build.json"
})
