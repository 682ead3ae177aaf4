/**
 * Starts and stops a throwaway PostgreSQL cluster from the machine's binaries: loopback only,
 * a free port, a private directory, removed afterwards. Used by the test setup and the bench.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
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
  if (process.env.AIRLOCK_PG_BIN && existsSync(join(process.env.AIRLOCK_PG_BIN, "pg_ctl"))) return process.env.AIRLOCK_PG_BIN
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

/** Starts a cluster; throws with the server log when it cannot. */
export const startCluster = async (bin: string): Promise<PgCluster> => {
  const dir = mkdtempSync(join(tmpdir(), "airlock-pg-"))
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0
  const run = (cmd: string, args: ReadonlyArray<string>) => {
    const full = join(bin, cmd)
    if (isRoot) execFileSync("runuser", ["-u", "postgres", "--", full, ...args], { stdio: "pipe" })
    else execFileSync(full, [...args], { stdio: "pipe" })
  }
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
        "-D", data, "-l", join(dir, "log"), "-w", "-t", "30",
        "-o", `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=200`,
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
