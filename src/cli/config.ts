/** Store options from global flags and the environment (flags win over env). */
import type { Command } from "commander";

/** The database and schema a command should use. */
export function storeOptions(program: Command): { database?: string; schema?: string } {
  const flags = program.opts<{ database?: string; schema?: string }>();
  const database = flags.database ?? process.env.HTDAG_DATABASE_URL ?? process.env.DATABASE_URL;
  const schema = flags.schema ?? process.env.HTDAG_SCHEMA;
  return { ...(database ? { database } : {}), ...(schema ? { schema } : {}) };
}
