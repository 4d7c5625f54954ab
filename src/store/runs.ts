/** Query family: runs and their tasks (insert, read, list). */
import type { Db, Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

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
  pause_reason: string | null;
  error: { message?: string; taskId?: string } | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
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
}

export function createRunQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** Records the graph, the workflow and the run with its tasks and edges, in the caller's transaction. */
    async insertRun(
      tx: Queryable,
      run: NewRun,
      graph: { id: string; goal: string; decomposer: string; source: string; tasks: unknown; decomposedAt: string },
      tasks: unknown[],
      edges: unknown[],
    ): Promise<void> {
      await tx.query(`INSERT INTO ${s}.workflows (name) VALUES ($1) ON CONFLICT DO NOTHING`, [run.workflow]);
      await tx.query(
        `INSERT INTO ${s}.graphs (id, goal, decomposer, source, tasks, decomposed_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET tasks = excluded.tasks, goal = excluded.goal`,
        [graph.id, graph.goal, graph.decomposer, graph.source, JSON.stringify(graph.tasks), graph.decomposedAt],
      );
      await tx.query(
        `INSERT INTO ${s}.runs (id, workflow, graph_id, goal, priority, max_parallel, fail_fast, options, input,
                                idempotency_key, run_at, deadline_at, total_tasks, remaining_tasks)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, now()),
                 CASE WHEN $12::integer IS NULL THEN NULL ELSE now() + $12::integer * interval '1 millisecond' END, $13, $13)`,
        [
          run.id,
          run.workflow,
          run.graphId,
          run.goal,
          run.priority,
          run.maxParallel,
          run.failFast,
          JSON.stringify(run.options),
          JSON.stringify(run.input ?? null),
          run.idempotencyKey,
          run.runAt,
          run.deadlineMs,
          tasks.length,
        ],
      );
      await tx.query(
        `INSERT INTO ${s}.tasks (run_id, id, position, parent_id, kind, step, description, remaining_deps, run_if, spec,
                                 input, priority, queue, max_attempts, attempt_budget, timeout_ms, backoff)
         SELECT $1, id, e.n, parent_id, kind, step, description, remaining_deps, run_if, spec, input,
                priority, queue, max_attempts, max_attempts, timeout_ms, backoff
           FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS e(value, n),
                jsonb_to_record(e.value) AS x(id text, parent_id text, kind text, step text, description text,
                remaining_deps integer, run_if text, spec jsonb, input jsonb, priority integer, queue text,
                max_attempts integer, timeout_ms integer, backoff jsonb)`,
        [run.id, JSON.stringify(tasks)],
      );
      await tx.query(
        `INSERT INTO ${s}.task_edges (run_id, task_id, depends_on)
         SELECT $1, task_id, depends_on FROM jsonb_to_recordset($2::jsonb) AS x(task_id text, depends_on text)`,
        [run.id, JSON.stringify(edges)],
      );
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
                (SELECT sum(a.duration_ms) FROM ${s}.attempts a WHERE a.run_id = t.run_id AND a.task_id = t.id) AS duration_ms
           FROM ${s}.tasks t WHERE t.run_id = $1 ORDER BY t.position`,
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
