/**
 * Query family: what the dashboard reads about runs and workflows: the workflows with their run
 * counts, a workflow's run durations and status counts, and the graph of its latest run.
 */
import type { DurationSummary } from "./duration-summary.js";
import type { Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** A workflow with how many runs it has and when the last one was created. */
export interface WorkflowRow {
  name: string;
  runs: number;
  lastRunAt: Date | null;
}

/** Durations of a workflow's completed runs (start to finish), in ms. */
export type RunDurationRow = DurationSummary;

/** The graph recorded for a run, as stored (`tasks` is the validated task list). */
export interface StoredGraphRow {
  id: string;
  goal: string;
  decomposer: string;
  source: string;
  tasks: unknown;
  decomposedAt: Date;
}

/** A double read back from either driver (pg returns some numerics as strings). */
function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  const number = Number(value);
  return Number.isFinite(number) ? number : null;
}

export function createDashboardRunQueries(db: Queryable, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** Every workflow, the most recently run first. */
    async workflows(): Promise<WorkflowRow[]> {
      const { rows } = await db.query<{ name: string; runs: number; last_run_at: Date | null }>(
        `SELECT w.name, count(r.id)::int AS runs, max(r.created_at) AS last_run_at
           FROM ${s}.workflows w LEFT JOIN ${s}.runs r ON r.workflow = w.name
          GROUP BY w.name ORDER BY max(r.created_at) DESC NULLS LAST, w.name`,
      );
      return rows.map((r) => ({ name: r.name, runs: r.runs, lastRunAt: r.last_run_at }));
    },

    /** Runs of `workflow` by status. */
    async statusCounts(workflow: string): Promise<Record<string, number>> {
      const { rows } = await db.query<{ status: string; runs: number }>(
        `SELECT status, count(*)::int AS runs FROM ${s}.runs WHERE workflow = $1 GROUP BY status`,
        [workflow],
      );
      return Object.fromEntries(rows.map((r) => [r.status, r.runs]));
    },

    /** Percentiles of the durations of the latest `runLimit` completed runs of `workflow`. */
    async runDurations(workflow: string, runLimit = 1000): Promise<RunDurationRow> {
      const { rows } = await db.query<{
        samples: number;
        p50: unknown;
        p95: unknown;
        p99: unknown;
        mean: unknown;
        max: unknown;
      }>(
        `SELECT count(*)::int AS samples,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY d) AS p95,
                percentile_cont(0.99) WITHIN GROUP (ORDER BY d) AS p99,
                avg(d) AS mean, max(d) AS max
           FROM (SELECT extract(epoch FROM finished_at - started_at) * 1000 AS d FROM ${s}.runs
                  WHERE workflow = $1 AND status = 'completed' AND started_at IS NOT NULL AND finished_at IS NOT NULL
                  ORDER BY created_at DESC LIMIT $2) r`,
        [workflow, runLimit],
      );
      const row = rows[0];
      return {
        samples: row?.samples ?? 0,
        p50Ms: toNumber(row?.p50),
        p95Ms: toNumber(row?.p95),
        p99Ms: toNumber(row?.p99),
        meanMs: toNumber(row?.mean),
        maxMs: toNumber(row?.max),
      };
    },

    /** The graph of the most recent run of `workflow` that recorded one. */
    async latestGraph(workflow: string): Promise<StoredGraphRow | undefined> {
      const { rows } = await db.query<{
        id: string;
        goal: string;
        decomposer: string;
        source: string;
        tasks: unknown;
        decomposed_at: Date;
      }>(
        `SELECT g.id, g.goal, g.decomposer, g.source, g.tasks, g.decomposed_at
           FROM ${s}.runs r JOIN ${s}.graphs g ON g.id = r.graph_id
          WHERE r.workflow = $1 ORDER BY r.created_at DESC LIMIT 1`,
        [workflow],
      );
      const row = rows[0];
      return (
        row && {
          id: row.id,
          goal: row.goal,
          decomposer: row.decomposer,
          source: row.source,
          tasks: row.tasks,
          decomposedAt: row.decomposed_at,
        }
      );
    },
  };
}

export type DashboardRunQueries = ReturnType<typeof createDashboardRunQueries>;
