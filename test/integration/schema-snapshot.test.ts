/**
 * The schema the migrations build, compared with the committed snapshot (migrations/snapshot/schema.sql):
 * every change to a table or an SQL function shows as a diff of that file. After changing the SQL on
 * purpose, refresh it with `npx vitest run test/integration/schema-snapshot.test.ts -u`.
 */
import { describe, expect, it } from "vitest";
import { openPgDb } from "../../src/store/pg-driver.js";
import { schemaSnapshot } from "../../src/store/schema-snapshot.js";
import { createTestDatabase } from "../helpers/postgres.js";

describe("schema snapshot", () => {
  it("the migrated schema (tables, constraints, indexes, functions) equals the committed snapshot", async () => {
    const database = await createTestDatabase();
    const db = await openPgDb(database.url);
    try {
      await expect(await schemaSnapshot(db, "htdag")).toMatchFileSnapshot("../../migrations/snapshot/schema.sql");
    } finally {
      await db.close();
      await database.drop();
    }
  });
});
