/**
 * Query family: what the dashboard reads about a run's tasks: the graph's nodes with their states,
 * what their attempts spent, one task's attempts, its log lines and its latest progress.
 */
import type { Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";
import { waitingColumn, type WaitingColumn } from "./waiting.js";

/** A task of a run as the dashboard draws it. */
export interface DashboardTaskRow {
  id: string;
  parent_id: string | null;
  kind: string;
  step: string | null;
  description: string;
  status: string;
  /** The task's own dependencies, as its spec names them (not the hierarchy's inherited ones). */
  depends_on: string[];
  /** Ids of the tasks merged into this one (its spec's `merged`), first to last. */
  merged: string[];
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  queue: string;
  priority: number;
  error: unknown;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: unknown;
  /** Its attempts' spend (migration 0005), summed; bigint and numeric come back as strings from pg. */
  llm_calls: unknown;
  input_tokens: unknown;
  output_tokens: unknown;
  cost_usd: unknown;
  /** A wait task's `wait` (its spec's), null for a task with a step (docs/waits-and-flow-control.md). */
  wait: unknown;
  /** What the task waits for when it is a wait task that waits now (docs/waits-and-flow-control.md), else null. */
  waiting: WaitingColumn;
}

/** A task of a plan as written: its spec (which holds no input) with its input as stored, when it has one. */
export interface PlanTaskRow {
  task: Record<string, unknown>;
}

/** One attempt of a task. */
export interface AttemptRow {
  attempt: number;
  status: string;
  worker_id: string | null;
  started_at: Date;
  finished_at: Date | null;
  queue_wait_ms: unknown;
  duration_ms: unknown;
  error_class: string | null;
  error: unknown;
  /** The attempt's spend (migration 0005). */
  llm_calls: unknown;
  input_tokens: unknown;
  output_tokens: unknown;
  cost_usd: unknown;
}

/** One line a step wrote with `ctx.log`. */
export interface TaskLogRow {
  id: string;
  attempt: number;
  message: string;
  data: unknown;
  created_at: Date;
}

/** The columns of a task as the dashboard draws it; `s` is the quoted schema. */
const TASK_SELECT = (s: string) => `
  SELECT t.id, t.parent_id, t.kind, t.step, t.description, t.status,
         ARRAY(SELECT jsonb_array_elements_text(coalesce(t.spec->'dependsOn', '[]'::jsonb))) AS depends_on,
         ARRAY(SELECT m->>'id' FROM jsonb_array_elements(coalesce(t.spec->'merged', '[]'::jsonb)) m) AS merged,
         t.attempts, t.max_attempts, t.timeout_ms, t.queue, t.priority, t.error, t.started_at, t.finished_at,
         t.spec->'wait' AS wait, spent.duration_ms, spent.llm_calls, spent.input_tokens, spent.output_tokens,
         spent.cost_usd, ${waitingColumn(s)} AS waiting
    FROM ${s}.tasks t
    CROSS JOIN LATERAL (
      SELECT sum(a.duration_ms) AS duration_ms, sum(a.llm_calls) AS llm_calls, sum(a.input_tokens) AS input_tokens,
             sum(a.output_tokens) AS output_tokens, sum(a.cost_usd) AS cost_usd
        FROM ${s}.attempts a WHERE a.run_id = t.run_id AND a.task_id = t.id) spent`;

export function createDashboardTaskQueries(db: Queryable, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** Every task of a run in insertion order, with the time spent in its attempts. */
    async tasks(runId: string): Promise<DashboardTaskRow[]> {
      const { rows } = await db.query<DashboardTaskRow>(`${TASK_SELECT(s)} WHERE t.run_id = $1 ORDER BY t.position`, [
        runId,
      ]);
      return rows;
    },

    /** The live plan of a run (superseded tasks left out), in graph order: each task's spec and input. */
    async plan(runId: string): Promise<PlanTaskRow[]> {
      const { rows } = await db.query<PlanTaskRow>(
        `SELECT CASE WHEN input IS NULL THEN spec ELSE spec || jsonb_build_object('input', input) END AS task
           FROM ${s}.tasks WHERE run_id = $1 AND status <> 'superseded' ORDER BY position, id`,
        [runId],
      );
      return rows;
    },

    /** One task of a run, or undefined. */
    async task(runId: string, taskId: string): Promise<DashboardTaskRow | undefined> {
      const { rows } = await db.query<DashboardTaskRow>(`${TASK_SELECT(s)} WHERE t.run_id = $1 AND t.id = $2`, [
        runId,
        taskId,
      ]);
      return rows[0];
    },

    /** The attempts of one task, first first. */
    async attempts(runId: string, taskId: string): Promise<AttemptRow[]> {
      const { rows } = await db.query<AttemptRow>(
        `SELECT attempt, status, worker_id, started_at, finished_at, queue_wait_ms, duration_ms, error_class, error,
                llm_calls, input_tokens, output_tokens, cost_usd
           FROM ${s}.attempts WHERE run_id = $1 AND task_id = $2 ORDER BY attempt`,
        [runId, taskId],
      );
      return rows;
    },

    /** The latest `limit` log lines of one task, oldest first. */
    async logs(runId: string, taskId: string, limit: number): Promise<TaskLogRow[]> {
      const { rows } = await db.query<TaskLogRow>(
        `SELECT * FROM (
           SELECT id::text AS id, attempt, message, data, created_at FROM ${s}.task_logs
            WHERE run_id = $1 AND task_id = $2 ORDER BY id DESC LIMIT $3) l ORDER BY l.id::bigint`,
        [runId, taskId, limit],
      );
      return rows;
    },

    /** The payload of the task's latest task:progress event, or null. */
    async progress(runId: string, taskId: string): Promise<{ attempt: number; done: number; total?: number } | null> {
      const { rows } = await db.query<{ payload: { attempt: number; done: number; total?: number } }>(
        `SELECT payload FROM ${s}.events WHERE run_id = $1 AND task_id = $2 AND type = 'task:progress' ORDER BY id DESC LIMIT 1`,
        [runId, taskId],
      );
      return rows[0]?.payload ?? null;
    },
  };
}

export type DashboardTaskQueries = ReturnType<typeof createDashboardTaskQueries>;
