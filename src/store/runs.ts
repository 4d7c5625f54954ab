/** Query family: runs and their tasks (insert, read, list). */
import type { Db, Queryable } from "./db.js";
import { quoteIdentifier, statementName } from "./identifiers.js";
import { waitingColumn, type WaitingColumn } from "./waiting.js";

/** A run as the store inserts it. */
export interface NewRun {
  id: string;
  workflow: string;
  graphId: string;
  goal: string;
  priority: number;
  maxParallel: number;
  failFast: boolean;
  options: unknown;
  input: unknown;
  idempotencyKey: string | null;
  runAt: Date | null;
  deadlineMs: number | null;
  /**
   * The stored tuning the graph was tuned with (its time, ISO) or null for none; submit_run writes
   * nothing when the workflow's stored tuning is another one (`staleTuning`). Absent: not checked.
   */
  tuningAppliedAt?: string | null;
}

/** Everything submitRun records in one call. */
export interface RunSubmission {
  run: NewRun;
  graph: { id: string; goal: string; decomposer: string; source: string; tasks: unknown; decomposedAt: string };
  /** Task rows as bindGraph lays them out. */
  tasks: unknown[];
  edges: unknown[];
  /** Queue limits to set (name → running tasks across all runs), or null to leave them. */
  queues: Record<string, number> | null;
  /** The run's first events, written in the same transaction before its start. */
  events: { type: string; taskId?: string | null; payload?: unknown }[];
  /** Start the run now (its tasks without dependencies become ready); false leaves it pending. */
  start: boolean;
  /**
   * The run's plan is still being written (streamPlan): marked so, for this long (renewed by the
   * writer), in the same transaction; the run must be left pending (`start` false).
   */
  planningMs?: number;
  /**
   * Record the run awaiting approval of its plan (`approvePlan`, docs/waits-and-flow-control.md):
   * status awaiting_approval and plan:awaiting_approval in the same transaction; `start` must be false.
   */
  awaitApproval?: boolean;
  /** The NOTIFY channel of the events, or null for none. */
  channel: string | null;
}

/** What submitRun reports. */
export interface SubmittedRun {
  /** The run's id; null only with `staleTuning`. */
  runId: string;
  /** True when the idempotency key was taken: the run is an earlier one and nothing was written. */
  existing: boolean;
  /**
   * The new run's status after the call (`running`, `pending` when not started, `awaiting_approval`
   * with `awaitApproval`); null when existing.
   */
  runStatus: string | null;
  /**
   * True when `run.tuningAppliedAt` is not the workflow's stored tuning any more: nothing was
   * written; tune the graph again with the stored tuning and submit again.
   */
  staleTuning?: boolean;
}

/** A run row as read back. */
export interface RunRow {
  id: string;
  workflow: string;
  graph_id: string | null;
  goal: string;
  status: string;
  priority: number;
  max_parallel: number;
  fail_fast: boolean;
  options: Record<string, unknown>;
  input: unknown;
  idempotency_key: string | null;
  deadline_at: Date | null;
  total_tasks: number;
  remaining_tasks: number;
  failed_tasks: number;
  /** Revisions of the plan applied so far (docs/living-plans.md). */
  revision: number;
  pause_reason: string | null;
  error: { message?: string; taskId?: string } | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  /** The run's spend (migration 0005); bigint and numeric columns come back as strings from pg. */
  llm_calls?: number | string;
  input_tokens?: number | string;
  output_tokens?: number | string;
  cost_usd?: number | string;
}

/** A task row as read back for summaries. */
export interface TaskStateRow {
  id: string;
  parent_id: string | null;
  kind: string;
  step: string | null;
  status: string;
  attempts: number;
  output: unknown;
  error: unknown;
  started_at: Date | null;
  finished_at: Date | null;
  duration_ms: number | null;
  /** Its attempts' spend, summed; null when they spent nothing. */
  usage: { llmCalls: number; inputTokens: number; outputTokens: number; costUsd: number } | null;
  /** What a wait task that waits now waits for (times as ISO text); null for every other task. */
  waiting?: WaitingColumn;
}

