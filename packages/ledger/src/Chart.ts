/**
 * The chart of accounts: what can be posted to. Each account has a code, a name, one of the
 * five types, a normal balance (the side its balance normally sits on; contra accounts flip
 * it), a currency, an active flag and an optional parent (`Parent:Sub` names on export).
 * Accounts can be renamed or deactivated; their type, normal balance and currency never change,
 * so posted history keeps its meaning.
 */
import { type Actor, Audit, Errors, type Ids, Rbac, UnitOfWork } from "@airlock/core"
import { Clock, Context, Effect, Either, Option, Schema } from "effect"
import { makeAccess, notFound } from "./internal/access.js"
import { LedgerConfig } from "./LedgerConfig.js"
import { CurrencyCode } from "./Money.js"
import { type PresetAccount, PresetName, presets } from "./Presets.js"

/** The five account types. */
export const AccountType = Schema.Literal("Asset", "Liability", "Equity", "Income", "Expense")
/** Type of {@link AccountType}. */
export type AccountType = typeof AccountType.Type

/** The side an account's balance normally sits on. */
export const NormalBalance = Schema.Literal("debit", "credit")
/** Type of {@link NormalBalance}. */
export type NormalBalance = typeof NormalBalance.Type

/** Debit for assets and expenses, credit for liabilities, equity and income. */
export const defaultNormalBalance = (type: AccountType): NormalBalance =>
  type === "Asset" || type === "Expense" ? "debit" : "credit"

/** An account code: 1–20 letters, digits, `.`, `_` or `-`. */
export const AccountCode = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,19}$/),
  // the pattern already allows at most 20; the length states it in the OpenAPI document
  Schema.maxLength(20),
  Schema.annotations({ identifier: "AccountCode", description: "1–20 letters, digits, . _ or -" })
)

/** An account name: 1–100 characters without `:` (the export's parent separator). */
export const AccountName = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(100),
  Schema.filter((s) => (!s.includes(":") && s.trim() === s) || "no ':' and no surrounding spaces"),
  Schema.annotations({ identifier: "AccountName" })
)

/** An account of one tenant's chart. */
export class Account extends Schema.Class<Account>("Account")({
  tenant_id: Schema.String,
  code: Schema.String,
  name: Schema.String,
  type: AccountType,
  normal_balance: NormalBalance,
  parent_code: Schema.NullOr(Schema.String),
  currency: Schema.String,
  active: Schema.Boolean,
  description: Schema.NullOr(Schema.String),
  created_at: Schema.Number,
  updated_at: Schema.Number
}) {}

/** Input to create an account (JSON-friendly; the HTTP adapter decodes bodies with it). */
export const NewAccount = Schema.Struct({
  code: AccountCode,
  name: AccountName,
  type: AccountType,
  normal_balance: Schema.optional(NormalBalance),
  parent_code: Schema.optional(Schema.NullOr(AccountCode)),
  currency: Schema.optional(CurrencyCode),
  description: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(500)))),
  active: Schema.optional(Schema.Boolean)
})
/** Type of {@link NewAccount}. */
export type NewAccount = typeof NewAccount.Type

/** A change to an account's mutable fields. */
export const AccountPatch = Schema.Struct({
  name: Schema.optional(AccountName),
  parent_code: Schema.optional(Schema.NullOr(AccountCode)),
  description: Schema.optional(Schema.NullOr(Schema.String.pipe(Schema.maxLength(500)))),
  active: Schema.optional(Schema.Boolean)
})
/** Type of {@link AccountPatch}. */
export type AccountPatch = typeof AccountPatch.Type

/** Storage port for accounts. */
export class AccountStore extends Context.Tag("@airlock/ledger/AccountStore")<
  AccountStore,
  {
    /** Inserts; `conflict.duplicate` (core's `CorePorts.duplicateError("account", code)`) when the code is taken in the tenant. */
    readonly insert: (account: Account) => Effect.Effect<void, Errors.Conflict | Errors.StorageError>
    readonly get: (tenant: Ids.TenantId, code: string) => Effect.Effect<Option.Option<Account>, Errors.StorageError>
    /** The accounts among `codes` that exist, by code. */
    readonly getMany: (
      tenant: Ids.TenantId,
      codes: ReadonlyArray<string>
    ) => Effect.Effect<ReadonlyMap<string, Account>, Errors.StorageError>
    /** Every account of the tenant ordered by code. */
    readonly list: (tenant: Ids.TenantId) => Effect.Effect<ReadonlyArray<Account>, Errors.StorageError>
    /** Replaces name, parent, description, active flag and `updated_at`; `not_found` when missing. */
    readonly update: (account: Account) => Effect.Effect<void, Errors.NotFound | Errors.StorageError>
    /**
     * Serialises changes to the tenant's chart until the surrounding transaction ends (a row
     * lock on PostgreSQL): the parent checks read the whole chart, and two moves checked at
     * once could each pass and together make a cycle.
     */
    readonly lockChart: (tenant: Ids.TenantId) => Effect.Effect<void, Errors.StorageError>
  }
