/**
 * The test clusters' janitor: a cluster left by a killed run (its starter gone) is removed when
 * the next run starts one; a cluster of a run still going, or a directory it cannot attribute,
 * is left alone.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { sweepOrphans } from "../../../scripts/pg-cluster.js"

const roots: Array<string> = []
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true })
})

const cluster = (root: string, name: string, owner: number | null) => {
  const dir = join(root, name)
  mkdirSync(join(dir, "data"), { recursive: true })
  if (owner !== null) writeFileSync(join(dir, "owner.pid"), String(owner))
  return dir
}

describe("test cluster janitor", () => {
  it("removes clusters whose starting process is gone, and nothing else", () => {
    const root = mkdtempSync(join(tmpdir(), "airlock-sweep-"))
    roots.push(root)
    const exited = spawnSync(process.execPath, ["-e", ""]).pid!
    const orphan = cluster(root, "airlock-pg-orphan", exited)
    const running = cluster(root, "airlock-pg-running", process.pid)
    const unknown = cluster(root, "airlock-pg-unknown", null)
    const other = cluster(root, "something-else", exited)
    expect(sweepOrphans(null, root)).toStrictEqual([orphan])
    expect([orphan, running, unknown, other].map(existsSync)).toStrictEqual([false, true, true, true])
  })
})
