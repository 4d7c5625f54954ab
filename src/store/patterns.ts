/**
 * Query family: learned patterns. A pattern is the graph of a run of a normalised goal, counted
 * by how often runs of that exact structure succeeded and failed.
 */
import { z } from "zod";
import { openTaskInputs, sealTaskInputs, type PayloadCodec } from "./codec.js";
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** The outcome of one run, as recorded against its graph's structure. */
export interface PatternOutcome {
  normalizedGoal: string;
  structureHash: string;
  tasks: readonly unknown[];
  succeeded: boolean;
  workflow?: string | null;
  runId?: string | null;
}

/** A stored pattern. */
export interface PatternRow {
  normalizedGoal: string;
  structureHash: string;
  tasks: unknown[];
  successes: number;
  failures: number;
  updatedAt: Date;
}

/** The patterns as decomposers see them. */
export interface PatternStore {
  /** Adds one run's outcome to the pattern of its structure, creating it on first sight. */
  record(outcome: PatternOutcome): Promise<void>;
  /** The patterns of a normalised goal, most successful first. */
  forGoal(normalizedGoal: string): Promise<PatternRow[]>;
}

const patternRowSchema = z.object({
  normalized_goal: z.string(),
  structure_hash: z.string(),
  graph: z.object({ tasks: z.array(z.unknown()) }),
  successes: z.number().int(),
  failures: z.number().int(),
  updated_at: z.coerce.date(),
});

/** `codec` (optional) encodes the patterns' task inputs as they are stored, and decodes them as they are read. */
export function createPatternQueries(db: Db, schema: string, codec?: PayloadCodec): PatternStore {
  const s = quoteIdentifier(schema);
  return {
    async record(outcome) {
      await db.query(
        `INSERT INTO ${s}.patterns (normalized_goal, structure_hash, workflow, graph, successes, failures, last_run_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (normalized_goal, structure_hash) DO UPDATE SET
           successes = ${s}.patterns.successes + excluded.successes, failures = ${s}.patterns.failures + excluded.failures,
           graph = excluded.graph, workflow = coalesce(excluded.workflow, ${s}.patterns.workflow),
           last_run_id = coalesce(excluded.last_run_id, ${s}.patterns.last_run_id), updated_at = now()`,
        [
          outcome.normalizedGoal,
          outcome.structureHash,
          outcome.workflow ?? null,
          JSON.stringify({ tasks: sealTaskInputs(outcome.tasks, codec) }),
          outcome.succeeded ? 1 : 0,
          outcome.succeeded ? 0 : 1,
          outcome.runId ?? null,
        ],
      );
    },

    async forGoal(normalizedGoal) {
      const { rows } = await db.query(
        `SELECT normalized_goal, structure_hash, graph, successes, failures, updated_at FROM ${s}.patterns
          WHERE normalized_goal = $1 ORDER BY successes DESC, updated_at DESC LIMIT 20`,
        [normalizedGoal],
      );
      return rows.map((row) => {
        const parsed = patternRowSchema.parse(row);
        return {
          normalizedGoal: parsed.normalized_goal,
          structureHash: parsed.structure_hash,
          tasks: openTaskInputs(parsed.graph.tasks, codec),
          successes: parsed.successes,
          failures: parsed.failures,
          updatedAt: parsed.updated_at,
        };
      });
    },
  };
}
