/**
 * Builds the shipped PGlite data dir (pglite-seed.ts): a new in-memory PGlite database, migrated into
 * `schema`, dumped as a gzipped tarball beside a manifest naming what it holds. `npm run build` runs
 * it (scripts/build-pglite-seed.js) into dist/store/pglite-seed.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { loadMigrations, migrate, MIGRATIONS_DIR } from "./migrator.js";
import { MEMORY_DATA_DIR, wrapPglite } from "./pglite-driver.js";
import { installedPgliteVersion, SEED_ARCHIVE, SEED_FORMAT, SEED_MANIFEST, type SeedManifest } from "./pglite-seed.js";

/** Writes the seed into `outDir` (replacing it) and returns its manifest. */
export async function buildPgliteSeed(
  outDir: string,
  schema: string,
  migrationsDir: string = MIGRATIONS_DIR,
): Promise<SeedManifest> {
  const pglite = await PGlite.create(MEMORY_DATA_DIR);
  try {
    await migrate(wrapPglite(pglite, MEMORY_DATA_DIR), schema, migrationsDir);
    // A checkpoint first, so the dump starts from a clean shutdown point with nothing to replay.
    await pglite.exec("CHECKPOINT");
    const archive = Buffer.from(await (await pglite.dumpDataDir("gzip")).arrayBuffer());
    const manifest: SeedManifest = {
      format: SEED_FORMAT,
      pglite: installedPgliteVersion(),
      schema,
      migrations: (await loadMigrations(migrationsDir)).map(({ version, name, checksum }) => ({
        version,
        name,
        checksum,
      })),
    };
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, SEED_ARCHIVE), archive);
    await writeFile(join(outDir, SEED_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } finally {
    await pglite.close();
  }
}
