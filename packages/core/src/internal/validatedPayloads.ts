/**
 * Payloads decoded and validated at propose in this process. Apply uses one only while the
 * stored record still carries exactly what was validated — the same tenant, kind and plan
 * hash, and an encoded payload structurally equal to a private copy of the one validated
 * (decoding is a pure function of it). Anything else (a changed row, a proposal made by
 * another process or no longer kept) is decoded again through the schema. Kept two ways:
 * - by the record proposed (a WeakMap: an entry lives as long as the record object), which
 *   is what a memory store hands back;
 * - by action id, for records read back from SQL as fresh objects: the pending ones (an entry
 *   goes when its action is applied here), at most {@link VALIDATED_CACHE_SIZE}, oldest out.
 */
import type { ActionRecord } from "../Action.js"
import { copyJson, NOT_JSON, sameJson } from "./json.js"

/** How many pending proposals' validated payloads a pipeline keeps by id for their apply. */
export const VALIDATED_CACHE_SIZE = 1024

/** A payload as validated at propose: what it was checked against, a private copy, the decoded value. */
interface Validated {
  readonly tenant: string
  readonly kind: string
  readonly hash: string
  readonly snapshot: unknown
  readonly payload: unknown
}

/** One pipeline's cache of validated payloads. */
export interface ValidatedPayloads {
  /** Keeps the payload validated for `action` (skipped when its encoded form is not plain JSON). */
  readonly remember: (action: ActionRecord, encoded: unknown, payload: unknown) => void
  /** The decoded payload when `action` still carries exactly what was validated. */
  readonly lookup: (action: ActionRecord) => { readonly payload: unknown } | undefined
  /** Drops the by-id entry (an applied action's payload is not decoded again). */
  readonly forget: (action: ActionRecord) => void
}

/** A fresh, empty cache. */
export const make = (): ValidatedPayloads => {
  const byRecord = new WeakMap<ActionRecord, Validated>()
  const byId = new Map<string, Validated>()
  return {
    remember: (action, encoded, payload) => {
      const snapshot = copyJson(encoded)
      if (snapshot === NOT_JSON) return
      const v: Validated = { tenant: action.tenant_id, kind: action.kind, hash: action.payload_hash, snapshot, payload }
      byRecord.set(action, v)
      if (byId.size >= VALIDATED_CACHE_SIZE) byId.delete(byId.keys().next().value!)
      byId.set(action.id, v)
    },
    lookup: (action) => {
      const v = byRecord.get(action) ?? byId.get(action.id)
      return v !== undefined && v.tenant === action.tenant_id && v.kind === action.kind &&
          v.hash === action.payload_hash &&
          sameJson(action.payload, v.snapshot)
        ? v
        : undefined
    },
    forget: (action) => void byId.delete(action.id)
  }
}
