/**
 * The chaos step: it records its execution in `chaos.executions` (workload.ts) through the
 * process's own pool, not one of htdag's connections, sleeps for its input's `ms`, records its end,
 * and returns the execution's id. Both writes commit before the step returns.
 */
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { StepContext } from "../../src/index.js";

/** The application_name of the recording pools: the terminate fault spares them. */
export const RECORDER_APPLICATION = "chaos-recorder";

/** A pool for {@link recordingStep}, of `size` connections. */
export function recorderPool(url: string, size: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    application_name: RECORDER_APPLICATION,
    max: size,
    connectionTimeoutMillis: 5_000,
    query_timeout: 10_000,
  });
  // A connection that died while idle (a terminated backend, a restart): the pool drops it.
  pool.on("error", () => undefined);
  return pool;
}

export function recordingStep(pool: pg.Pool): (ctx: StepContext) => Promise<{ execution: string }> {
  return async (ctx) => {
    const startedAt = Date.now();
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO chaos.executions (run_id, task_id, attempt, pid, started_at)
       VALUES ($1, $2, $3, $4, to_timestamp($5::double precision / 1000)) RETURNING id`,
      [ctx.runId, ctx.task.id, ctx.attempt, process.pid, startedAt],
    );
    const execution = rows[0]!.id;
    await sleep((ctx.input as { ms: number }).ms, undefined, { signal: ctx.signal });
    await pool.query("UPDATE chaos.executions SET finished_at = clock_timestamp() WHERE id = $1", [execution]);
    return { execution };
  };
}
