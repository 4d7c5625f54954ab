/**
 * Query family: execution metrics for the optimizer. Per (workflow, task) and per step: samples,
 * duration percentiles of successes, failure and timeout counts split into transient (the task
 * completed later in the same run) and deterministic (it never did), retry outcomes and queue wait.
 */
import type { Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** Statistics of one task id of a workflow (or of one step, across workflows), over finished attempts. */
export interface TaskMetrics {
  /** The task id, or the step name for per-step metrics. */
  key: string;
  step: string | null;
  /** Runs in which the task made at least one finished attempt. */
  runs: number;
  attempts: number;
  successes: number;
  failures: number;
  timeouts: number;
  /** Failed or timed-out attempts of a task that completed later in the same run. */
  transientFailures: number;
  /** Failed or timed-out attempts of a task that never completed in that run. */
  deterministicFailures: number;
  /** Timed-out attempts followed by a success in the same run (a hang, not slowness). */
  timeoutsRecovered: number;
  /** Runs in which the task never completed. */
  runsNeverSucceeded: number;
  /** Runs in which every attempt of the task timed out (it was slower than its limit there, not unlucky). */
  timeoutOnlyRuns: number;
  /** Runs in which at least one attempt of the task timed out. */
  runsWithTimeout: number;
  firstAttempts: number;
  firstAttemptFailures: number;
  /** First attempts that failed or timed out in runs where the task completed later (a retry fixed them). */
  firstAttemptsRecovered: number;
  /** Attempts made right after a failed or timed-out one, and how many of those failed again. */
  retries: number;
  retriesFailed: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  maxSuccessMs: number | null;
  meanQueueWaitMs: number | null;
  /** Claim and settle around the step of a successful attempt (its duration less the step's own time), mean; null where unmeasured. */
  meanOverheadMs: number | null;
  /** Time spent in attempts that timed out, in ms. */
  timeoutWaitMs: number;
}

const FINISHED = "('completed', 'failed', 'timed_out')";

/**
 * What a sample spent on LLM calls (a run, or a task within one run): p50 and p95 of its cost in USD
 * and of its tokens (input plus output), as SQL `percentile_cont`.
 */
export interface SpendPercentiles {
  /** Samples the percentiles are over: finished runs, or runs in which the task made a finished attempt. */
  samples: number;
  /** Samples that spent anything (an LLM call, a token or a cent). */
  samplesWithUsage: number;
  p50Usd: number;
  p95Usd: number;
  p50Tokens: number;
  p95Tokens: number;
}

const SPEND_PERCENTILES = `count(*)::int AS samples,
      count(*) FILTER (WHERE llm_calls > 0 OR tokens > 0 OR cost_usd > 0)::int AS samples_with_usage,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY cost_usd) AS p50_usd,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY cost_usd) AS p95_usd,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY tokens) AS p50_tokens,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY tokens) AS p95_tokens`;

interface SpendRow {
  samples: number;
  samples_with_usage: number;
  p50_usd: unknown;
  p95_usd: unknown;
  p50_tokens: unknown;
  p95_tokens: unknown;
}

function toSpend(row: SpendRow): SpendPercentiles {
  return {
    samples: row.samples,
    samplesWithUsage: row.samples_with_usage,
    p50Usd: toNumber(row.p50_usd) ?? 0,
    p95Usd: toNumber(row.p95_usd) ?? 0,
    p50Tokens: toNumber(row.p50_tokens) ?? 0,
    p95Tokens: toNumber(row.p95_tokens) ?? 0,
  };
}

function aggregateSql(s: string, groupBy: "task_id" | "step", where: string): string {
  return `WITH a AS (
      SELECT a.run_id, a.task_id, a.attempt, a.step, a.status, a.queue_wait_ms,
             -- The step's own time where it was measured (older rows: claim to settle).
             coalesce(a.step_ms, a.duration_ms) AS duration_ms, a.duration_ms AS attempt_ms, a.step_ms IS NOT NULL AS step_measured,
             bool_or(a.status = 'completed') OVER (PARTITION BY a.run_id, a.task_id) AS task_completed,
             bool_and(a.status = 'timed_out') OVER (PARTITION BY a.run_id, a.task_id) AS only_timeouts,
             lag(a.status) OVER (PARTITION BY a.run_id, a.task_id ORDER BY a.attempt) AS previous_status
        FROM ${s}.attempts a
       WHERE a.status IN ${FINISHED} AND ${where})
    SELECT ${groupBy === "task_id" ? "task_id" : "coalesce(step, task_id)"} AS key, min(step) AS step,
      count(DISTINCT run_id)::int AS runs, count(*)::int AS attempts,
      count(*) FILTER (WHERE status = 'completed')::int AS successes,
      count(*) FILTER (WHERE status = 'failed')::int AS failures,
      count(*) FILTER (WHERE status = 'timed_out')::int AS timeouts,
      count(*) FILTER (WHERE status <> 'completed' AND task_completed)::int AS transient_failures,
      count(*) FILTER (WHERE status <> 'completed' AND NOT task_completed)::int AS deterministic_failures,
      count(*) FILTER (WHERE status = 'timed_out' AND task_completed)::int AS timeouts_recovered,
      count(DISTINCT run_id::text || '/' || task_id) FILTER (WHERE NOT task_completed)::int AS runs_never_succeeded,
      count(DISTINCT run_id::text || '/' || task_id) FILTER (WHERE only_timeouts)::int AS timeout_only_runs,
      count(DISTINCT run_id::text || '/' || task_id) FILTER (WHERE status = 'timed_out')::int AS runs_with_timeout,
      count(*) FILTER (WHERE attempt = 1)::int AS first_attempts,
      count(*) FILTER (WHERE attempt = 1 AND status <> 'completed')::int AS first_attempt_failures,
      count(*) FILTER (WHERE attempt = 1 AND status <> 'completed' AND task_completed)::int AS first_attempts_recovered,
      count(*) FILTER (WHERE previous_status IN ('failed', 'timed_out'))::int AS retries,
      count(*) FILTER (WHERE previous_status IN ('failed', 'timed_out') AND status <> 'completed')::int AS retries_failed,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE status = 'completed') AS p50_ms,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE status = 'completed') AS p95_ms,
      percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE status = 'completed') AS p99_ms,
      avg(duration_ms) FILTER (WHERE status = 'completed') AS mean_ms,
      max(duration_ms) FILTER (WHERE status = 'completed') AS max_success_ms,
      avg(queue_wait_ms) AS mean_queue_wait_ms,
      avg(attempt_ms - duration_ms) FILTER (WHERE status = 'completed' AND step_measured) AS mean_overhead_ms,
      coalesce(sum(attempt_ms) FILTER (WHERE status = 'timed_out'), 0) AS timeout_wait_ms
    FROM a GROUP BY 1 ORDER BY 1`;
}

interface MetricsRow {
  key: string;
  step: string | null;
  runs: number;
  attempts: number;
  successes: number;
  failures: number;
  timeouts: number;
  transient_failures: number;
  deterministic_failures: number;
  timeouts_recovered: number;
  runs_never_succeeded: number;
  timeout_only_runs: number;
  runs_with_timeout: number;
  first_attempts: number;
  first_attempt_failures: number;
  first_attempts_recovered: number;
  retries: number;
  retries_failed: number;
  p50_ms: unknown;
  p95_ms: unknown;
  p99_ms: unknown;
  mean_ms: unknown;
  max_success_ms: unknown;
  mean_queue_wait_ms: unknown;
  mean_overhead_ms: unknown;
  timeout_wait_ms: unknown;
}

/** A double read back from either driver (pg may return numerics as strings). */
function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  const number = Number(value);
  return Number.isFinite(number) ? number : null;
}

