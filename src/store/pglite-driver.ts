/** The embedded driver: PGlite, in-process, one connection shared by every caller. */
import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { DatabaseConnectionError } from "../errors.js";
import type { Db, DbStats, Listener, ListenHandlers, Queryable, QueryResult } from "./db.js";

/** The in-memory data dir: nothing is written to disk. */
export const MEMORY_DATA_DIR = "memory://";

/** Opens (creating if needed) a PGlite database in `dataDir`, or in memory for `memory://`. */
export async function openPgliteDb(dataDir: string): Promise<Db> {
  try {
    if (!dataDir.startsWith("memory://")) {
      await mkdir(dataDir, { recursive: true });
    }
    const pglite = await PGlite.create(dataDir);
    return new PgliteDb(pglite, dataDir === MEMORY_DATA_DIR ? dataDir : `pglite:${dataDir}`);
  } catch (error) {
    throw new DatabaseConnectionError(`the embedded PGlite store in ${dataDir}`, (error as Error).message, {
      cause: error,
    });
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
