/**
 * Schema issues that carry a stable error code. A schema refinement in an `Api.ts` fails with a
 * message made by {@link codedMessage}; when the request is refused, the error mapper reads the
 * code back with {@link splitCoded}, so clients get `validation.amount_precision` rather than a
 * generic `validation.schema`.
 */

const CODED = /^\[([a-z][a-z0-9_.]*)\] ([\s\S]*)$/

/** A schema issue message that carries `code`. */
export const codedMessage = (code: string, message: string): string => `[${code}] ${message}`

/** Splits a coded message into its code and text (no code: `undefined`). */
export const splitCoded = (message: string): { readonly code: string | undefined; readonly message: string } => {
  const m = CODED.exec(message)
  return m === null ? { code: undefined, message } : { code: m[1], message: m[2]! }
}
