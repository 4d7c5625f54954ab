/** Store options (database, schema) of the commands that take no other settings: migrate, events, worker, resume. */
import type { Command } from "commander";
import { loadConfigFile } from "./settings.js";

/** The database and schema from flags, then the environment (synchronous; no config file). */
export function storeOptions(program: Command): { database?: string; schema?: string } {
  const flags = program.opts<{ database?: string; schema?: string }>();
  const database = flags.database ?? process.env.HTDAG_DATABASE_URL ?? process.env.DATABASE_URL;
  const schema = flags.schema ?? process.env.HTDAG_SCHEMA;
  return { ...(database ? { database } : {}), ...(schema ? { schema } : {}) };
}

/** The database and schema with the same precedence as every other setting: `htdag.config.*` < env < flags. */
export async function resolveStoreOptions(
  program: Command,
  cwd = process.cwd(),
  env = process.env,
): Promise<{ database?: string; schema?: string }> {
  const file = await loadConfigFile(cwd);
  const flags = program.opts<{ database?: string; schema?: string }>();
  const database = flags.database || env.HTDAG_DATABASE_URL || env.DATABASE_URL || file.database;
  const schema = flags.schema || env.HTDAG_SCHEMA || file.schema;
  return { ...(database ? { database } : {}), ...(schema ? { schema } : {}) };
}
