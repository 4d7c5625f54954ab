/** Picks and opens a driver from the `database` option. */
import pg from "pg";
import { InvalidOptionError } from "../errors.js";
import type { Db } from "./db.js";
import { openPgDb, type PgDriverOptions } from "./pg-driver.js";
import { openPgliteDb } from "./pglite-driver.js";

/** The default data dir of the embedded store, relative to the working directory. */
export const DEFAULT_DATA_DIR = "./.htdag";

/**
 * Where the data lives: a `postgres://` URL, a `pg.Pool`, a PGlite data dir (`pglite:./dir` or
 * `memory://`), or nothing for the embedded store in `./.htdag`.
 */
export type DatabaseOption = string | pg.Pool | undefined;

/** Opens the database the option names. */
export async function openDb(database: DatabaseOption, options: PgDriverOptions = {}): Promise<Db> {
  if (database === undefined || database === "") {
    return openPgliteDb(DEFAULT_DATA_DIR);
  }
  if (database instanceof pg.Pool) {
    return openPgDb(database, options);
  }
  if (typeof database === "string") {
    if (/^postgres(ql)?:\/\//.test(database)) {
      return openPgDb(database, options);
    }
    if (database.startsWith("memory://")) {
      return openPgliteDb(database);
    }
    if (database.startsWith("pglite:")) {
      return openPgliteDb(database.slice("pglite:".length) || DEFAULT_DATA_DIR);
    }
  }
  throw new InvalidOptionError(
    "database",
    'a postgres:// URL, a pg.Pool, "memory://", "pglite:<dir>", or nothing for the embedded store in ./.htdag',
    database,
  );
}
