import { Action, Ids, Trusted } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { Equal, Hash, Schema } from "effect"

const props = {
  id: Ids.ActionId.make("act_1"),
  tenant_id: Ids.TenantId.make("t"),
  kind: "k",
  subject: "s",
  payload: { a: [1, "x"] },
  payload_hash: "h",
  status: "proposed" as const,
  review_reasons: ["r"],
  idempotency_key: null,
  proposed_by: "p",
  proposed_at: 1,
  closed_by: null,
  closed_at: null,
  close_reason: null,
  result: null,
  version: 1
}

describe("Trusted.make", () => {
  it("makes the object the schema constructor makes: class, fields, equality, hash, encoding", () => {
    // what it replaces: the constructor with validation off (same field references)
    const viaConstructor = new Action.ActionRecord(props, true)
    const trusted = Trusted.make(Action.ActionRecord, props)
    expect(trusted).toBeInstanceOf(Action.ActionRecord)
    expect(Object.keys(trusted).sort()).toStrictEqual(Object.keys(viaConstructor).sort())
    expect(Equal.equals(trusted, viaConstructor)).toBe(true)
    expect(Hash.hash(trusted)).toBe(Hash.hash(viaConstructor))
    expect(Schema.encodeSync(Action.ActionRecord)(trusted)).toStrictEqual(
      Schema.encodeSync(Action.ActionRecord)(viaConstructor)
    )
    expect(Schema.is(Action.ActionRecord)(trusted)).toBe(true)
  })
})
