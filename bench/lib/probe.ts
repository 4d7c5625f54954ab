/**
 * Measures one run: wall time and driver round trips around `composeFromTaskGraph`, the
 * in-process moments each step started and returned, and the attempts' timestamps as the
 * database recorded them.
 */
import type { Orchestrator, RunOptions, StepContext, TaskGraph } from "../../src/index.js";

/** A no-op step (`async () => null`) that notes when each task's step started and returned. */
export class StepProbe {
  readonly startedAt = new Map<string, number>();
  readonly returnedAt = new Map<string, number>();

  readonly step = async (ctx: StepContext): Promise<null> => {
    const now = performance.now();
    this.startedAt.set(ctx.task.id, now);
    this.returnedAt.set(ctx.task.id, now);
    return null;
  };

  started(taskId: string): number {
    return mustGet(this.startedAt, taskId, "start");
  }

  returned(taskId: string): number {
    return mustGet(this.returnedAt, taskId, "return");
  }
}

function mustGet(map: Map<string, number>, taskId: string, what: string): number {
  const value = map.get(taskId);
  if (value === undefined) {
    throw new Error(`no ${what} recorded for task ${JSON.stringify(taskId)}`);
  }
  return value;
}

/** What one measured run cost. */
export interface MeasuredRun {
  runId: string;
  wallMs: number;
  /** Statements the driver sent between the call and its result. */
  roundTrips: number;
}

/** Runs `graph` to completion and measures it; a run that does not complete is an error. */
export async function measureRun(
  orch: Orchestrator,
  graph: TaskGraph,
  probe: StepProbe,
  options: RunOptions,
): Promise<MeasuredRun> {
  const tripsBefore = orch.db.stats.roundTrips;
  const startedAt = performance.now();
  const result = await orch.composeFromTaskGraph(graph, { noop: probe.step }, options);
  const wallMs = performance.now() - startedAt;
  const roundTrips = orch.db.stats.roundTrips - tripsBefore;
  if (result.status !== "completed") {
    throw new Error(
      `benchmark run ${result.runId} ended ${result.status}: ${result.error?.message ?? "no error recorded"}`,
    );
  }
  return { runId: result.runId, wallMs, roundTrips };
}

/** An attempt's database timestamps, in ms since the epoch with microsecond precision. */
export interface AttemptTimes {
  startedAt: number;
  finishedAt: number;
}

/** The first attempt of every task of a run, by task id (read after the run, not counted as its round trips). */
export async function attemptTimes(orch: Orchestrator, runId: string): Promise<Map<string, AttemptTimes>> {
  const schema = orch.options.schema;
  const { rows } = await orch.db.query<{ task_id: string; started_ms: number; finished_ms: number }>(
    `SELECT task_id, (extract(epoch FROM started_at) * 1000)::float8 AS started_ms,
            (extract(epoch FROM finished_at) * 1000)::float8 AS finished_ms
       FROM "${schema}".attempts WHERE run_id = $1 AND attempt = 1`,
    [runId],
  );
  return new Map(rows.map((r) => [r.task_id, { startedAt: Number(r.started_ms), finishedAt: Number(r.finished_ms) }]));
}

/** The entry of `map` for `key`, or an error naming what is missing. */
export function entry<V>(map: Map<string, V>, key: string): V {
  const value = map.get(key);
  if (value === undefined) {
    throw new Error(`nothing recorded for task ${JSON.stringify(key)}`);
  }
  return value;
}