export function createRunQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  const submitSql = `SELECT ${s}.submit_run($1, $2, $3, $4, $5, $6, $7, $8) AS r`;
  const submitName = statementName(schema, submitSql);
  const forApprovalSql = `SELECT ${s}.submit_run_for_approval($1, $2, $3, $4, $5, $6, $7) AS r`;
  return {
    /**
     * Records the workflow, the graph, the run with its tasks, edges and first events, and starts it
     * (unless `start` is false), in one transaction and one round trip (the SQL function submit_run).
     * With an idempotency key already taken, nothing is written and the existing run's id is returned.
     */
    async submitRun(submission: RunSubmission): Promise<SubmittedRun> {
      const params = [
        JSON.stringify(submission.run),
        JSON.stringify(submission.graph),
        JSON.stringify(submission.tasks),
        JSON.stringify(submission.edges),
        submission.queues ? JSON.stringify(submission.queues) : null,
        JSON.stringify(submission.events),
        submission.start,
        submission.channel,
      ];
      const { planningMs } = submission;
      if (submission.awaitApproval) {
        // submit_run and the move to awaiting_approval in one statement: never seen pending.
        const { rows } = await db.query<{ r: SubmittedRun }>(forApprovalSql, [...params.slice(0, 6), params[7]]);
        return rows[0]!.r;
      }
      if (planningMs === undefined) {
        const { rows } = await db.query<{ r: SubmittedRun }>(submitSql, params, { name: submitName });
        return rows[0]!.r;
      }
      // A run whose plan is being written is never seen without the mark (a run with no task would
      // be finished at its start).
      return db.transaction(async (tx) => {
        const { rows } = await tx.query<{ r: SubmittedRun }>(submitSql, params);
        const submitted = rows[0]!.r;
        if (!submitted.existing && submitted.runId) {
          await tx.query(`SELECT ${s}.open_plan_stream($1, $2)`, [submitted.runId, planningMs]);
        }
        return submitted;
      });
    },

    /** Sets cluster-wide limits of running tasks per queue. */
    async setQueueLimits(tx: Queryable, limits: Record<string, number>): Promise<void> {
      await tx.query(
        `INSERT INTO ${s}.queues (name, concurrency) SELECT key, value::integer FROM jsonb_each_text($1::jsonb)
         ON CONFLICT (name) DO UPDATE SET concurrency = excluded.concurrency`,
        [JSON.stringify(limits)],
      );
    },

    /** The run with an idempotency key, if one exists. */
    async findByIdempotencyKey(key: string): Promise<RunRow | undefined> {
      const { rows } = await db.query<RunRow>(`SELECT * FROM ${s}.runs WHERE idempotency_key = $1`, [key]);
      return rows[0];
    },

    async getRun(runId: string): Promise<RunRow | undefined> {
      const { rows } = await db.query<RunRow>(`SELECT * FROM ${s}.runs WHERE id = $1`, [runId]);
      return rows[0];
    },

    /** Every task of a run, in insertion order, with the duration of its last attempt. */
    async getTasks(runId: string): Promise<TaskStateRow[]> {
      const { rows } = await db.query<TaskStateRow>(
        `SELECT t.id, t.parent_id, t.kind, t.step, t.status, t.attempts, t.output, t.error, t.started_at, t.finished_at,
                u.duration_ms,
                CASE WHEN u.llm_calls > 0 OR u.tokens > 0 OR u.cost_usd > 0 THEN
                  jsonb_build_object('llmCalls', u.llm_calls, 'inputTokens', u.input_tokens,
                                     'outputTokens', u.output_tokens, 'costUsd', u.cost_usd::double precision) END AS usage,
                ${waitingColumn(s)} AS waiting
           FROM ${s}.tasks t,
                LATERAL (SELECT sum(a.duration_ms) AS duration_ms, coalesce(sum(a.llm_calls), 0) AS llm_calls,
                                coalesce(sum(a.input_tokens), 0) AS input_tokens,
                                coalesce(sum(a.output_tokens), 0) AS output_tokens,
                                coalesce(sum(a.input_tokens + a.output_tokens), 0) AS tokens,
                                coalesce(sum(a.cost_usd), 0) AS cost_usd
                           FROM ${s}.attempts a WHERE a.run_id = t.run_id AND a.task_id = t.id) u
          WHERE t.run_id = $1 ORDER BY t.position`,
        [runId],
      );
      return rows;
    },

    async listRuns(filter: { status?: string; workflow?: string; limit: number }): Promise<RunRow[]> {
      const { rows } = await db.query<RunRow>(
        `SELECT * FROM ${s}.runs WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR workflow = $2)
          ORDER BY created_at DESC LIMIT $3`,
        [filter.status ?? null, filter.workflow ?? null, filter.limit],
      );
      return rows;
    },
  };
}

export type RunQueries = ReturnType<typeof createRunQueries>;
