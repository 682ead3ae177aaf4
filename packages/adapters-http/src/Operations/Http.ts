/**
 * Handlers of the operations group, and the {@link Backups} port its backup routes use (the
 * host provides it: `Backup.make({...})` of `@airlock/adapters-storage` for SQLite; without it the
 * routes answer 409 `ops.backup_unconfigured`). The doctor routes use ops' `Doctor` when the host
 * provides it (409 `ops.doctor_unconfigured` otherwise).
 */
import { Errors } from "@airlock/core"
import { Doctor, Drain } from "@airlock/ops"
import { HttpApiBuilder, type HttpApiGroup } from "@effect/platform"
import { Context, Effect, type Layer, Option } from "effect"
import { AirlockApi } from "../Api.js"
import type { Admin } from "../Auth.js"
import { withPrincipal } from "../RequestContext.js"

/** One backup file, as the backup port reports it. */
export interface BackupInfo {
  readonly name: string
  readonly path: string
  readonly bytes: number
  readonly gzip: boolean
  readonly created_at: number
}

/** The backup port (implemented for SQLite by `Backup.make` in `@airlock/adapters-storage`). */
export class Backups extends Context.Tag("@airlock/adapters-http/Backups")<
  Backups,
  {
    readonly create: (options?: { readonly gzip?: boolean }) => Effect.Effect<BackupInfo, Errors.StorageError>
    readonly list: Effect.Effect<ReadonlyArray<BackupInfo>, Errors.StorageError>
  }
>() {}

const doctorUnconfigured = () =>
  new Errors.Conflict({
    code: "ops.doctor_unconfigured",
    message: "The doctor is not configured on this server (provide ops' Doctor with its DoctorConfig)"
  })

const unconfigured = () =>
  new Errors.Conflict({
    code: "ops.backup_unconfigured",
    message: "Backups are not configured on this server (PostgreSQL: use pg_dump, see docs/ops-health.md)"
  })

/** The operations group's handlers. */
export const layer: Layer.Layer<
  HttpApiGroup.ApiGroup<"airlock", "operations">,
  never,
  Drain.Restart | Admin
> = HttpApiBuilder.group(AirlockApi, "operations", (handlers) =>
  Effect.gen(function*() {
    const restarts = yield* Drain.Restart
    const backups = yield* Effect.serviceOption(Backups)
    const doctor = yield* Effect.serviceOption(Doctor.Doctor)
    const withDoctor = <A, E>(f: (d: Doctor.Doctor) => Effect.Effect<A, E>): Effect.Effect<A, E | Errors.Conflict> =>
      Option.match(doctor, { onNone: () => Effect.fail(doctorUnconfigured()), onSome: f })
    const withBackups = <A>(
      f: (b: Backups["Type"]) => Effect.Effect<A, Errors.StorageError>
    ): Effect.Effect<A, Errors.StorageError | Errors.Conflict> =>
      Option.match(backups, { onNone: () => Effect.fail(unconfigured()), onSome: f })
    return handlers
      .handle("restart", ({ payload }) =>
        withPrincipal((actor, tenant) =>
          // this request is itself in flight: the drain does not wait for it
          restarts.restart(actor, { reason: payload.reason, tenant, exclude: 1 })
        ))
      .handle("doctor", () => withDoctor((d) => d.run))
      .handle("doctorFix", () => withPrincipal((actor, tenant) => withDoctor((d) => d.fix(actor, tenant))))
      .handle("backup", ({ payload }) => withBackups((b) => b.create({ gzip: payload.gzip })))
      .handle("backups", () => withBackups((b) => Effect.map(b.list, (list) => ({ backups: list }))))
  }))