>() {}

/** `Parent:Sub` names of every account (QuickBooks' notation for sub-accounts). */
export const fullNames = (accounts: ReadonlyArray<Account>): ReadonlyMap<string, string> => {
  const byCode = new Map(accounts.map((a) => [a.code, a]))
  const out = new Map<string, string>()
  const nameOf = (a: Account, depth: number): string => {
    const cached = out.get(a.code)
    if (cached !== undefined) return cached
    const parent = a.parent_code === null ? undefined : byCode.get(a.parent_code)
    const name = parent && depth < 10 ? `${nameOf(parent, depth + 1)}:${a.name}` : a.name
    out.set(a.code, name)
    return name
  }
  for (const a of accounts) nameOf(a, 0)
  return out
}

/** Most levels of parents an account may have. */
export const MAX_DEPTH = 5

const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new Errors.ValidationError(details ? { code, message, details } : { code, message })

/**
 * Checks a parent link: the parent exists, has the same type and currency, and the chain stays
 * acyclic and at most {@link MAX_DEPTH} deep — counting the `below` levels of sub-accounts the
 * account already has when it is moved. Pure.
 */
export const checkParent = (
  account: Pick<Account, "code" | "type" | "currency">,
  parentCode: string | null,
  lookup: (code: string) => Account | undefined,
  below = 0
): Either.Either<void, Errors.ValidationError> => {
  if (parentCode === null) return Either.void
  let depth = 0
  let current = parentCode
  while (true) {
    if (current === account.code)
      return Either.left(
        invalid("validation.account_parent", "An account cannot be its own ancestor", { parent_code: parentCode })
      )
    const p = lookup(current)
    if (!p)
      return Either.left(
        invalid("validation.account_parent", `Parent account ${current} does not exist`, { parent_code: current })
      )
    if (depth === 0 && (p.type !== account.type || p.currency !== account.currency)) {
      return Either.left(
        invalid("validation.account_parent", "A parent account must have the same type and currency", {
          parent_code: current,
          parent_type: p.type
        })
      )
    }
    depth++
    if (depth + below > MAX_DEPTH) {
      return Either.left(
        invalid(
          "validation.account_parent",
          `Accounts nest at most ${MAX_DEPTH} levels`,
          below > 0 ? { parent_code: parentCode, levels_below: below } : { parent_code: parentCode }
        )
      )
    }
    if (p.parent_code === null) return Either.void
    current = p.parent_code
  }
}

/** How many levels of sub-accounts `code` has in `accounts` (0 for a leaf). Pure. */
export const levelsBelow = (code: string, accounts: Iterable<Account>): number => {
  const children = new Map<string, Array<string>>()
  for (const a of accounts) {
    if (a.parent_code === null) continue
    const list = children.get(a.parent_code)
    if (list) list.push(a.code)
    else children.set(a.parent_code, [a.code])
  }
  let levels = 0
  let frontier = children.get(code) ?? []
  const seen = new Set<string>([code])
  while (frontier.length > 0) {
    levels++
    const next: Array<string> = []
    for (const c of frontier) {
      if (seen.has(c)) continue
      seen.add(c)
      next.push(...(children.get(c) ?? []))
    }
    frontier = next
  }
  return levels
}

// unknown fields are refused, as the HTTP adapter's strict bodies do: a misspelt `parent` must
// not create a top-level account, nor a patch of `type` report success without changing it
const decodeNew = Schema.decodeUnknown(NewAccount, { onExcessProperty: "error" })
/** A patch as read: the mutable fields, plus the fixed ones (accepted only when unchanged). */
const PatchInput = Schema.Struct({
  ...AccountPatch.fields,
  code: Schema.optional(Schema.String),
  type: Schema.optional(Schema.String),
  normal_balance: Schema.optional(Schema.String),
  currency: Schema.optional(Schema.String)
})
const decodePatch = Schema.decodeUnknown(PatchInput, { onExcessProperty: "error" })
const FIXED = ["code", "type", "normal_balance", "currency"] as const
const schemaError = (e: { readonly message: string }) => invalid("validation.schema", e.message)

