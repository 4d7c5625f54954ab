/** Throw-away Postgres databases for benchmarks: one per system, created fresh and dropped after. */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The server benchmarks use; override with BENCH_DATABASE_URL (or HTDAG_TEST_DATABASE_URL). */
export const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ??
  process.env.HTDAG_TEST_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/postgres";

/** A database created for one benchmark; `drop()` removes it, even with connections still open. */
export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database named `htdag_bench_<random hex>` on the benchmark server. */
export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `htdag_bench_${randomBytes(5).toString("hex")}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** The server's version string, for the report. */
export async function serverVersion(): Promise<string> {
  return withAdmin(async (c) => {
    const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return rows[0]?.v ?? "unknown";
  });
}
