/** Real Postgres for tests: a migrated template database, cloned once per test file. */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The server tests use; override with HTDAG_TEST_DATABASE_URL. */
export const ADMIN_URL = process.env.HTDAG_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEMPLATE_DB = "htdag_test_template";

/** The URL of database `name` on the test server. */
export function urlFor(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `fn` with a client on the admin database. */
export async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh, empty database (not migrated). */
export async function createEmptyDatabase(prefix = "htdag_t"): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  return { url: urlFor(name), drop: () => dropDatabase(name) };
}

/** A fresh database cloned from the migrated template. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `htdag_t_${randomBytes(6).toString("hex")}`;
  await withAdmin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`));
  return { url: urlFor(name), drop: () => dropDatabase(name) };
}

async function dropDatabase(name: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}
