/** Query family: recorded graphs and decompositions. */
import type { TaskGraph } from "../graph/task-graph.js";
import { sealTaskInputs, type PayloadCodec } from "./codec.js";
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** One decomposition's record: where the graph came from and what it cost. */
export interface DecompositionRecord {
  graphId: string | null;
  goal: string;
  decomposer: string;
  source: string;
  latencyMs: number;
  error?: string;
}

/** `codec` (optional) encodes task inputs as they are stored. */
export function createGraphQueries(db: Db, schema: string, codec?: PayloadCodec) {
  const s = quoteIdentifier(schema);
  return {
    async recordGraph(graph: TaskGraph): Promise<void> {
      await db.query(
        `INSERT INTO ${s}.graphs (id, goal, decomposer, source, tasks, decomposed_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET tasks = excluded.tasks, goal = excluded.goal`,
        [
          graph.id,
          graph.goal,
          graph.decomposer,
          graph.source,
          JSON.stringify(sealTaskInputs(graph.tasks, codec)),
          graph.decomposedAt,
        ],
      );
    },

    async recordDecomposition(record: DecompositionRecord): Promise<void> {
      await db.query(
        `INSERT INTO ${s}.decompositions (graph_id, goal, decomposer, source, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)`,
        [record.graphId, record.goal, record.decomposer, record.source, record.latencyMs, record.error ?? null],
      );
    },
  };
}

export type GraphQueries = ReturnType<typeof createGraphQueries>;
