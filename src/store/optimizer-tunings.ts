/**
 * Query family: stored tunings (table `workflow_tunings`). `htdag optimize <workflow> --apply`
 * stores the changes it applied, and every later run of the workflow applies them
 * (src/orchestrator/run-optimization.ts).
 */
import { z } from "zod";
import { openTaskInputs, type PayloadCodec } from "./codec.js";
import type { Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** A workflow's stored tuning. */
export interface StoredTuning<Change = unknown> {
  workflow: string;
  level: string;
  /** The changes as stored (the optimizer parses them). */
  changes: Change[];
  appliedAt: Date;
}

const tuningRowSchema = z.object({
  level: z.string(),
  changes: z.array(z.unknown()),
  applied_at: z.coerce.date(),
});

/** The graph a workflow last ran, with the options of that run. */
export interface LatestRunGraph {
  runId: string;
  maxParallel: number;
  graph: { id: string; goal: string; decomposer: string; source: string; tasks: unknown[]; decomposedAt: string };
  options: Record<string, unknown>;
}

const latestRowSchema = z.object({
  run_id: z.string(),
  max_parallel: z.number().int(),
  options: z.record(z.string(), z.unknown()).nullable(),
  id: z.string(),
  goal: z.string(),
  decomposer: z.string(),
  source: z.string(),
  tasks: z.array(z.unknown()),
  decomposed_at: z.coerce.date(),
});

/** `codec` (optional) decodes the task inputs of the graphs read back. */
export function createTuningQueries(db: Queryable, schema: string, codec?: PayloadCodec) {
  const s = quoteIdentifier(schema);
  return {
    /** Stores (replacing) the tuning of `workflow`; returns when it was stored. */
    async save(tuning: { workflow: string; level: string; goal: string; changes: readonly unknown[] }): Promise<Date> {
      const { rows } = await db.query<{ applied_at: unknown }>(
        `WITH w AS (INSERT INTO ${s}.workflows (name) VALUES ($1) ON CONFLICT DO NOTHING)
         INSERT INTO ${s}.workflow_tunings (workflow, level, goal, changes) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workflow) DO UPDATE SET level = excluded.level, goal = excluded.goal, changes = excluded.changes,
           applied_at = now() RETURNING applied_at`,
        [tuning.workflow, tuning.level, tuning.goal, JSON.stringify(tuning.changes)],
      );
      return z.coerce.date().parse(rows[0]?.applied_at);
    },

    /** The stored tuning of `workflow`, or null. */
    async load(workflow: string): Promise<StoredTuning | null> {
      const { rows } = await db.query(
        `SELECT level, changes, applied_at FROM ${s}.workflow_tunings WHERE workflow = $1`,
        [workflow],
      );
      if (rows.length === 0) {
        return null;
      }
      const row = tuningRowSchema.parse(rows[0]);
      return { workflow, level: row.level, changes: row.changes, appliedAt: row.applied_at };
    },

    /** Removes the stored tuning of `workflow`; true if there was one. */
    async clear(workflow: string): Promise<boolean> {
      const { rowCount } = await db.query(`DELETE FROM ${s}.workflow_tunings WHERE workflow = $1`, [workflow]);
      return rowCount > 0;
    },

    /** The graph of the newest run of `workflow` and that run's options, or null if it has none. */
    async latestRunGraph(workflow: string): Promise<LatestRunGraph | null> {
      const { rows } = await db.query(
        `SELECT r.id::text AS run_id, r.max_parallel, r.options, g.id, g.goal, g.decomposer, g.source, g.tasks, g.decomposed_at
           FROM ${s}.runs r JOIN ${s}.graphs g ON g.id = r.graph_id
          WHERE r.workflow = $1 ORDER BY r.created_at DESC LIMIT 1`,
        [workflow],
      );
      if (rows.length === 0) {
        return null;
      }
      const row = latestRowSchema.parse(rows[0]);
      return {
        runId: row.run_id,
        maxParallel: row.max_parallel,
        options: row.options ?? {},
        graph: {
          id: row.id,
          goal: row.goal,
          decomposer: row.decomposer,
          source: row.source,
          tasks: openTaskInputs(row.tasks, codec),
          decomposedAt: row.decomposed_at.toISOString(),
        },
      };
    },
  };
}

export type TuningQueries = ReturnType<typeof createTuningQueries>;
