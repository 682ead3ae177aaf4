/**
 * Starts and stops a throwaway PostgreSQL cluster from the machine's binaries: loopback only,
 * a free port, a private directory, removed afterwards. Used by the test setup and the bench.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A running throwaway cluster. */
export interface PgCluster {
  readonly url: string
  readonly stop: () => void
}

/** Finds the directory holding initdb/pg_ctl, or null. */
export const findPgBin = (): string | null => {
  if (process.env.AIRLOCK_PG_BIN && existsSync(join(process.env.AIRLOCK_PG_BIN, "pg_ctl")))
    return process.env.AIRLOCK_PG_BIN
  const root = "/usr/lib/postgresql"
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "pg_ctl")))
      .sort((a, b) => Number(b) - Number(a))
    if (versions[0]) return join(root, versions[0], "bin")
  }
  const which = spawnSync("sh", ["-c", "command -v pg_ctl"], { encoding: "utf8" })
  if (which.status === 0 && which.stdout.trim()) return join(which.stdout.trim(), "..")
  return null
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const PREFIX = "airlock-pg-"
/** File in a cluster's directory naming the process that started it. */
const OWNER_FILE = "owner.pid"

const isRootUser = () => typeof process.getuid === "function" && process.getuid() === 0

/** Runs a PostgreSQL binary, as the `postgres` user when we are root (the server refuses root). */
const runner = (bin: string) => (cmd: string, args: ReadonlyArray<string>) => {
  const full = join(bin, cmd)
  if (isRootUser()) execFileSync("runuser", ["-u", "postgres", "--", full, ...args], { stdio: "pipe" })
  else execFileSync(full, [...args], { stdio: "pipe" })
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists under another user
    return (error as { code?: string }).code === "EPERM"
  }
}

/**
 * Stops and removes clusters left by runs that were killed before their teardown (their
 * starting process is gone), so they don't pile up on a developer machine. A cluster whose
 * starter still runs — another test run at the same time — is left alone, as is a directory
 * without an owner file. Returns the directories removed.
 */
export const sweepOrphans = (bin: string | null, root: string = tmpdir()): ReadonlyArray<string> => {
  const removed: Array<string> = []
  for (const name of readdirSync(root)) {
    if (!name.startsWith(PREFIX)) continue
    const dir = join(root, name)
    let owner: number
    try {
      owner = Number(readFileSync(join(dir, OWNER_FILE), "utf8").trim())
    } catch {
      continue
    }
    if (!Number.isInteger(owner) || owner <= 0 || alive(owner)) continue
    const data = join(dir, "data")
    try {
      if (bin !== null && existsSync(join(data, "postmaster.pid")))
        runner(bin)("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    } catch {
      // already stopped, or not ours to stop: the directory still goes
    }
    rmSync(dir, { recursive: true, force: true })
    removed.push(dir)
  }
  return removed
}

/** Starts a cluster; throws with the server log when it cannot. */
export const startCluster = async (bin: string): Promise<PgCluster> => {
  sweepOrphans(bin)
  const dir = mkdtempSync(join(tmpdir(), PREFIX))
  writeFileSync(join(dir, OWNER_FILE), String(process.pid))
  const isRoot = isRootUser()
  const run = runner(bin)
  if (isRoot) {
    chmodSync(dir, 0o755)
    execFileSync("chown", ["-R", "postgres:postgres", dir])
  }
  const data = join(dir, "data")
  run("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"])
  let lastError: unknown
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort()
    try {
      run("pg_ctl", [
        "-D",
        data,
        "-l",
        join(dir, "log"),
        "-w",
        "-t",
        "30",
        "-o",
        `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=200`,
        "start"
      ])
      return {
        url: `postgres://postgres@127.0.0.1:${port}/postgres`,
        stop: () => {
          try {
            run("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])
          } finally {
            rmSync(dir, { recursive: true, force: true })
          }
        }
      }
    } catch (error) {
      lastError = error
    }
  }
  rmSync(dir, { recursive: true, force: true })
  throw new Error(`Could not start PostgreSQL: ${String(lastError)}`)
}