function toMetrics(row: MetricsRow): TaskMetrics {
  return {
    key: row.key,
    step: row.step,
    runs: row.runs,
    attempts: row.attempts,
    successes: row.successes,
    failures: row.failures,
    timeouts: row.timeouts,
    transientFailures: row.transient_failures,
    deterministicFailures: row.deterministic_failures,
    timeoutsRecovered: row.timeouts_recovered,
    runsNeverSucceeded: row.runs_never_succeeded,
    timeoutOnlyRuns: row.timeout_only_runs,
    runsWithTimeout: row.runs_with_timeout,
    firstAttempts: row.first_attempts,
    firstAttemptFailures: row.first_attempt_failures,
    firstAttemptsRecovered: row.first_attempts_recovered,
    retries: row.retries,
    retriesFailed: row.retries_failed,
    p50Ms: toNumber(row.p50_ms),
    p95Ms: toNumber(row.p95_ms),
    p99Ms: toNumber(row.p99_ms),
    meanMs: toNumber(row.mean_ms),
    maxSuccessMs: toNumber(row.max_success_ms),
    meanQueueWaitMs: toNumber(row.mean_queue_wait_ms),
    meanOverheadMs: toNumber(row.mean_overhead_ms),
    timeoutWaitMs: toNumber(row.timeout_wait_ms) ?? 0,
  };
}

