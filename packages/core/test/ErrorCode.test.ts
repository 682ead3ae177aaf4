import { ErrorCode, Errors } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"

describe("ErrorCode", () => {
  it("every row's status is its class's status; every class has rows", () => {
    for (const [code, row] of Object.entries(ErrorCode.ErrorCodes)) {
      expect([code, row.status]).toStrictEqual([code, Errors.ErrorStatus[row.tag]])
    }
    for (const tag of Object.keys(Errors.ErrorStatus) as Array<ErrorCode.ErrorTag>) {
      expect([tag, ErrorCode.codesOf(tag).length > 0]).toStrictEqual([tag, true])
    }
  })
  it("a class with a fixed code has exactly that one row, the code its instances carry", () => {
    for (const cls of Errors.AirlockErrors) {
      const tag = cls._tag as ErrorCode.ErrorTag
      if (ErrorCode.VaryingTags.includes(tag)) continue
      const extra = tag === "RateLimited"
        ? { retry_after_seconds: 1 }
        : tag === "ApprovalRequired"
        ? { subject: "s", plan_hash: "h" }
        : {}
      const instance = new (cls as any)({ message: "m", ...extra }) as Errors.AirlockError
      expect(ErrorCode.codesOf(tag)).toStrictEqual([instance.code])
      expect(ErrorCode.fixedCodes[tag]).toBe(instance.code)
      expect(ErrorCode.ErrorCodes[instance.code as keyof typeof ErrorCode.ErrorCodes].status).toBe(
        Errors.httpStatus(instance)
      )
    }
  })
  it("keeps the documented statuses of the stable codes", () => {
    const status = (code: keyof typeof ErrorCode.ErrorCodes) => ErrorCode.ErrorCodes[code].status
    expect([
      status("tenant.mismatch"),
      status("approval_required"),
      status("exec.budget.exceeded"),
      status("rate_limited"),
      status("lockdown.active")
    ])
      .toStrictEqual([403, 409, 409, 429, 403])
    expect(ErrorCode.tagOf("validation.unbalanced")).toBe("ValidationError")
    expect(ErrorCode.tagOf("no.such.code")).toBe(undefined)
  })
})
