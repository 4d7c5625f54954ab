/** The embedded driver: PGlite, in-process, one connection shared by every caller. */
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { DatabaseConnectionError, SeedLoadError } from "../errors.js";
import type { Db, DbStats, Listener, ListenHandlers, Queryable, QueryResult } from "./db.js";

/** The in-memory data dir: nothing is written to disk. */
export const MEMORY_DATA_DIR = "memory://";

/** How to open a PGlite store. */
export interface PgliteOpenOptions {
  /**
   * A gzipped data dir (pglite-seed.ts) to start a new store from instead of running initdb; used
   * only when the store is new (in memory, or an empty or missing folder).
   * @default none: a new store runs initdb
   */
  seedArchive?: string | undefined;
  /**
   * Told when the seed could not be loaded and the store was created with initdb instead.
   * @default the failure is thrown
   */
  onSeedError?: ((error: SeedLoadError) => void) | undefined;
}

/** Opens (creating if needed) a PGlite database in `dataDir`, or in memory for `memory://`. */
export async function openPgliteDb(dataDir: string, options: PgliteOpenOptions = {}): Promise<Db> {
  try {
    const memory = dataDir.startsWith("memory://");
    if (!memory) {
      await mkdir(dataDir, { recursive: true });
    }
    const seed = options.seedArchive !== undefined && (await isNewPgliteStore(dataDir));
    const pglite = seed ? await createFromSeed(dataDir, memory, options) : await PGlite.create(dataDir);
    return wrapPglite(pglite, dataDir === MEMORY_DATA_DIR ? dataDir : `pglite:${dataDir}`);
  } catch (error) {
    throw new DatabaseConnectionError(`the embedded PGlite store in ${dataDir}`, (error as Error).message, {
      cause: error,
    });
  }
}

/** The `Db` over an open PGlite; `target` names it in messages. */
export function wrapPglite(pglite: PGlite, target: string): Db {
  return new PgliteDb(pglite, target);
}

/** Whether opening `dataDir` creates a new store: in memory, or a folder that is missing or empty. */
export async function isNewPgliteStore(dataDir: string): Promise<boolean> {
  if (dataDir.startsWith("memory://")) {
    return true;
  }
  const entries = await readdir(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") {
      return [];
    }
    throw error;
  });
  return entries.length === 0;
}

/**
 * Loads the seed into the new store; if that fails, empties the folder (it was empty before) and
 * creates the store with initdb, telling `onSeedError` (no handler: the failure is thrown).
 */
async function createFromSeed(dataDir: string, memory: boolean, options: PgliteOpenOptions): Promise<PGlite> {
  try {
    const archive = await readFile(options.seedArchive as string);
    return await PGlite.create(dataDir, { loadDataDir: new Blob([archive]) });
  } catch (error) {
    if (!options.onSeedError) {
      throw error;
    }
    options.onSeedError(new SeedLoadError(options.seedArchive as string, { cause: error }));
    if (!memory) {
      await rm(dataDir, { recursive: true, force: true });
      await mkdir(dataDir, { recursive: true });
    }
    return PGlite.create(dataDir);
  }
}

class PgliteDb implements Db {
  readonly kind = "pglite" as const;
  readonly stats: DbStats = { roundTrips: 0 };

  constructor(
    private readonly pglite: PGlite,
    readonly target: string,
  ) {}

  async query<Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    this.stats.roundTrips++;
    const result = await this.pglite.query<Row>(sql, params as unknown[] | undefined);
    return { rows: result.rows, rowCount: rowCountOf(result) };
  }

  async exec(sql: string): Promise<void> {
    this.stats.roundTrips++;
    await this.pglite.exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const stats = this.stats;
    stats.roundTrips += 2;
    return this.pglite.transaction(async (tx) =>
      fn({
        async query<Row>(sql: string, params?: readonly unknown[]) {
          stats.roundTrips++;
          const result = await tx.query<Row>(sql, params as unknown[] | undefined);
          return { rows: result.rows, rowCount: rowCountOf(result) };
        },
        async exec(sql: string) {
          stats.roundTrips++;
          await tx.exec(sql);
        },
      }),
    );
  }

  /** In-process: the connection is never lost, so `onConnect` is called once. */
  async listen(channel: string, handlers: ListenHandlers): Promise<Listener> {
    const unlisten = await this.pglite.listen(channel, (payload) => handlers.onNotify(payload));
    const listener = { connects: 1, close: async () => unlisten() };
    await handlers.onConnect?.();
    return listener;
  }

  async close(): Promise<void> {
    await this.pglite.close();
  }
}

/** PGlite reports affectedRows 0 for a SELECT; the row count is then the rows returned. */
function rowCountOf(result: { rows: unknown[]; affectedRows?: number }): number {
  return Math.max(result.affectedRows ?? 0, result.rows.length);
}
