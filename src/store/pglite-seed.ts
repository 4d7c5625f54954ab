/**
 * The shipped PGlite data dir (the "seed"): an embedded database already created (initdb) and
 * migrated into the default schema, built by `npm run build` (pglite-seed-build.ts). A new embedded
 * store loads it instead of running initdb and the migrations, which takes seconds in WebAssembly.
 * It is used only when it fits: built by the same PGlite line (same Postgres major), for the schema
 * being opened, and with migrations this htdag ships unchanged. Later migrations are then applied on
 * top by the migrator, as for any store; otherwise the store is created as before.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { loadMigrations, MIGRATIONS_DIR, type Migration } from "./migrator.js";

/** The seed's files inside its folder. */
export const SEED_ARCHIVE = "data.tar.gz";
export const SEED_MANIFEST = "manifest.json";

/** The layout of manifest.json this htdag reads. */
export const SEED_FORMAT = 1;

/** What manifest.json records about the seed beside it. */
export const seedManifestSchema = z.object({
  format: z.literal(SEED_FORMAT),
  /** The PGlite version that created the data dir. */
  pglite: z.string(),
  /** The Postgres schema the migrations were applied to. */
  schema: z.string(),
  migrations: z.array(z.object({ version: z.number().int(), name: z.string(), checksum: z.string() })),
});
export type SeedManifest = z.infer<typeof seedManifestSchema>;

/** Whether the seed can be loaded: its archive, or why not. */
export type SeedCheck = { usable: true; archive: string } | { usable: false; reason: string };

/**
 * The seed's folder: `pglite-seed/` beside this module (the installed package, dist/store), else the
 * repository's dist/store/pglite-seed (running from src/); null when neither was built.
 */
export function findSeedDir(): string | null {
  const candidates = [
    fileURLToPath(new URL("./pglite-seed/", import.meta.url)),
    fileURLToPath(new URL("../../dist/store/pglite-seed/", import.meta.url)),
  ];
  return candidates.find((dir) => existsSync(join(dir, SEED_MANIFEST))) ?? null;
}

/** The installed PGlite's version, from its package.json (which its exports do not list). */
export function installedPgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  const packageJson = join(entry, "..", "..", "package.json");
  const { version } = z.object({ version: z.string() }).parse(createRequire(import.meta.url)(packageJson));
  return version;
}

/** "0.5.16" → "0.5": PGlite moves to a new Postgres major (a new data dir layout) only in a new minor. */
function pgliteLine(version: string): string {
  return version.split(".").slice(0, 2).join(".");
}

/** Why `manifest` does not fit this htdag, or null when it does. */
export function seedMismatch(
  manifest: SeedManifest,
  expected: { schema: string; pglite: string; migrations: readonly Migration[] },
): string | null {
  if (manifest.schema !== expected.schema) {
    return `it is migrated for schema "${manifest.schema}", not "${expected.schema}"`;
  }
  if (pgliteLine(manifest.pglite) !== pgliteLine(expected.pglite)) {
    return `it was made by PGlite ${manifest.pglite}, this is PGlite ${expected.pglite}`;
  }
  for (const applied of manifest.migrations) {
    const file = expected.migrations[applied.version - 1];
    if (!file || file.name !== applied.name || file.checksum !== applied.checksum) {
      const name = `${String(applied.version).padStart(4, "0")}_${applied.name}`;
      return `its migration ${name} is not among this htdag's migrations, or differs`;
    }
  }
  return null;
}

/** Checks the seed in `dir` (found by `findSeedDir` by default) against `schema` and the shipped migrations. */
export async function checkSeed(
  schema: string,
  dir: string | null = findSeedDir(),
  migrationsDir: string = MIGRATIONS_DIR,
): Promise<SeedCheck> {
  if (dir === null) {
    return { usable: false, reason: "no shipped data dir (npm run build makes it)" };
  }
  const archive = join(dir, SEED_ARCHIVE);
  if (!existsSync(archive)) {
    return { usable: false, reason: `${archive} is missing` };
  }
  const parsed = seedManifestSchema.safeParse(JSON.parse(await readFile(join(dir, SEED_MANIFEST), "utf8")));
  if (!parsed.success) {
    return { usable: false, reason: `${join(dir, SEED_MANIFEST)} is not a seed manifest of format ${SEED_FORMAT}` };
  }
  const reason = seedMismatch(parsed.data, {
    schema,
    pglite: installedPgliteVersion(),
    migrations: await loadMigrations(migrationsDir),
  });
  return reason === null ? { usable: true, archive } : { usable: false, reason };
}
