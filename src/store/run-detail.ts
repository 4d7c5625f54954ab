/**
 * Query family (read-only): a run's tasks as a graph, for rendering a run with its statuses
 * (`htdag show --format mermaid|dot|tree|json`). One round trip; changes nothing.
 */
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** One task of a run as drawn: its place in the graph and when it ran. */
export interface RunGraphTask {
  id: string;
  /** Dependencies as the graph declared them (a composite's children inherit the composite's). */
  dependsOn: string[];
  /** `{ from, path?, batchSize? }` when the task fans out over a dependency's list. */
  forEach?: { from: string; path?: string; batchSize?: number };
  /** Ids of the tasks merged into this one (run first, in this order, in its attempts). */
  merged?: string[];
  description: string;
  startedAt: Date | null;
  finishedAt: Date | null;
}

interface Row {
  id: string;
  depends_on: unknown;
  for_each: unknown;
  merged: unknown;
  description: string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
}

const toDate = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

/** Queries over a finished or running run's task graph. */
export function createRunDetailQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** The run's tasks in graph order with their declared dependencies; `[]` for an unknown run. */
    async getRunGraph(runId: string): Promise<RunGraphTask[]> {
      const { rows } = await db.query<Row>(
        `SELECT id, spec->'dependsOn' AS depends_on, spec->'forEach' AS for_each,
                (SELECT jsonb_agg(m->'id') FROM jsonb_array_elements(spec->'merged') m) AS merged, description, started_at, finished_at
           FROM ${s}.tasks WHERE run_id = $1 ORDER BY position, id`,
        [runId],
      );
      return rows.map((row) => ({
        id: row.id,
        dependsOn: Array.isArray(row.depends_on)
          ? row.depends_on.filter((d): d is string => typeof d === "string")
          : [],
        ...(isForEach(row.for_each) ? { forEach: row.for_each } : {}),
        ...(Array.isArray(row.merged) ? { merged: row.merged.filter((m): m is string => typeof m === "string") } : {}),
        description: row.description,
        startedAt: toDate(row.started_at),
        finishedAt: toDate(row.finished_at),
      }));
    },
  };
}

function isForEach(value: unknown): value is { from: string; path?: string; batchSize?: number } {
  return value !== null && typeof value === "object" && typeof (value as { from?: unknown }).from === "string";
}
