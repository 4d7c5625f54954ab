/**
 * Every stored row of every htdag table as text, in a stable order: what the fuzz tests compare
 * before and after hostile input, and what the secrets test searches.
 */
import type { Orchestrator } from "../../src/index.js";

/** Tables whose rows are a process's live registrations, not stored data (they come and go with subscriptions and workers). */
export const LIVE_TABLES = ["listeners", "workers"];

/** `{ table: [row as text, …] }` for every table of `schema` (rows sorted), except `skip`. */
export async function dumpStore(
  orch: Orchestrator,
  options: { schema?: string; skip?: readonly string[] } = {},
): Promise<Record<string, string[]>> {
  const schema = options.schema ?? orch.options.schema;
  const { rows: tables } = await orch.db.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
    [schema],
  );
  const dump: Record<string, string[]> = {};
  for (const { name } of tables) {
    if (options.skip?.includes(name)) {
      continue;
    }
    const { rows } = await orch.db.query<{ row: string }>(`SELECT t::text AS row FROM "${schema}"."${name}" t`);
    dump[name] = rows.map((r) => r.row).sort();
  }
  return dump;
}
