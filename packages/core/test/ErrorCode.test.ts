import { ErrorCode, Errors } from "@airlock/core"
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"

const packagesDir = join(__dirname, "..", "..")

/** Every `.ts` file under a directory. */
const sources = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []
  )

/**
 * The literal codes the source raises: `code: "…"` in an error's fields, and the first argument
 * of the code-first helpers packages use (`invalid("…", …)`, `codedMessage("…", …)`).
 */
const raisedCodes = (): ReadonlyArray<readonly [code: string, file: string]> =>
  readdirSync(packagesDir).flatMap((pkg) => {
    const src = join(packagesDir, pkg, "src")
    let files: ReadonlyArray<string> = []
    try {
      files = sources(src)
    } catch {
      return []
    }
    return files.flatMap((file) => {
      const text = readFileSync(file, "utf8")
      const found = [
        ...text.matchAll(/\bcode: "([a-z_][a-z0-9_.]*)"/g),
        ...text.matchAll(/\b(?:invalid|codedMessage)\("([a-z_][a-z0-9_.]*)"/g)
      ]
      return found.map((m) => [m[1]!, file.slice(packagesDir.length + 1)] as const)
    })
  })

describe("ErrorCode", () => {
  it("every code the packages' source raises has its row in the catalogue", () => {
    const raised = raisedCodes()
    // the scan itself must find the codes it is meant to find
    expect(raised.some(([code]) => code === "rbac.forbidden")).toBe(true)
    expect(raised.some(([code]) => code === "memory.review.resolved")).toBe(true)
    const missing = raised.filter(([code]) => !(code in ErrorCode.ErrorCodes))
    expect(missing).toStrictEqual([])
  })
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
