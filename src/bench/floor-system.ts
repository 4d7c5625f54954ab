/**
 * The raw-SQL floor: the least any engine can do on the same server. W1: each of `concurrency`
 * connections claims (`FOR UPDATE SKIP LOCKED`) and completes jobs in a plain table, 2 round trips
 * per claim; W2: one autocommitted `UPDATE … RETURNING` per step, so exactly one round trip and one
 * commit per step. It has no scheduler, so it has no figures for W3–W6.
 */
import { createRequire } from "node:module";
import pg from "pg";
import { chainFigures, Timeline } from "./timeline.js";
import type { BenchSystem, SystemSession, WorkloadResult } from "./types.js";

const SETUP = `
  CREATE TABLE IF NOT EXISTS floor_jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'ready');
  CREATE INDEX IF NOT EXISTS floor_jobs_ready ON floor_jobs (id) WHERE status = 'ready';
  CREATE TABLE IF NOT EXISTS floor_chain (id integer PRIMARY KEY, n bigint NOT NULL);
  INSERT INTO floor_chain VALUES (1, 0) ON CONFLICT (id) DO NOTHING`;
const CLAIM = `UPDATE floor_jobs SET status = 'running' WHERE id IN (
  SELECT id FROM floor_jobs WHERE status = 'ready' ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id`;
const COMPLETE = "UPDATE floor_jobs SET status = 'done' WHERE id = ANY($1::bigint[])";
const STEP = "UPDATE floor_chain SET n = n + 1 WHERE id = 1 RETURNING n";

export const floorSystem: BenchSystem = {
  name: "floor",
  version: `raw SQL over node-postgres ${(createRequire(import.meta.url)("pg/package.json") as { version: string }).version}`,
  store: "postgres",
  notes: ["raw SQL: W1 claim (SKIP LOCKED) + complete, 2 round trips per claim; W2 one UPDATE … RETURNING per step"],
  open: async (url) => openFloor(url!),
};

async function openFloor(url: string): Promise<SystemSession> {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  // pool.end() resolves before its clients' backends are gone, so the harness's DROP DATABASE …
  // WITH (FORCE) may cut one (57P01): expected, not reported. Anything else is.
  pool.on("error", (error: Error & { code?: string }) => {
    if (error.code !== "57P01") {
      process.stderr.write(`floor pool: ${error.message}\n`);
    }
  });
  await pool.query(SETUP);
  return {
    flat: (tasks, concurrency, batchSize) => flat(pool, tasks, concurrency, batchSize),
    chain: (steps) => chain(pool, steps),
    close: () => pool.end(),
  };
}

async function flat(pool: pg.Pool, tasks: number, concurrency: number, batchSize: number): Promise<WorkloadResult> {
  const clients = await Promise.all(Array.from({ length: concurrency }, () => pool.connect()));
  try {
    const startedAt = performance.now();
    await clients[0]!.query("INSERT INTO floor_jobs (status) SELECT 'ready' FROM generate_series(1, $1)", [tasks]);
    const drain = async (client: pg.PoolClient) => {
      for (;;) {
        const { rows } = await client.query<{ id: string }>(CLAIM, [batchSize]);
        if (rows.length === 0) {
          return;
        }
        await client.query(COMPLETE, [rows.map((r) => r.id)]);
      }
    };
    await Promise.all(clients.map(drain));
    const wallMs = performance.now() - startedAt;
    return { tasks, metrics: { "tasks per s": (tasks / wallMs) * 1000 } };
  } finally {
    for (const client of clients) {
      client.release();
    }
  }
}

async function chain(pool: pg.Pool, steps: number): Promise<WorkloadResult> {
  const client = await pool.connect();
  try {
    const timeline = new Timeline();
    const startedAt = performance.now();
    for (let i = 0; i < steps; i++) {
      await client.query(STEP);
      timeline.start(`s${i}`);
      timeline.finish(`s${i}`);
    }
    const wallMs = performance.now() - startedAt;
    // The hop of step i is its own round trip: the previous step's end → this step's result.
    return { tasks: steps, metrics: chainFigures(timeline, steps, (i) => `s${i}`, wallMs) };
  } finally {
    client.release();
  }
}
