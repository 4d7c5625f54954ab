/**
 * The shipped PGlite data dir: a new store starts from it and gets later migrations on top; one
 * that does not fit is not used; one that cannot be loaded is reported and the store made with initdb.
 */
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SeedLoadError } from "../../src/errors.js";
import { migrate, MIGRATIONS_DIR } from "../../src/store/migrator.js";
import { openPgliteDb } from "../../src/store/pglite-driver.js";
import { checkSeed, SEED_ARCHIVE, seedMismatch, type SeedManifest } from "../../src/store/pglite-seed.js";
import { buildPgliteSeed } from "../../src/store/pglite-seed-build.js";

let work: string;
let seedDir: string;
let manifest: SeedManifest;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "htdag-seed-"));
  // A seed of an older htdag: only the first migration. This htdag ships more.
  const oldMigrations = join(work, "migrations-v1");
  await mkdir(oldMigrations);
  const [first] = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith(".sql")).sort();
  await copyFile(join(MIGRATIONS_DIR, first as string), join(oldMigrations, first as string));
  seedDir = join(work, "seed");
  manifest = await buildPgliteSeed(seedDir, "htdag", oldMigrations);
}, 120_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("the shipped PGlite data dir", () => {
  it("starts a new store already migrated; the migrator applies only the later migrations", async () => {
    expect(manifest.migrations.map((m) => m.version)).toEqual([1]);
    const seed = await checkSeed("htdag", seedDir);
    expect(seed).toEqual({ usable: true, archive: join(seedDir, SEED_ARCHIVE) });
    const dir = join(work, "store");
    const db = await openPgliteDb(dir, { seedArchive: join(seedDir, SEED_ARCHIVE) });
    try {
      const applied = await migrate(db, "htdag");
      expect(applied[0]).toBe(2);
      expect(applied).not.toContain(1);
    } finally {
      await db.close();
    }
    // An existing store is opened as it is: the seed is for new ones only.
    const again = await openPgliteDb(dir, { seedArchive: join(seedDir, SEED_ARCHIVE) });
    try {
      expect(await migrate(again, "htdag")).toEqual([]);
    } finally {
      await again.close();
    }
  });

  it("is not used for another schema, nor when there is none", async () => {
    expect(await checkSeed("other", seedDir)).toEqual({
      usable: false,
      reason: 'it is migrated for schema "htdag", not "other"',
    });
    expect(await checkSeed("htdag", null)).toMatchObject({ usable: false, reason: /no shipped data dir/ });
  });

  it("reports a seed it cannot load as SeedLoadError and creates the store with initdb", async () => {
    const broken = join(work, "broken.tar.gz");
    await writeFile(broken, "not a tarball");
    const reported: unknown[] = [];
    const db = await openPgliteDb(join(work, "fallback"), {
      seedArchive: broken,
      onSeedError: (error) => reported.push(error),
    });
    try {
      expect(reported).toHaveLength(1);
      expect(reported[0]).toBeInstanceOf(SeedLoadError);
      expect((reported[0] as SeedLoadError).message).toContain(broken);
      expect((await db.query<{ one: number }>("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  }, 120_000);
});

describe("seedMismatch", () => {
  const migrations = [
    { version: 1, name: "baseline", file: "0001_baseline.sql", sql: "", checksum: "a" },
    { version: 2, name: "more", file: "0002_more.sql", sql: "", checksum: "b" },
  ];
  const fits: SeedManifest = {
    format: 1,
    pglite: "0.5.16",
    schema: "htdag",
    migrations: [{ version: 1, name: "baseline", checksum: "a" }],
  };

  it("accepts a seed with the first migrations of this htdag, from the same PGlite line", () => {
    expect(seedMismatch(fits, { schema: "htdag", pglite: "0.5.20", migrations })).toBeNull();
  });

  it("names what does not fit: the schema, the PGlite line, an edited or unknown migration", () => {
    const expected = { schema: "htdag", pglite: "0.5.16", migrations };
    expect(seedMismatch({ ...fits, pglite: "0.4.2" }, expected)).toBe(
      "it was made by PGlite 0.4.2, this is PGlite 0.5.16",
    );
    expect(seedMismatch(fits, { ...expected, schema: "jobs" })).toBe('it is migrated for schema "htdag", not "jobs"');
    const edited = { ...fits, migrations: [{ version: 1, name: "baseline", checksum: "z" }] };
    expect(seedMismatch(edited, expected)).toBe(
      "its migration 0001_baseline is not among this htdag's migrations, or differs",
    );
    const newer = { ...fits, migrations: [...fits.migrations, { version: 3, name: "later", checksum: "c" }] };
    expect(seedMismatch(newer, expected)).toMatch(/0003_later/);
  });
});
