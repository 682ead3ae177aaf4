/**
 * The child-process harness of the multi-process tests: runs a worker script of this folder in
 * its own Node process (TypeScript sources through tsx), passes it one JSON job on the command
 * line and resolves with the JSON the worker prints last; a non-zero exit or no result rejects
 * with the worker's output.
 */
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const packageDir = join(here, "..", "..")

/**
 * A runner for the worker `script` (a file name in `test/support`); `label` names a job in
 * failure messages.
 */
export const worker = <A = any>(script: string, label: (job: Record<string, unknown>) => string) => {
  const file = join(here, script)
  return (job: Record<string, unknown>): Promise<A> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", "--conditions=source", file, JSON.stringify(job)], {
        cwd: packageDir,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let out = ""
      let err = ""
      child.stdout.on("data", (d) => (out += d))
      child.stderr.on("data", (d) => (err += d))
      child.on("error", reject)
      child.on("close", (code) => {
        if (code !== 0) return reject(new Error(`${label(job)} exited ${code}: ${err}`))
        try {
          resolve(JSON.parse(out.trim().split("\n").at(-1)!))
        } catch {
          reject(new Error(`${label(job)} printed no result: ${out} ${err}`))
        }
      })
    })
}
