/**
 * The benches' one way to measure "peak memory" of a piece of work: run it in a forked child
 * process of its own (`--expose-gc`, optionally a heap cap such as `--max-old-space-size=96`),
 * and there {@link track} it: garbage-collect, note the resident set and the V8 heap in use,
 * sample both every 10 ms while the work runs, and read the kernel's RSS high-water mark after.
 * On Linux the mark is reset just before the work (`5` written to `/proc/self/clear_refs`, then
 * `VmHWM` read from `/proc/self/status`), so it is the work's exact RSS peak — even through
 * synchronous native calls (better-sqlite3) during which no timer fires. Elsewhere `maxRSS`
 * (`getrusage`) is used, exact only when it rose during the work. Reported: the
 * peak minus the start, for RSS and heap, not the process's whole history (the data load, other
 * modules), which is what `maxRSS` of the bench process alone would be.
 *
 * A bench module forks itself: `inChild(import.meta.url, name, args)` in the parent, and at the
 * module's end `serveChild(name, (args) => ...)`, which answers when the module is the child.
 */
import { fork } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** The memory figures of one tracked piece of work (bytes). */
export interface Peak {
  readonly rssStart: number
  readonly rssPeak: number
  readonly heapStart: number
  readonly heapPeak: number
  /** Whether the kernel's high-water mark rose during the work (then `rssPeak` is exact). */
  readonly exact: boolean
}

const gc = () => (globalThis as { gc?: () => void }).gc?.()

/** Resets the kernel's RSS high-water mark of this process; false where that is not possible. */
const resetMark = (): boolean => {
  try {
    writeFileSync("/proc/self/clear_refs", "5")
    return true
  } catch {
    return false
  }
}

/** The RSS high-water mark in bytes: `VmHWM` on Linux, else `getrusage` `maxRSS`. */
const mark = (): number => {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))
    if (m) return Number(m[1]) * 1024
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024
}

/** Runs `work` and returns its result with the memory it took over what was in use before. */
export const track = async <A>(work: () => Promise<A>): Promise<{ readonly result: A; readonly peak: Peak }> => {
  gc()
  const start = process.memoryUsage()
  const reset = resetMark()
  const markBefore = reset ? 0 : mark()
  let rss = start.rss
  let heap = start.heapUsed
  const sample = () => {
    const m = process.memoryUsage()
    rss = Math.max(rss, m.rss)
    heap = Math.max(heap, m.heapUsed)
  }
  const timer = setInterval(sample, 10)
  try {
    const result = await work()
    sample()
    const markAfter = mark()
    const exact = markAfter > markBefore
    return {
      result,
      peak: {
        rssStart: start.rss,
        rssPeak: exact ? Math.max(rss, markAfter) : rss,
        heapStart: start.heapUsed,
        heapPeak: heap,
        exact
      }
    }
  } finally {
    clearInterval(timer)
  }
}

/** Megabytes, one decimal. */
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`

/** "rss +X MB over Y MB, heap +Z MB" for a row. */
export const describe = (p: Peak) =>
  `peak rss +${mb(p.rssPeak - p.rssStart)} over ${mb(p.rssStart)} at start${p.exact ? "" : " (sampled)"}, ` +
  `peak heap +${mb(p.heapPeak - p.heapStart)} over ${mb(p.heapStart)}`

const CHILD_FLAG = "--airlock-bench-child"

/** What a child sends back: its result, or the error that stopped it. */
type Reply<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: string }

/** How a child ended. */
export type ChildOutcome<A> =
  | { readonly _tag: "Done"; readonly value: A }
  | {
    readonly _tag: "Failed"
    readonly error: string
    readonly exitCode: number | null
    readonly signal: string | null
  }

/**
 * Forks the module at `moduleUrl` (`import.meta.url`) as a child running its `serveChild(name)`
 * handler with `args`, with `--expose-gc` and `flags` (for example `--max-old-space-size=96`).
 */
export const inChild = <A>(
  moduleUrl: string,
  name: string,
  args: ReadonlyArray<string>,
  flags: ReadonlyArray<string> = []
): Promise<ChildOutcome<A>> =>
  new Promise((resolve) => {
    const child = fork(fileURLToPath(moduleUrl), [CHILD_FLAG, name, ...args], {
      execArgv: [...process.execArgv, "--expose-gc", ...flags],
      stdio: ["ignore", "inherit", "pipe", "ipc"]
    })
    let reply: Reply<A> | undefined
    let stderr = ""
    let oom = false
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000)
      oom ||= /heap limit|heap out of memory/i.test(stderr)
    })
    child.on("message", (m) => (reply = m as Reply<A>))
    child.on("error", (e) => resolve({ _tag: "Failed", error: String(e), exitCode: null, signal: null }))
    child.on("exit", (exitCode, signal) => {
      if (reply?.ok === true) return resolve({ _tag: "Done", value: reply.value })
      const error = reply?.ok === false
        ? reply.error
        : oom
        ? "out of memory (V8 heap limit reached)"
        : stderr.trim().split("\n").slice(-3).join(" / ")
      resolve({ _tag: "Failed", error, exitCode, signal })
    })
  })

/** In the forked child named `name`, runs `handler` with the child's arguments and sends back its result. */
export const serveChild = async <A>(name: string, handler: (args: ReadonlyArray<string>) => Promise<A>) => {
  if (process.argv[2] !== CHILD_FLAG || process.argv[3] !== name) return
  let reply: Reply<A>
  try {
    reply = { ok: true, value: await handler(process.argv.slice(4)) }
  } catch (e) {
    reply = { ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) }
  }
  await new Promise<void>((resolve) => process.send!(reply, () => resolve()))
  process.exit(0)
}