export function createMetricsQueries(db: Queryable, schema: string) {
  const s = quoteIdentifier(schema);
  const recentRuns = `a.run_id IN (SELECT id FROM ${s}.runs WHERE workflow = $1 ORDER BY created_at DESC LIMIT $2)`;
  return {
    /** Per task id of `workflow`, over its most recent `runLimit` runs. */
    async taskMetrics(workflow: string, runLimit = 1000): Promise<TaskMetrics[]> {
      const { rows } = await db.query<MetricsRow>(aggregateSql(s, "task_id", `a.workflow = $1 AND ${recentRuns}`), [
        workflow,
        runLimit,
      ]);
      return rows.map(toMetrics);
    },

    /** Per step, over every workflow (or only `workflow`). */
    async stepMetrics(workflow: string | null = null): Promise<TaskMetrics[]> {
      const { rows } = await db.query<MetricsRow>(aggregateSql(s, "step", "($1::text IS NULL OR a.workflow = $1)"), [
        workflow,
      ]);
      return rows.map(toMetrics);
    },

    /**
     * Successful durations in ms per task id of `workflow` over its most recent `runLimit` runs, at
     * most `perTask` (the newest) each: the samples `aggressive` fits its duration models on.
     */
    async successDurations(workflow: string, runLimit = 1000, perTask = 2000): Promise<Map<string, number[]>> {
      const { rows } = await db.query<{ task_id: string; durations: unknown[] }>(
        `SELECT task_id, array_agg(duration_ms ORDER BY started_at DESC) AS durations
           FROM (SELECT a.task_id, coalesce(a.step_ms, a.duration_ms) AS duration_ms, a.started_at,
                        row_number() OVER (PARTITION BY a.task_id ORDER BY a.started_at DESC) AS newest
                   FROM ${s}.attempts a
                  WHERE a.workflow = $1 AND a.status = 'completed' AND a.duration_ms IS NOT NULL AND ${recentRuns}) d
          WHERE newest <= $3 GROUP BY task_id ORDER BY task_id`,
        [workflow, runLimit, perTask],
      );
      return new Map(rows.map((r) => [r.task_id, r.durations.map((d) => toNumber(d) ?? 0)]));
    },

    /**
     * How much longer than its limit a timed-out attempt of `workflow` lasted (median over its most recent
     * `runLimit` runs): the claim and settle around the step, which durations include and timeouts do not.
     */
    async timeoutOverrun(workflow: string, runLimit = 1000): Promise<{ samples: number; p50Ms: number | null }> {
      const { rows } = await db.query<{ samples: number; p50_ms: unknown }>(
        `SELECT count(*)::int AS samples, percentile_cont(0.5) WITHIN GROUP (ORDER BY coalesce(a.step_ms, a.duration_ms) - t.timeout_ms) AS p50_ms
           FROM ${s}.attempts a JOIN ${s}.tasks t ON t.run_id = a.run_id AND t.id = a.task_id
          WHERE a.workflow = $1 AND a.status = 'timed_out' AND a.duration_ms IS NOT NULL AND ${recentRuns}`,
        [workflow, runLimit],
      );
      return { samples: rows[0]?.samples ?? 0, p50Ms: toNumber(rows[0]?.p50_ms) };
    },

    /** Cluster-wide limits of the queues that have a row (null: no limit). */
    async queueLimits(): Promise<Record<string, number | null>> {
      const { rows } = await db.query<{ name: string; concurrency: number | null }>(
        `SELECT name, concurrency FROM ${s}.queues ORDER BY name`,
      );
      return Object.fromEntries(rows.map((r) => [r.name, r.concurrency]));
    },

    /**
     * Over the given runs: time spent in attempts that timed out (ms), how many did, and their mean
     * overrun (duration − the task's limit: the claim and settle around the step). Benchmarks compare phases with it.
     */
    async timeoutWaitOfRuns(
      runIds: readonly string[],
    ): Promise<{ waitedMs: number; timedOut: number; meanOverrunMs: number | null }> {
      const { rows } = await db.query<{ waited: unknown; timed_out: number; overrun: unknown }>(
        `SELECT coalesce(sum(a.duration_ms), 0) AS waited, count(*)::int AS timed_out, avg(a.duration_ms - t.timeout_ms) AS overrun
           FROM ${s}.attempts a JOIN ${s}.tasks t ON t.run_id = a.run_id AND t.id = a.task_id
          WHERE a.run_id = ANY ($1::uuid[]) AND a.status = 'timed_out'`,
        [[...runIds]],
      );
      return {
        waitedMs: toNumber(rows[0]?.waited) ?? 0,
        timedOut: rows[0]?.timed_out ?? 0,
        meanOverrunMs: toNumber(rows[0]?.overrun),
      };
    },

    /**
     * What the finished runs of `workflow` spent (the latest `runLimit`; the runs' own columns:
     * decompositions, revisions and steps together); null when it has no finished run.
     */
    async runSpend(workflow: string, runLimit = 1000): Promise<SpendPercentiles | null> {
      const { rows } = await db.query<SpendRow>(
        `WITH r AS (
            SELECT llm_calls, (input_tokens + output_tokens)::float8 AS tokens, cost_usd::float8 AS cost_usd
              FROM ${s}.runs WHERE workflow = $1 AND status IN ${FINISHED} ORDER BY created_at DESC LIMIT $2)
         SELECT ${SPEND_PERCENTILES} FROM r`,
        [workflow, runLimit],
      );
      const row = rows[0];
      return row && row.samples > 0 ? toSpend(row) : null;
    },

    /**
     * What each task id of `workflow` spent per run (its finished attempts summed, retries included),
     * over the latest `runLimit` runs; only task ids with some usage.
     */
    async taskSpend(workflow: string, runLimit = 1000): Promise<Map<string, SpendPercentiles>> {
      const { rows } = await db.query<SpendRow & { task_id: string }>(
        `WITH t AS (
            SELECT a.task_id, sum(a.llm_calls) AS llm_calls, sum(a.input_tokens + a.output_tokens)::float8 AS tokens,
                   sum(a.cost_usd)::float8 AS cost_usd
              FROM ${s}.attempts a
             WHERE a.workflow = $1 AND a.status IN ${FINISHED} AND ${recentRuns}
             GROUP BY a.task_id, a.run_id)
         SELECT task_id, ${SPEND_PERCENTILES}
           FROM t GROUP BY task_id HAVING bool_or(llm_calls > 0 OR tokens > 0 OR cost_usd > 0) ORDER BY task_id`,
        [workflow, runLimit],
      );
      return new Map(rows.map((r) => [r.task_id, toSpend(r)]));
    },

    /** Finished runs of `workflow` (completed, failed or timed out). */
    async finishedRuns(workflow: string): Promise<number> {
      const { rows } = await db.query<{ runs: number }>(
        `SELECT count(*)::int AS runs FROM ${s}.runs WHERE workflow = $1 AND status IN ('completed', 'failed', 'timed_out')`,
        [workflow],
      );
      return rows[0]?.runs ?? 0;
    },
  };
}

export type MetricsQueries = ReturnType<typeof createMetricsQueries>;
