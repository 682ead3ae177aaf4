/**
 * Gives every test a real PostgreSQL: `AIRLOCK_TEST_PG_URL` when set, otherwise a throwaway
 * cluster started here from the machine's binaries. Without either, the run fails — PostgreSQL
 * tests never skip silently (set AIRLOCK_TEST_PG=off to run without them on purpose, never in CI).
 */
import type { TestProject } from "vitest/node"
import { findPgBin, type PgCluster, startCluster } from "./scripts/pg-cluster.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** Admin URL of the test server, or "" when PostgreSQL tests were turned off on purpose. */
    pgUrl: string
  }
}

let cluster: PgCluster | undefined

export async function setup(project: TestProject) {
  const given = process.env.AIRLOCK_TEST_PG_URL
  if (given) {
    project.provide("pgUrl", given)
    return
  }
  if (process.env.AIRLOCK_TEST_PG === "off") {
    if (process.env.CI) throw new Error("AIRLOCK_TEST_PG=off is not allowed in CI: PostgreSQL tests must run")
    console.warn("[airlock] AIRLOCK_TEST_PG=off: PostgreSQL conformance tests are SKIPPED")
    project.provide("pgUrl", "")
    return
  }
  const bin = findPgBin()
  if (!bin) {
    throw new Error(
      "No PostgreSQL for the tests: set AIRLOCK_TEST_PG_URL, or install the server binaries " +
        "(apt-get install -y postgresql), or set AIRLOCK_TEST_PG=off outside CI to skip them knowingly."
    )
  }
  cluster = await startCluster(bin)
  project.provide("pgUrl", cluster.url)
}

export async function teardown() {
  cluster?.stop()
}
