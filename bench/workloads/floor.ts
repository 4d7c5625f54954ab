/**
 * The raw-SQL floor of a chain: one autocommitted `UPDATE … RETURNING` on a one-row table per step,
 * sent by a plain client, so each step costs exactly one round trip and one commit. Nothing an
 * engine does per hop can be cheaper than this on the same server.
 */
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { percentile } from "../lib/stats.js";

export const FLOOR_METRICS = ["ms per round trip", "p50 ms", "p99 ms"] as const;
export type FloorMetrics = Record<(typeof FLOOR_METRICS)[number], number>;

/** Something that sends one statement and waits for its result. */
type Send = (sql: string) => Promise<unknown>;

const SETUP = "CREATE TABLE IF NOT EXISTS bench_floor (id integer PRIMARY KEY, n bigint NOT NULL);" +
  " INSERT INTO bench_floor VALUES (1, 0) ON CONFLICT (id) DO NOTHING";
const STEP = "UPDATE bench_floor SET n = n + 1 WHERE id = 1 RETURNING n";

async function timeRoundTrips(send: Send, count: number): Promise<FloorMetrics> {
  const samples: number[] = [];
  const startedAt = performance.now();
  for (let i = 0; i < count; i++) {
    const before = performance.now();
    await send(STEP);
    samples.push(performance.now() - before);
  }
  return {
    "ms per round trip": (performance.now() - startedAt) / count,
    "p50 ms": percentile(samples, 50),
    "p99 ms": percentile(samples, 99),
  };
}

/** A floor on Postgres through one `pg.Client`; `close()` ends the connection. */
export async function postgresFloor(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(SETUP);
  return {
    run: (count: number) => timeRoundTrips((sql) => client.query(sql), count),
    close: () => client.end(),
  };
}

/** The same floor on an in-memory PGlite, for the embedded store's ratio. */
export async function pgliteFloor() {
  const db = await PGlite.create("memory://");
  await db.exec(SETUP);
  return {
    run: (count: number) => timeRoundTrips((sql) => db.query(sql), count),
    close: () => db.close(),
  };
}
