/** Builds the migrated template database once per test run, and drops leftovers of earlier runs. */
import { openPgDb } from "../../src/store/pg-driver.js";
import { migrate } from "../../src/store/migrator.js";
import { TEMPLATE_DB, urlFor, withAdmin } from "./postgres.js";

export default async function setup(): Promise<void> {
  await withAdmin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname LIKE 'htdag\\_t\\_%' OR datname = $1`,
      [TEMPLATE_DB],
    );
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  });
  const db = await openPgDb(urlFor(TEMPLATE_DB));
  try {
    await migrate(db, "htdag");
  } finally {
    await db.close();
  }
}
