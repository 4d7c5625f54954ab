/** Real Postgres for tests: a migrated template database, cloned once per test file. */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The server tests use; override with HTDAG_TEST_DATABASE_URL. */
export const ADMIN_URL = process.env.HTDAG_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
/** The migrated template of this test run (set by global-setup.ts). */
export function templateDb(): string {
  const name = process.env.HTDAG_TEST_TEMPLATE;
  if (!name) {
    throw new Error(
      "HTDAG_TEST_TEMPLATE is not set: run the tests through vitest (global-setup.ts creates the template)",
    );
  }
  return name;
}

/** A database name unique to this test run, so the run's teardown can drop what a crashed file left. */
function databaseName(): string {
  return `htdag_t_${process.env.HTDAG_TEST_RUN ?? "adhoc"}_${randomBytes(6).toString("hex")}`;
}

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
export async function createEmptyDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = databaseName();
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  return { url: urlFor(name), drop: () => dropDatabase(name) };
}

/** A fresh database cloned from the migrated template. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = databaseName();
  await withAdmin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${templateDb()}`));
  return { url: urlFor(name), drop: () => dropDatabase(name) };
}

async function dropDatabase(name: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}
