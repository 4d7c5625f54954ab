/**
 * The `Db` interface: the only way the rest of htdag talks to a database.
 * Two drivers implement it: `pg-driver.ts` (PostgreSQL through a pool) and `pglite-driver.ts`
 * (embedded PGlite, in-process).
 */

/** Rows and the number of rows a statement touched. */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

/** How to run one statement. */
export interface QueryOptions {
  /**
   * Prepares the statement under this name on each connection (Postgres; PGlite ignores it), so
   * the server parses and plans it once per connection. Only for fixed statement texts.
   * @default unnamed: parsed on every call
   */
  name?: string;
}

/** Something that runs statements: the database itself, or an open transaction. */
export interface Queryable {
  /** Runs one parameterised statement. */
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<Row>>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** Callbacks of a dedicated LISTEN connection. */
export interface ListenHandlers {
  /** A NOTIFY arrived on the channel. */
  onNotify(payload: string): void;
  /** The connection is (re)established and LISTENing; called after every reconnect, so the caller can catch up. */
  onConnect?(): void | Promise<void>;
  /** The connection was lost or a reconnect failed; the driver keeps retrying with jittered backoff. */
  onError?(error: Error): void;
}

/** A LISTEN on a dedicated connection; `close()` stops it. */
export interface Listener {
  close(): Promise<void>;
  /** The number of times the connection was established (1 after the first connect). */
  readonly connects: number;
}

/** Counters kept by a driver, read by benchmarks and tests. */
export interface DbStats {
  /** Statements sent to the server (a transaction's BEGIN and COMMIT count too). */
  roundTrips: number;
}

export interface Db extends Queryable {
  readonly kind: "postgres" | "pglite";
  /** Where the database is, with any password redacted. */
  readonly target: string;
  readonly stats: DbStats;
  /** Runs `fn` in one transaction: COMMIT if it resolves, ROLLBACK if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** LISTENs on `channel` on a connection of its own (never a pooled one). */
  listen(channel: string, handlers: ListenHandlers): Promise<Listener>;
  /** Closes every connection this driver opened (not a pool passed in by the caller). */
  close(): Promise<void>;
}
