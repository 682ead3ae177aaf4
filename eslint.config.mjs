// Lint and format in one pass: `pnpm lint` checks, `pnpm lint:fix` rewrites.
// Formatting is dprint's TypeScript formatter run as the `@effect/dprint` rule (bundled as an npm
// package, so nothing is downloaded at lint time), configured like Effect's own repository.
import * as effect from "@effect/eslint-plugin"
import js from "@eslint/js"
import { defineConfig } from "eslint/config"
import tseslint from "typescript-eslint"

export default defineConfig(
  {
    ignores: ["**/node_modules/**", "**/dist/**", "**/build/**", "**/coverage/**", "**/.pg-test/**", "**/.vitest-pg/**"]
  },
  {
    files: ["**/*.{ts,mts,mjs}"],
    extends: [js.configs.recommended, ...tseslint.configs.recommended, ...effect.configs.dprint],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module"
    },
    linterOptions: {
      reportUnusedDisableDirectives: "error"
    },
    rules: {
      // TypeScript reports these better (and `noFallthroughCasesInSwitch` is on).
      "no-undef": "off",
      "no-redeclare": "off",
      "no-fallthrough": "off",
      // The tree's one control-character class is deliberate (JSON string quoting in the ledger).
      "no-control-regex": "off",
      // Effect.gen bodies may have no yield; Effect's repository allows it too.
      "require-yield": "off",
      "object-shorthand": "error",
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
      "@typescript-eslint/ban-ts-comment": "off",
      // A type-only import is written `import type` (or an inline `type` in a mixed import): under
      // `verbatimModuleSyntax` that is what decides whether a module is loaded at run time, and the
      // cycle check (`pnpm check:cycles`, madge with `.madgerc`) ignores only type-only imports.
      "@typescript-eslint/consistent-type-imports": ["error", {
        fixStyle: "inline-type-imports",
        disallowTypeAnnotations: false
      }],
      "@typescript-eslint/no-import-type-side-effects": "error",
      "@typescript-eslint/no-unused-vars": ["error", {
        argsIgnorePattern: "^_",
        varsIgnorePattern: "^_",
        caughtErrorsIgnorePattern: "^_",
        destructuredArrayIgnorePattern: "^_"
      }],
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          // double quotes, except where a string holds double quotes and single ones read better
          quoteStyle: "preferDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force",
          useBraces: "maintain"
        }
      }]
    }
  },
  {
    files: ["packages/*/src/**/*.ts", "packages/*/test/**/*.ts"],
    rules: {
      "no-console": "error"
    }
  },
  {
    // Domain packages are pure (docs/architecture.md): time from Clock, randomness from
    // SecureRandom, configuration from Config, storage and HTTP from ports.
    files: ["packages/{core,ledger,guardrails,companion,ops}/src/**/*.ts"],
    rules: {
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read settings through Effect's Config." },
        { object: "Date", property: "now", message: "Read time from Effect's Clock." },
        { object: "performance", property: "now", message: "Read time from Effect's Clock." },
        { object: "Math", property: "random", message: "Use the SecureRandom or IdGenerator service." }
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: "Read time from Effect's Clock."
        }
      ],
      "no-restricted-imports": ["error", {
        patterns: [{
          group: [
            "@effect/sql",
            "@effect/sql-*",
            "@effect/platform-*",
            "better-sqlite3",
            "pg",
            "node:http",
            "node:https",
            "node:net",
            "node:fs",
            "node:fs/*"
          ],
          message: "Domain packages reach storage and the network through ports (adapters implement them)."
        }]
      }]
    }
  }
)
