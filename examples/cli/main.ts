/**
 * `airlock` — the operator CLI of the reference distribution: every command the runbooks name,
 * over the library and the same store as the reference server. `pnpm airlock --help`;
 * docs/cli.md lists the commands and the exit codes.
 */
import { Command, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Layer, Logger, LogLevel } from "effect"
import { commands } from "./Commands.js"
import * as R from "./Runtime.js"

const cli = Command.run(commands, { name: "airlock", version: "0.0.0" })

// @effect/cli renders help and usage errors with ANSI styles; without a terminal they are stripped
const ansi = /\u001b\[[0-9;]*m/g
const plain = (args: ReadonlyArray<unknown>) => args.map((a) => typeof a === "string" ? a.replace(ansi, "") : a)
const plainConsole = (c: Console.Console): Console.Console => ({
  ...c,
  log: (...args) => c.log(...plain(args)),
  error: (...args) => c.error(...plain(args)),
  unsafe: {
    ...c.unsafe,
    log: (...args) => c.unsafe.log(...plain(args)),
    error: (...args) => c.unsafe.error(...plain(args))
  }
})

const program = Effect.suspend(() => cli(process.argv)).pipe(
  Effect.as(R.ExitCode.ok as number),
  Effect.catchAll((e: unknown): Effect.Effect<number> => {
    if (e instanceof R.Exit) return Effect.succeed(e.code)
    // @effect/cli printed the usage problem already
    if (ValidationError.isValidationError(e)) return Effect.succeed(R.ExitCode.usage)
    return Effect.catchAll(R.failWith(e), (x) => Effect.succeed(x.code))
  }),
  Effect.catchAllDefect((d) =>
    Effect.gen(function*() {
      yield* Console.error(`${R.red("error")} internal: ${Cause.pretty(Cause.die(d))}`)
      return R.ExitCode.internal
    })
  ),
  Effect.provide(Layer.mergeAll(NodeContext.layer, Logger.minimumLogLevel(LogLevel.Warning))),
  (self) => R.colours ? self : Effect.flatMap(Effect.console, (c) => Effect.withConsole(self, plainConsole(c)))
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? (exit.value as number) : R.ExitCode.internal)
})
