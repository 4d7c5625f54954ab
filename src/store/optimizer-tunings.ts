/**
 * Query family: stored tunings. `htdag optimize <workflow> --apply` stores the changes it applied,
 * and every later run of the workflow applies them (src/orchestrator/run-optimization.ts).
 *
 * A tuning is kept as a row of `graphs` with id `htdag:tuning:<workflow>`, decomposer
 * `optimizer:<level>` and the changes as its `tasks` array: graph rows are never pruned (events
 * are), and this needs no migration. No run ever references such a row (runs.graph_id points at
 * the graphs they ran), so nothing else reads it as a task graph.
 */
import { z } from "zod";
import type { Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** Prefix of the graph ids that hold tunings. */
export const TUNING_ID_PREFIX = "htdag:tuning:";

/** A workflow's stored tuning. */
export interface StoredTuning<Change = unknown> {
  workflow: string;
  level: string;
  /** The changes as stored (the optimizer parses them). */
  changes: Change[];
  appliedAt: Date;
}

const tuningRowSchema = z.object({
  decomposer: z.string(),
  tasks: z.array(z.unknown()),
  decomposed_at: z.coerce.date(),
});

/** The graph a workflow last ran, with the options of that run. */
export interface LatestRunGraph {
  runId: string;
  maxParallel: number;
  graph: { id: string; goal: string; decomposer: string; source: string; tasks: unknown[]; decomposedAt: string };
  options: Record<string, unknown>;
}

const latestRowSchema = z.object({
  run_id: z.string(), max_parallel: z.number().int(), options: z.record(z.string(), z.unknown()).nullable(),
  id: z.string(), goal: z.string(), decomposer: z.string(), source: z.string(), tasks: z.array(z.unknown()), decomposed_at: z.coerce.date(),
});

export function createTuningQueries(db: Queryable, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** Stores (replacing) the tuning of `workflow`; returns when it was stored. */
    async save(tuning: { workflow: string; level: string; goal: string; changes: readonly unknown[] }): Promise<Date> {
      const { rows } = await db.query<{ decomposed_at: unknown }>(
        `INSERT INTO ${s}.graphs (id, goal, decomposer, source, tasks, decomposed_at) VALUES ($1, $2, $3, 'function', $4, now())
         ON CONFLICT (id) DO UPDATE SET goal = excluded.goal, decomposer = excluded.decomposer, tasks = excluded.tasks,
           decomposed_at = excluded.decomposed_at RETURNING decomposed_at`,
        [`${TUNING_ID_PREFIX}${tuning.workflow}`, tuning.goal, `optimizer:${tuning.level}`, JSON.stringify(tuning.changes)]);
      return z.coerce.date().parse(rows[0]?.decomposed_at);
    },

    /** The stored tuning of `workflow`, or null. */
    async load(workflow: string): Promise<StoredTuning | null> {
      const { rows } = await db.query(`SELECT decomposer, tasks, decomposed_at FROM ${s}.graphs WHERE id = $1`, [`${TUNING_ID_PREFIX}${workflow}`]);
      if (rows.length === 0) return null;
      const row = tuningRowSchema.parse(rows[0]);
      return { workflow, level: row.decomposer.replace(/^optimizer:/, ""), changes: row.tasks, appliedAt: row.decomposed_at };
    },

    /** Removes the stored tuning of `workflow`; true if there was one. */
    async clear(workflow: string): Promise<boolean> {
      const { rowCount } = await db.query(`DELETE FROM ${s}.graphs WHERE id = $1`, [`${TUNING_ID_PREFIX}${workflow}`]);
      return rowCount > 0;
    },

    /** The graph of the newest run of `workflow` and that run's options, or null if it has none. */
    async latestRunGraph(workflow: string): Promise<LatestRunGraph | null> {
      const { rows } = await db.query(
        `SELECT r.id::text AS run_id, r.max_parallel, r.options, g.id, g.goal, g.decomposer, g.source, g.tasks, g.decomposed_at
           FROM ${s}.runs r JOIN ${s}.graphs g ON g.id = r.graph_id
          WHERE r.workflow = $1 ORDER BY r.created_at DESC LIMIT 1`, [workflow]);
      if (rows.length === 0) return null;
      const row = latestRowSchema.parse(rows[0]);
      return { runId: row.run_id, maxParallel: row.max_parallel, options: row.options ?? {},
        graph: { id: row.id, goal: row.goal, decomposer: row.decomposer, source: row.source, tasks: row.tasks, decomposedAt: row.decomposed_at.toISOString() } };
    },
  };
}

export type TuningQueries = ReturnType<typeof createTuningQueries>;