/** The operations of {@link ChartOfAccounts}. */
export interface ChartOfAccountsShape {
  readonly get: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    code: string
  ) => Effect.Effect<Account, Errors.Forbidden | Errors.NotFound | Errors.StorageError>
  readonly list: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    options?: { readonly include_inactive?: boolean }
  ) => Effect.Effect<ReadonlyArray<Account>, Errors.Forbidden | Errors.StorageError>
  readonly create: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    input: unknown
  ) => Effect.Effect<
    Account,
    Errors.Forbidden | Errors.ValidationError | Errors.NotFound | Errors.Conflict | Errors.StorageError
  >
  readonly update: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    code: string,
    patch: unknown
  ) => Effect.Effect<
    Account,
    Errors.Forbidden | Errors.ValidationError | Errors.NotFound | Errors.Conflict | Errors.StorageError
  >
  readonly importPreset: (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    preset: PresetName,
    options?: { readonly currency?: string }
  ) => Effect.Effect<
    { readonly new: number; readonly skipped: number },
    Errors.Forbidden | Errors.ValidationError | Errors.NotFound | Errors.Conflict | Errors.StorageError
  >
}

/** Builds the ChartOfAccounts service over its dependencies. */
export const make: Effect.Effect<
  ChartOfAccountsShape,
  never,
  AccountStore | Audit.AuditLog | UnitOfWork.UnitOfWork | LedgerConfig | Rbac.Rbac
