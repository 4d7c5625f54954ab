/** The PostgreSQL driver: a `pg.Pool` for statements, and a dedicated client per LISTEN. */
import pg from "pg";
import { DatabaseConnectionError } from "../errors.js";
import type { Db, DbStats, Listener, ListenHandlers, Queryable, QueryOptions, QueryResult } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";
import { redactUrl } from "./redact.js";

/** Options of the pg driver. */
export interface PgDriverOptions {
  /** Connections in the pool htdag creates (ignored when a pool is passed in). @default 10 */
  poolSize?: number;
  /** First delay before a lost LISTEN connection is re-established, in ms; doubles up to 5 s. @default 100 */
  reconnectBaseMs?: number;
}

/** Opens a Postgres database from a URL or an existing pool, and checks that it answers. */
export async function openPgDb(database: string | pg.Pool, options: PgDriverOptions = {}): Promise<Db> {
  const ownsPool = typeof database === "string";
  const pool =
    typeof database === "string" ? new pg.Pool({ connectionString: database, max: options.poolSize ?? 10 }) : database;
  const target = typeof database === "string" ? redactUrl(database) : describePool(pool);
  let lastPoolError: Error | undefined;
  // An idle client that loses its server (a restart) emits 'error' on the pool; without a handler
  // Node would crash. The next query gets a fresh client, so keeping the error for diagnosis is enough.
  pool.on("error", (error) => {
    lastPoolError = error;
  });
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    if (ownsPool) {
      await pool.end();
    }
    throw new DatabaseConnectionError(target, (error as Error).message, { cause: error });
  }
  return new PgDb(pool, ownsPool, target, options, () => lastPoolError);
}

function describePool(pool: pg.Pool): string {
  const o = pool.options;
  return redactUrl(`postgres://${o.user ?? ""}@${o.host ?? "localhost"}:${o.port ?? 5432}/${o.database ?? ""}`);
}

class PgDb implements Db {
  readonly kind = "postgres" as const;
  readonly stats: DbStats = { roundTrips: 0 };
  private readonly listeners = new Set<PgListener>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
    readonly target: string,
    private readonly options: PgDriverOptions,
    readonly lastPoolError: () => Error | undefined,
  ) {}

  async query<Row>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<Row>> {
    this.stats.roundTrips++;
    const values = params as unknown[] | undefined;
    const result = await (options?.name
      ? this.pool.query({ name: options.name, text: sql, values })
      : this.pool.query(sql, values));
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    this.stats.roundTrips++;
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx = clientQueryable(client, this.stats);
    try {
      await tx.exec("BEGIN");
      const result = await fn(tx);
      await tx.exec("COMMIT");
      return result;
    } catch (error) {
      await tx.exec("ROLLBACK").catch(() => {
        // The connection may be gone (that is often why we are here); the original error matters more.
      });
      throw error;
    } finally {
      client.release();
    }
  }

  async listen(channel: string, handlers: ListenHandlers): Promise<Listener> {
    const listener = new PgListener(this.pool.options, channel, handlers, this.options.reconnectBaseMs ?? 100);
    await listener.start();
    this.listeners.add(listener);
    const close = listener.close.bind(listener);
    listener.close = async () => {
      this.listeners.delete(listener);
      await close();
    };
    return listener;
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((l) => l.close()));
    if (this.ownsPool) {
      await this.pool.end();
    }
  }
}

function clientQueryable(client: pg.PoolClient, stats: DbStats): Queryable {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]) {
      stats.roundTrips++;
      const result = await client.query(sql, params as unknown[] | undefined);
      return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
    },
    async exec(sql: string) {
      stats.roundTrips++;
      await client.query(sql);
    },
  };
}

/** A LISTEN on its own client, re-established with jittered backoff whenever it is lost. */
class PgListener implements Listener {
  connects = 0;
  private client: pg.Client | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: pg.PoolConfig,
    private readonly channel: string,
    private readonly handlers: ListenHandlers,
    private readonly reconnectBaseMs: number,
  ) {}

  /** First connect: failures are thrown to the caller. */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.config);
    client.on("notification", (message) => {
      if (message.channel === this.channel) {
        this.handlers.onNotify(message.payload ?? "");
      }
    });
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("LISTEN connection ended")));
    await client.connect();
    await client.query(`LISTEN ${quoteIdentifier(this.channel)}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.client = client;
    this.connects++;
    await this.handlers.onConnect?.();
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.closed || this.client !== client) {
      return;
    }
    this.client = undefined;
    this.handlers.onError?.(error);
    this.scheduleReconnect(0);
  }

  private scheduleReconnect(failures: number): void {
    if (this.closed) {
      return;
    }
    const ceiling = Math.min(5000, this.reconnectBaseMs * 2 ** failures);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.retryTimer = setTimeout(() => {
      this.connect().catch((error: Error) => {
        this.handlers.onError?.(error);
        this.scheduleReconnect(failures + 1);
      });
    }, delay);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    if (client) {
      await client.end();
    }
  }
}
