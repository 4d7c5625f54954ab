/**
 * Builds the migrated template database once per test run, and drops it (and this run's test
 * databases) at the end. Names carry a per-run token, so concurrent test runs never collide.
 */
import { randomBytes } from "node:crypto";
import { openPgDb } from "../../src/store/pg-driver.js";
import { migrate } from "../../src/store/migrator.js";
import { urlFor, withAdmin } from "./postgres.js";

export default async function setup(): Promise<() => Promise<void>> {
  const token = randomBytes(4).toString("hex");
  const template = `htdag_tpl_${token}`;
  // Test workers start after global setup and inherit this environment.
  process.env.HTDAG_TEST_TEMPLATE = template;
  process.env.HTDAG_TEST_RUN = token;
  await withAdmin((c) => c.query(`CREATE DATABASE ${template}`));
  const db = await openPgDb(urlFor(template));
  try {
    await migrate(db, "htdag");
  } finally {
    await db.close();
  }
  return async () => {
    await withAdmin(async (c) => {
      const { rows } = await c.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
        [template, `htdag\\_t\\_${token}\\_%`],
      );
      for (const { datname } of rows) {
        await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      }
    });
  };
}