> = Effect.gen(function*() {
  const store = yield* AccountStore
  const audit = yield* Audit.AuditLog
  const uow = yield* UnitOfWork.UnitOfWork
  const config = yield* LedgerConfig
  const access = makeAccess(yield* Rbac.Rbac)

  const get = (tenant: Ids.TenantId, actor: Actor.Actor, code: string) =>
    Effect.zipRight(
      access(tenant, actor, "ledger.read"),
      Effect.flatMap(
        store.get(tenant, code),
        Option.match({ onNone: () => Effect.fail(notFound("account", code)), onSome: Effect.succeed })
      )
    )

  /** Accounts ordered by code; inactive ones only when asked. */
  const list = (tenant: Ids.TenantId, actor: Actor.Actor, options: { readonly include_inactive?: boolean } = {}) =>
    Effect.zipRight(
      access(tenant, actor, "ledger.read"),
      Effect.map(store.list(tenant), (all) => (options.include_inactive ? all : all.filter((a) => a.active)))
    )

  const build = (tenant: Ids.TenantId, input: NewAccount, now: number) => {
    const currency = input.currency ?? config.defaultCurrency
    // own keys only: `in` also finds "toString", "constructor", … on the table's prototype
    if (!Object.hasOwn(config.currencyExponents, currency)) {
      return Either.left(invalid("validation.currency", `Unknown currency ${currency}`, { currency }))
    }
    return Either.right(
      new Account({
        tenant_id: tenant,
        code: input.code,
        name: input.name,
        type: input.type,
        normal_balance: input.normal_balance ?? defaultNormalBalance(input.type),
        parent_code: input.parent_code ?? null,
        currency,
        active: input.active ?? true,
        description: input.description ?? null,
        created_at: now,
        updated_at: now
      }, true)
    )
  }

  const insertChecked = (tenant: Ids.TenantId, account: Account) =>
    Effect.gen(function*() {
      if (account.parent_code !== null) {
        const parents = yield* store.list(tenant)
        const byCode = new Map(parents.map((a) => [a.code, a]))
        yield* checkParent(account, account.parent_code, (c) => byCode.get(c))
      }
      yield* store.insert(account)
    })

  /** Creates an account (decoded from JSON-shaped input). Audited. */
  const create = (tenant: Ids.TenantId, actor: Actor.Actor, input: unknown) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.write")
      const decoded = yield* Effect.mapError(decodeNew(input), schemaError)
      const account = yield* build(tenant, decoded, yield* Clock.currentTimeMillis)
      return yield* uow.transaction(
        Effect.gen(function*() {
          yield* store.lockChart(tenant)
          yield* insertChecked(tenant, account)
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: "ledger.account.created",
            subject: `account:${account.code}`,
            data: {
              code: account.code,
              name: account.name,
              type: account.type,
              currency: account.currency,
              parent_code: account.parent_code
            }
          })
          return account
        })
      )
    })

  /** Renames, re-parents, describes or (de)activates an account. Audited with before and after. */
  const update = (tenant: Ids.TenantId, actor: Actor.Actor, code: string, patch: unknown) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.write")
      const p = yield* Effect.mapError(decodePatch(patch), schemaError)
      return yield* uow.transaction(
        Effect.gen(function*() {
          yield* store.lockChart(tenant)
          const before = yield* Effect.flatMap(
            store.get(tenant, code),
            Option.match({ onNone: () => Effect.fail(notFound("account", code)), onSome: Effect.succeed })
          )
          const changed = FIXED.filter((k) => p[k] !== undefined && p[k] !== before[k])
          if (changed.length > 0) {
            return yield* invalid(
              "validation.account_immutable",
              `An account's code, type, normal balance and currency never change once created (posted history keeps its meaning): ${
                changed.join(", ")
              }`,
              { fields: changed }
            )
          }
          if (
            p.name === undefined && p.parent_code === undefined && p.description === undefined && p.active === undefined
          ) {
            return yield* invalid(
              "validation.empty_update",
              "Give at least one of name, parent_code, description, active"
            )
          }
          const after = new Account({
            ...before,
            name: p.name ?? before.name,
            parent_code: p.parent_code === undefined ? before.parent_code : p.parent_code,
            description: p.description === undefined ? before.description : p.description,
            active: p.active ?? before.active,
            updated_at: yield* Clock.currentTimeMillis
          }, true)
          if (after.parent_code !== before.parent_code) {
            const all = new Map((yield* store.list(tenant)).map((a) => [a.code, a]))
            // the account moves with its sub-accounts: the deepest of them must stay within MAX_DEPTH
            yield* checkParent(after, after.parent_code, (c) => all.get(c), levelsBelow(code, all.values()))
          }
          yield* store.update(after)
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: "ledger.account.updated",
            subject: `account:${code}`,
            data: {
              before: {
                name: before.name,
                parent_code: before.parent_code,
                active: before.active,
                description: before.description
              },
              after: {
                name: after.name,
                parent_code: after.parent_code,
                active: after.active,
                description: after.description
              }
            }
          })
          return after
        })
      )
    })

  /**
   * Creates the accounts of a preset that the tenant does not have yet (by code), in one
   * transaction; returns how many were created and skipped. Running it twice is harmless.
   */
  const importPreset = (
    tenant: Ids.TenantId,
    actor: Actor.Actor,
    preset: PresetName,
    options: { readonly currency?: string } = {}
  ) =>
    Effect.gen(function*() {
      yield* access(tenant, actor, "ledger.write")
      const name = yield* Effect.mapError(Schema.decodeUnknown(PresetName)(preset), schemaError)
      const now = yield* Clock.currentTimeMillis
      const rows: ReadonlyArray<PresetAccount> = presets[name]
      return yield* uow.transaction(
        Effect.gen(function*() {
          yield* store.lockChart(tenant)
          const existing = new Set((yield* store.list(tenant)).map((a) => a.code))
          let created = 0
          for (const row of rows) {
            if (existing.has(row.code)) continue
            const account = yield* build(tenant, {
              code: row.code,
              name: row.name,
              type: row.type,
              normal_balance: row.normal_balance,
              parent_code: row.parent_code ?? null,
              description: row.description ?? null,
              currency: options.currency
            }, now)
            yield* insertChecked(tenant, account)
            created++
          }
          const result = { new: created, skipped: rows.length - created }
          yield* audit.append({
            tenant_id: tenant,
            actor_id: actor.id,
            action: "ledger.chart.preset_imported",
            subject: `preset:${name}`,
            data: result
          })
          return result
        })
      )
    })

  return { get, list, create, update, importPreset } as const
})

/** Manages a tenant's chart of accounts (RBAC: `ledger.read` to read, `ledger.write` to change). */
export class ChartOfAccounts
  extends Effect.Service<ChartOfAccounts>()("@airlock/ledger/ChartOfAccounts", { effect: make })
{}
