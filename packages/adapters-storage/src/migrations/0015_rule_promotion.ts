/**
 * Rule promotions as the companion uses them (`RulePromotion`): the direction a promoted rule
 * matches gets its column, and the one-open-promotion-per-vendor index keys on the status the
 * domain names (`pending`) instead of `proposed`. The table was unused before this migration.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

export default Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`ALTER TABLE companion_rule_promotions ADD COLUMN direction TEXT`
  yield* sql`DROP INDEX companion_rule_promotions_open`
  yield* sql`CREATE UNIQUE INDEX companion_rule_promotions_pending ON companion_rule_promotions (tenant_id, vendor_key)
    WHERE status = 'pending'`
  yield* sql`CREATE INDEX companion_rule_promotions_vendor ON companion_rule_promotions (tenant_id, vendor_key, id)`
})
