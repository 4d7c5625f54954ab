/** `htdag migrate [--status]`: applies pending migrations, or lists them. */
import type { Command } from "commander";
import { createOrchestrator } from "../../create-orchestrator.js";
import { migrate, migrationStatus } from "../../store/migrator.js";
import { resolveStoreOptions } from "../config.js";
import type { CliIo } from "../io.js";

export function registerMigrate(program: Command, io: CliIo): void {
  program
    .command("migrate")
    .description("apply pending migrations to the database (safe to run from several processes at once)")
    .option("--status", "list migrations and whether each is applied; change nothing")
    .action(async (flags: { status?: boolean }) => {
      const orch = await createOrchestrator({ ...(await resolveStoreOptions(program)), migrate: false });
      try {
        const schema = orch.options.schema;
        if (flags.status) {
          io.out(`database: ${orch.db.target} (schema ${schema})`);
          for (const m of await migrationStatus(orch.db, schema)) {
            const state = m.appliedAt ? `applied ${m.appliedAt.toISOString()}` : "pending";
            io.out(`${String(m.version).padStart(4, "0")}_${m.name}  ${state}`);
          }
          return;
        }
        const applied = await migrate(orch.db, schema);
        io.out(
          applied.length === 0
            ? `database ${orch.db.target} is up to date`
            : `applied ${applied.length} migration(s) to ${orch.db.target}: ${applied.join(", ")}`,
        );
      } finally {
        await orch.close();
      }
    });
}
