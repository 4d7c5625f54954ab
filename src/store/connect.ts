/** Picks and opens a driver from the `database` option. */
import pg from "pg";
import { InvalidOptionError, type SeedLoadError } from "../errors.js";
import type { Db } from "./db.js";
import { openPgDb, type PgDriverOptions } from "./pg-driver.js";
import { isNewPgliteStore, openPgliteDb } from "./pglite-driver.js";
import { checkSeed } from "./pglite-seed.js";

/** The default data dir of the embedded store, relative to the working directory. */
export const DEFAULT_DATA_DIR = "./.htdag";

/**
 * Where the data lives: a `postgres://` URL, a `pg.Pool`, a PGlite data dir (`pglite:./dir` or
 * `memory://`), or nothing for the embedded store in `./.htdag`.
 */
export type DatabaseOption = string | pg.Pool | undefined;

/** How to open the database, beside the driver's own options. */
export interface OpenDbOptions extends PgDriverOptions {
  /**
   * The schema htdag's tables live in: a new PGlite store starts from the shipped, migrated data
   * dir when that was migrated for this schema (pglite-seed.ts).
   * @default none: a new PGlite store runs initdb
   */
  schema?: string | undefined;
  /**
   * Told when the shipped data dir fits but cannot be loaded (the store is then created with initdb).
   * @default the failure is thrown
   */
  onSeedError?: ((error: SeedLoadError) => void) | undefined;
}

/** Opens the database the option names. */
export async function openDb(database: DatabaseOption, options: OpenDbOptions = {}): Promise<Db> {
  if (database === undefined || database === "") {
    return openSeededPglite(DEFAULT_DATA_DIR, options);
  }
  if (database instanceof pg.Pool) {
    return openPgDb(database, options);
  }
  if (typeof database === "string") {
    if (/^postgres(ql)?:\/\//.test(database)) {
      return openPgDb(database, options);
    }
    if (database.startsWith("memory://")) {
      return openSeededPglite(database, options);
    }
    if (database.startsWith("pglite:")) {
      return openSeededPglite(database.slice("pglite:".length) || DEFAULT_DATA_DIR, options);
    }
  }
  throw new InvalidOptionError(
    "database",
    'a postgres:// URL, a pg.Pool, "memory://", "pglite:<dir>", or nothing for the embedded store in ./.htdag',
    database,
  );
}

/** A PGlite store, new ones from the shipped data dir when it fits `options.schema`. */
async function openSeededPglite(dataDir: string, options: OpenDbOptions): Promise<Db> {
  // The seed is read (its manifest, the migrations' checksums) only for a store that is new.
  const seed =
    options.schema === undefined || !(await isNewPgliteStore(dataDir)) ? null : await checkSeed(options.schema);
  return openPgliteDb(dataDir, {
    seedArchive: seed?.usable ? seed.archive : undefined,
    onSeedError: options.onSeedError,
  });
}
