/** The migrator refuses what it cannot follow: an applied file edited since, a database of an earlier layout. */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { MigrationMismatchError } from "../../src/errors.js";
import type { Db } from "../../src/store/db.js";
import { migrate, migrationStatus } from "../../src/store/migrator.js";
import { openPgDb } from "../../src/store/pg-driver.js";
import { openPgliteDb } from "../../src/store/pglite-driver.js";
import { createEmptyDatabase } from "../helpers/postgres.js";
import type { StoreKind } from "../helpers/stores.js";

/** A fresh, empty database of `kind`, closed (and dropped) after `fn`. */
async function withEmptyDb(kind: StoreKind, fn: (db: Db) => Promise<void>): Promise<void> {
  if (kind === "pglite") {
    const db = await openPgliteDb("memory://");
    try {
      return await fn(db);
    } finally {
      await db.close();
    }
  }
  const database = await createEmptyDatabase();
  const db = await openPgDb(database.url);
  try {
    await fn(db);
  } finally {
    await db.close();
    await database.drop();
  }
}

describe.each(["postgres", "pglite"] as const)("migrations on %s", (kind) => {
  it("refuses a migration edited after it was applied, naming the file, and applies nothing", async () => {
    const dir = await mkdtemp(`${tmpdir()}/htdag-mig-`);
    await writeFile(`${dir}/0001_one.sql`, "CREATE TABLE :HTDAG_SCHEMA.a (x int);");
    await withEmptyDb(kind, async (db) => {
      expect(await migrate(db, "htdag", dir)).toEqual([1]);
      await writeFile(`${dir}/0001_one.sql`, "CREATE TABLE :HTDAG_SCHEMA.a (x bigint);");
      await writeFile(`${dir}/0002_two.sql`, "CREATE TABLE :HTDAG_SCHEMA.b (x int);");
      const error = await migrate(db, "htdag", dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationMismatchError);
      expect((error as Error).message).toMatch(
        /migration 0001_one\.sql was edited after it was applied to .*; nothing was changed\. .*new one/,
      );
      await expect(migrationStatus(db, "htdag", dir)).rejects.toThrow(MigrationMismatchError);
      const { rows } = await db.query<{ b: string | null }>(`SELECT to_regclass('htdag.b')::text AS b`);
      expect(rows[0]?.b).toBeNull();
    });
  });

  it("refuses a store of the layout before the baseline, saying how to reset it", async () => {
    await withEmptyDb(kind, async (db) => {
      // What 0001_init … 0005 of the first version left: a migrations table without checksums.
      await db.exec(`CREATE SCHEMA htdag;
        CREATE TABLE htdag.migrations (version integer PRIMARY KEY, name text NOT NULL,
                                       applied_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO htdag.migrations (version, name) VALUES (1, 'init'), (2, 'executor');`);
      const error = await migrate(db, "htdag").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationMismatchError);
      expect((error as MigrationMismatchError).code).toBe("MIGRATION_MISMATCH");
      const reset = kind === "pglite" ? /delete its folder .*\.\/\.htdag by default/ : /DROP SCHEMA "htdag" CASCADE/;
      expect((error as Error).message).toMatch(/an earlier, unreleased layout/);
      expect((error as Error).message).toMatch(reset);
    });
  });

  it("refuses a migration recorded under a name this htdag does not ship", async () => {
    const dir = await mkdtemp(`${tmpdir()}/htdag-mig-`);
    await writeFile(`${dir}/0001_one.sql`, "CREATE TABLE :HTDAG_SCHEMA.a (x int);");
    await withEmptyDb(kind, async (db) => {
      await db.exec(`CREATE SCHEMA htdag;
        CREATE TABLE htdag.migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                                       applied_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO htdag.migrations (version, name, checksum) VALUES (1, 'other', 'x');`);
      await expect(migrate(db, "htdag", dir)).rejects.toThrow(
        /has migration 0001_other applied, which this htdag does not ship \(its 0001_one\.sql takes that number\)/,
      );
    });
  });
});
