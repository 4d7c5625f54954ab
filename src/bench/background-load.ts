/**
 * BENCH_BACKGROUND: a fixed synthetic load on another database of the same server, so that W1 and
 * W2 can be measured on a shared Postgres as well as on a quiet one. `clients` connections each run
 * small write transactions (an INSERT and an UPDATE, one round trip) at `tps` per second, and every
 * 20th transaction also reads an aggregate over the latest 5,000 rows. The table is emptied and
 * seeded again before every loaded phase, so every system meets the same load.
 */
import pg from "pg";
import { excludeFromCounts } from "./counters.js";
import { benchDatabaseName, dropDatabase, recreateDatabase } from "./databases.js";

/** Settings of the background load. */
export interface BackgroundOptions {
  /** Client connections, each in its own loop. @default 2 */
  clients?: number;
  /** Target transactions per second per client. @default 200 */
  tps?: number;
}

/** What the load achieved over its loaded phases. */
export interface BackgroundAchieved {
  clients: number;
  /** Target transactions per second per client. */
  tps: number;
  /** Transactions committed over all phases, all clients. */
  transactions: number;
  /** Seconds the load ran, summed over phases. */
  seconds: number;
  /** Transactions per second, all clients together (target: clients × tps). */
  achievedTps: number;
  /** The same, per system measured under the load. */
  bySystem: { system: string; transactions: number; seconds: number; achievedTps: number }[];
  /** Errors met by the load's clients (the phase stops that client; the figures still stand). */
  errors: string[];
}

/** Rows seeded before each phase; the periodic aggregate reads this many of the latest rows. */
const SEED_ROWS = 5000;
/** Every this many transactions of a client, one also reads an aggregate. */
const AGGREGATE_EVERY = 20;
/** Counter rows the UPDATEs spread over. */
const COUNTER_ROWS = 100;

/** The background database's name: `<prefix>_background`. */
export function backgroundDatabaseName(prefix?: string): string {
  return benchDatabaseName("background", prefix);
}

/** Owns the background database; `run` applies the load around one piece of work. */
export class BackgroundLoad {
  readonly clients: number;
  readonly tps: number;
  private transactions = 0;
  private seconds = 0;
  private readonly bySystem = new Map<string, { transactions: number; seconds: number }>();
  private readonly errors: string[] = [];

  private constructor(
    private readonly admin: pg.Client,
    readonly database: string,
    private readonly url: string,
    options: BackgroundOptions,
  ) {
    this.clients = Math.max(1, Math.floor(options.clients ?? 2));
    this.tps = Math.max(1, options.tps ?? 200);
  }

  /** Creates (drops first) the background database and its tables. */
  static async create(
    admin: pg.Client,
    adminUrl: string,
    options: BackgroundOptions,
    prefix?: string,
  ): Promise<BackgroundLoad> {
    const database = backgroundDatabaseName(prefix);
    const url = await recreateDatabase(admin, adminUrl, database);
    const load = new BackgroundLoad(admin, database, url, options);
    const client = await load.connect();
    try {
      await client.query(
        "CREATE TABLE background_events (id bigserial PRIMARY KEY, client int NOT NULL, n int NOT NULL, " +
          "payload text NOT NULL, at timestamptz NOT NULL DEFAULT now());" +
          "CREATE TABLE background_counters (id int PRIMARY KEY, value bigint NOT NULL)",
      );
    } finally {
      await client.end();
    }
    return load;
  }

  /** Runs `work` of `system` with the load applied; the load stops (connections closed) before this returns or throws. */
  async run<T>(system: string, work: () => Promise<T>): Promise<T> {
    await this.reset();
    const clients: pg.Client[] = [];
    let stopping = false;
    try {
      for (let i = 0; i < this.clients; i++) {
        clients.push(await this.connect());
      }
    } catch (error) {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      throw error;
    }
    const started = performance.now();
    const before = this.transactions;
    const loops = clients.map((client, i) => this.loop(client, i, () => stopping));
    try {
      return await work();
    } finally {
      stopping = true;
      await Promise.all(loops);
      const seconds = (performance.now() - started) / 1000;
      this.seconds += seconds;
      const own = this.bySystem.get(system) ?? { transactions: 0, seconds: 0 };
      own.transactions += this.transactions - before;
      own.seconds += seconds;
      this.bySystem.set(system, own);
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    }
  }

  /** Figures over every phase so far. */
  achieved(): BackgroundAchieved {
    return {
      clients: this.clients,
      tps: this.tps,
      transactions: this.transactions,
      seconds: this.seconds,
      achievedTps: this.seconds > 0 ? this.transactions / this.seconds : Number.NaN,
      bySystem: [...this.bySystem].map(([system, s]) => ({
        system,
        ...s,
        achievedTps: s.seconds > 0 ? s.transactions / s.seconds : Number.NaN,
      })),
      errors: [...this.errors],
    };
  }

  /** Drops the background database, even with connections still open. */
  async drop(): Promise<void> {
    await dropDatabase(this.admin, this.database);
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.url });
    excludeFromCounts(client);
    client.on("error", () => undefined);
    await client.connect();
    return client;
  }

  /** The same starting state for every phase: 5,000 rows, 100 counters at zero. */
  private async reset(): Promise<void> {
    const client = await this.connect();
    try {
      await client.query(
        "TRUNCATE background_events, background_counters RESTART IDENTITY;" +
          `INSERT INTO background_events (client, n, payload) SELECT -1, g, repeat('x', 64) FROM generate_series(1, ${SEED_ROWS}) g;` +
          `INSERT INTO background_counters (id, value) SELECT g, 0 FROM generate_series(0, ${COUNTER_ROWS - 1}) g;` +
          "ANALYZE background_events, background_counters",
      );
    } finally {
      await client.end();
    }
  }

  /** One client: a transaction every 1/tps s; a late client skips the missed slots rather than bursting. */
  private async loop(client: pg.Client, index: number, stopping: () => boolean): Promise<void> {
    const interval = 1000 / this.tps;
    let next = performance.now();
    for (let n = 0; !stopping(); n++) {
      try {
        await client.query(
          "BEGIN;" +
            `INSERT INTO background_events (client, n, payload) VALUES (${index}, ${n}, repeat('y', 64));` +
            `UPDATE background_counters SET value = value + 1 WHERE id = ${(index * 37 + n) % COUNTER_ROWS};` +
            "COMMIT",
        );
        if (n % AGGREGATE_EVERY === AGGREGATE_EVERY - 1) {
          await client.query(
            "SELECT client, count(*), sum(n), max(at) FROM " +
              `(SELECT client, n, at FROM background_events ORDER BY id DESC LIMIT ${SEED_ROWS}) recent GROUP BY client`,
          );
        }
        this.transactions++;
      } catch (error) {
        if (!stopping()) {
          this.errors.push(`client ${index}: ${(error as Error).message}`);
        }
        return;
      }
      next += interval;
      const now = performance.now();
      if (next > now) {
        await new Promise((resolve) => setTimeout(resolve, next - now));
      } else if (now - next > interval) {
        next = now;
      }
    }
  }
}
