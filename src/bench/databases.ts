/** The benchmark's databases: one per system (`htdag_bench_<system>`), dropped and recreated each run. */
import pg from "pg";
import { HtdagError } from "../errors.js";
import { excludeFromCounts } from "./counters.js";

/** The server the benchmark uses when none is given. */
export const DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/** Thrown when the benchmark server cannot be reached or a database cannot be created. */
export class BenchDatabaseError extends HtdagError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BENCH_DATABASE", message, options);
  }
}

/** `<prefix>_<system>` (`htdag_bench_pg_boss`), reduced to a lower-case identifier of at most 63 characters. */
export function benchDatabaseName(system: string, prefix = "htdag_bench"): string {
  return `${prefix}_${system}`
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .slice(0, 63);
}

/** The URL of `database` on the server of `adminUrl`. */
export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A connection to the server's admin database, left out of the round-trip counts. */
export async function connectAdmin(adminUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: adminUrl });
  excludeFromCounts(client);
  try {
    await client.connect();
  } catch (error) {
    throw new BenchDatabaseError(
      `cannot connect to the benchmark server ${redact(adminUrl)}: ${(error as Error).message}. ` +
        "Start PostgreSQL or pass its URL (--database, or BENCH_DATABASE_URL for npm run bench).",
      { cause: error },
    );
  }
  return client;
}

/** Drops (if present) and creates `database`; returns its URL. */
export async function recreateDatabase(admin: pg.Client, adminUrl: string, database: string): Promise<string> {
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${database}`);
  return databaseUrl(adminUrl, database);
}

/** Drops `database`, even with connections still open. */
export async function dropDatabase(admin: pg.Client, database: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
}

/** The URL with any password replaced by `***`. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      parsed.password = "***";
    }
    return parsed.toString();
  } catch {
    return "(unparsable URL)";
  }
}
