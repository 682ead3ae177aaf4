import { Maintenance, Registry, Scheduler } from "@airlock/ops"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"

describe("Registry", () => {
  it.effect("registers by name, replaces a name registered again, lists by name", () =>
    Effect.gen(function*() {
      const registry = Registry.make<{ readonly name: string; readonly n: number }>()
      expect(registry.list()).toStrictEqual([])
      yield* registry.register({ name: "b", n: 1 })
      yield* registry.register({ name: "a", n: 2 })
      yield* registry.register({ name: "b", n: 3 })
      expect(registry.get("b")).toStrictEqual(Option.some({ name: "b", n: 3 }))
      expect(Option.isNone(registry.get("c"))).toBe(true)
      expect(registry.list()).toStrictEqual([{ name: "a", n: 2 }, { name: "b", n: 3 }])
    }))

  it.effect("registerTarget and registerCommand fill their registries when their layers are built", () =>
    Effect.gen(function*() {
      const targets = yield* Scheduler.ScheduleTargets
      const commands = yield* Maintenance.MaintenanceCommands
      expect(targets.list()).toStrictEqual([
        { name: "t.a", description: "first" },
        { name: "t.b", description: "second" }
      ])
      expect(Option.map(targets.get("t.b"), (t) => t.description)).toStrictEqual(Option.some("second"))
      expect(commands.list().map((c) => c.name)).toStrictEqual(["m.one"])
      expect(yield* Option.getOrThrow(commands.get("m.one")).run).toBe("ran")
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          Scheduler.registerTarget(Effect.succeed({ name: "t.b", description: "second", run: () => Effect.void })),
          Scheduler.registerTarget(Effect.succeed({ name: "t.a", description: "first", run: () => Effect.void })),
          Maintenance.registerCommand(Effect.succeed({ name: "m.one", description: "one", run: Effect.succeed("ran") }))
        ).pipe(
          Layer.provideMerge(Layer.merge(Scheduler.ScheduleTargets.Default, Maintenance.MaintenanceCommands.Default))
        )
      )
    ))
})
