/**
 * Query family: revisions of a run's plan (docs/living-plans.md): the plan as it stands and the revisions
 * applied. Applying one is an executor transition: `applyRevision` in tasks.ts.
 */
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";
import type { ClaimedTask, ReplanMark } from "./tasks.js";

/** One task of a run's plan as stored (input and output as stored, encoded with a codec). */
export interface StoredPlanRow {
  id: string;
  status: string;
  spec: Record<string, unknown>;
  input: unknown;
  output: unknown;
  error: unknown;
  replan: ReplanMark | null;
}

/** What `apply_revision` reports back. */
export interface ApplyRevisionResult {
  /** False when it was not applied: not the live revision attempt, stale, or the run out of revisions. */
  settled: boolean;
  /** Not applied because the plan was revised meanwhile: the revision is asked again. */
  stale?: boolean;
  /** The run's revision after it. */
  revision?: number;
  runStatus: string | null;
  /** Attempts of superseded tasks that were running: their processes abort them. */
  aborted: { taskId: string; attempt: number }[];
  added?: string[];
  removed?: string[];
  changed?: string[];
  claimed: ClaimedTask[];
}

/** One applied revision, as `getRun(runId).revisions` lists it. */
export interface RunRevision {
  revision: number;
  reason: string;
  taskId: string | null;
  added: string[];
  removed: string[];
  changed: string[];
  at: Date;
  /** What the decomposition cost: decomposer, source, llmCalls, inputTokens, outputTokens, repairs, latencyMs. */
  decomposition: Record<string, unknown>;
}

/** The queries of plan revisions over `schema`. */
export function createRevisionQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /**
     * The run's revision number, its revisions allowed (`replan.maxRevisions`, as apply_revision reads
     * it), goal, and every task that is not superseded, in plan order.
     */
    async plan(
      runId: string,
    ): Promise<{ revision: number; maxRevisions: number; goal: string; tasks: StoredPlanRow[] } | null> {
      const { rows } = await db.query<{
        revision: number;
        max_revisions: number;
        goal: string;
        tasks: StoredPlanRow[] | null;
      }>(
        `SELECT r.revision, coalesce((r.options -> 'replan' ->> 'maxRevisions')::integer, 2) AS max_revisions, r.goal,
                (SELECT jsonb_agg(jsonb_build_object('id', t.id, 'status', t.status, 'spec', t.spec, 'input', t.input,
                                                     'output', t.output, 'error', t.error, 'replan', t.replan)
                                  ORDER BY t.position, t.id)
                   FROM ${s}.tasks t WHERE t.run_id = r.id AND t.status <> 'superseded') AS tasks
           FROM ${s}.runs r WHERE r.id = $1`,
        [runId],
      );
      const row = rows[0];
      return row
        ? { revision: row.revision, maxRevisions: row.max_revisions, goal: row.goal, tasks: row.tasks ?? [] }
        : null;
    },

    /** Marks a recorded, pending run's plan as being written (streamPlan) for `planningMs`. */
    async openPlanStream(runId: string, planningMs: number): Promise<boolean> {
      const { rows } = await db.query<{ ok: boolean }>(`SELECT ${s}.open_plan_stream($1, $2) AS ok`, [
        runId,
        planningMs,
      ]);
      return rows[0]?.ok ?? false;
    },

    /** Renews the lease of a plan being written; false once the plan is not being written any more. */
    async renewPlanStream(runId: string, planningMs: number): Promise<boolean> {
      const { rows } = await db.query<{ ok: boolean }>(`SELECT ${s}.renew_plan_stream($1, $2) AS ok`, [
        runId,
        planningMs,
      ]);
      return rows[0]?.ok ?? false;
    },

    /** Adds tasks that arrived while the plan is written (rows as bindGraph lays them out, edges to tasks of the run). */
    async addPlanTasks(
      runId: string,
      tasks: unknown[],
      edges: unknown[],
      planningMs: number,
      channel: string | null,
    ): Promise<{ added: number; runStatus: string | null }> {
      const { rows } = await db.query<{ r: { added: number; runStatus: string | null } }>(
        `SELECT ${s}.add_plan_tasks($1, $2, $3, $4, $5) AS r`,
        [runId, JSON.stringify(tasks), JSON.stringify(edges), planningMs, channel],
      );
      return rows[0]!.r;
    },

    /**
     * Ends the writing of a run's plan: adds the tasks that had not arrived (`revise` false), or
     * revises the plan to the whole plan (`revise` true, with `reason`); the run's graph is `graphId`.
     */
    async closePlanStream(
      runId: string,
      graphId: string,
      tasks: unknown[],
      edges: unknown[],
      revise: { reason: string; record: Record<string, unknown> } | null,
      channel: string | null,
    ): Promise<{ closed: boolean; runStatus: string | null; aborted: { taskId: string; attempt: number }[] }> {
      const { rows } = await db.query<{
        r: { closed: boolean; runStatus: string | null; aborted: { taskId: string; attempt: number }[] };
      }>(`SELECT ${s}.close_plan_stream($1, $2, $3, $4, $5, $6, $7, $8) AS r`, [
        runId,
        graphId,
        JSON.stringify(tasks),
        JSON.stringify(edges),
        revise !== null,
        revise?.reason ?? null,
        revise ? JSON.stringify(revise.record) : null,
        channel,
      ]);
      return rows[0]!.r;
    },

    /** The run's applied revisions, oldest first. */
    async list(runId: string): Promise<RunRevision[]> {
      const { rows } = await db.query<{
        revision: number;
        reason: string;
        task_id: string | null;
        added: string[];
        removed: string[];
        changed: string[];
        created_at: Date;
        decomposition: Record<string, unknown> | null;
      }>(
        `SELECT revision, reason, task_id, added, removed, changed, created_at, decomposition
           FROM ${s}.run_revisions WHERE run_id = $1 ORDER BY revision`,
        [runId],
      );
      return rows.map((row) => ({
        revision: row.revision,
        reason: row.reason,
        taskId: row.task_id,
        added: row.added,
        removed: row.removed,
        changed: row.changed,
        at: row.created_at,
        decomposition: row.decomposition ?? {},
      }));
    },
  };
}

export type RevisionQueries = ReturnType<typeof createRevisionQueries>;
