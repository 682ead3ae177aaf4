/** The `airlock` command tree. */
import { Command } from "@effect/cli"
import * as Backup from "./commands/Backup.js"
import * as Guard from "./commands/Guard.js"
import * as Ops from "./commands/Ops.js"
import * as Reports from "./commands/Reports.js"
import * as Scheduling from "./commands/Scheduling.js"
import * as Setup from "./commands/Setup.js"
import * as Tenants from "./commands/Tenants.js"
import * as Tokens from "./commands/Tokens.js"
import * as R from "./Runtime.js"

export const commands = Command.make("airlock").pipe(
  Command.withDescription(R.help(
    "Airlock's operator commands, over the same store as the reference server (AIRLOCK_DB, AIRLOCK_DATABASE_URL). " +
      "Exit codes: 0 ok, 1 check failed, 2 usage error, 3 storage unreachable, 4 refused, 5 not found, 70 internal.",
    "airlock doctor --fix"
  )),
  Command.withSubcommands([
    Setup.doctor,
    Setup.migrate,
    Setup.setupSmoke,
    Tenants.onboard,
    Tenants.tenant,
    Reports.shadowReport,
    Reports.auditor,
    Ops.baseline,
    Ops.digest,
    Ops.executions,
    Scheduling.schedules,
    Scheduling.maintenance,
    Guard.memory,
    Guard.unlockCode,
    Guard.unlock,
    Backup.backup,
    Tokens.token
  ])
)
