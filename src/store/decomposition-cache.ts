/**
 * Query family: decompositions. One row per decomposition with what it cost (LLM calls, tokens,
 * repairs, latency) and where its graph came from; and the decomposition cache, keyed by a hash of
 * the normalised goal, the decomposer's name and options, the catalogue and the model.
 */
import { z } from "zod";
import { openTaskInputs, sealTaskInputs, type PayloadCodec } from "./codec.js";
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** One decomposition's record, with its accounting. */
export interface DecompositionStats {
  graphId: string | null;
  goal: string;
  decomposer: string;
  source: string;
  latencyMs: number;
  model?: string | null;
  cacheKey?: string | null;
  llmCalls?: number;
  inputTokens?: number;
  outputTokens?: number;
  repairs?: number;
  error?: string | null;
}

/** A cache entry as written. */
export interface NewCacheEntry {
  key: string;
  goal: string;
  decomposer: string;
  model: string | null;
  tasks: readonly unknown[];
}

/** A cache hit: the tasks stored and how often the entry was used, this hit included. */
export interface CacheHit {
  tasks: unknown[];
  hits: number;
}

/** The cache as decomposers see it. */
export interface DecompositionCache {
  /** The entry under `key`, counting the hit; null when there is none. */
  lookup(key: string): Promise<CacheHit | null>;
  /** Stores (or replaces) the entry under `entry.key`. */
  store(entry: NewCacheEntry): Promise<void>;
}

const cachedRowSchema = z.object({ graph: z.object({ tasks: z.array(z.unknown()) }), hits: z.number().int() });

/** `codec` (optional) encodes the cached tasks' inputs as they are stored, and decodes them on a hit. */
export function createDecompositionQueries(db: Db, schema: string, codec?: PayloadCodec) {
  const s = quoteIdentifier(schema);
  const cache: DecompositionCache = {
    async lookup(key) {
      const { rows } = await db.query(
        `UPDATE ${s}.decomposition_cache SET hits = hits + 1, last_hit_at = now() WHERE cache_key = $1 RETURNING graph, hits`,
        [key],
      );
      const row = rows[0];
      if (row === undefined) {
        return null;
      }
      const parsed = cachedRowSchema.safeParse(row);
      // A row this code did not write (or an older layout) is a miss, not an error: the LLM answers instead.
      return parsed.success ? { tasks: openTaskInputs(parsed.data.graph.tasks, codec), hits: parsed.data.hits } : null;
    },

    async store(entry) {
      await db.query(
        `INSERT INTO ${s}.decomposition_cache (cache_key, goal, decomposer, model, graph) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (cache_key) DO UPDATE SET graph = excluded.graph, goal = excluded.goal, created_at = now()`,
        [
          entry.key,
          entry.goal,
          entry.decomposer,
          entry.model,
          JSON.stringify({ tasks: sealTaskInputs(entry.tasks, codec) }),
        ],
      );
    },
  };

  return {
    cache,

    /** Stores one decomposition's record. */
    async record(stats: DecompositionStats): Promise<void> {
      await db.query(
        `INSERT INTO ${s}.decompositions (graph_id, goal, decomposer, source, model, cache_key, llm_calls, input_tokens,
           output_tokens, repairs, latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          stats.graphId,
          stats.goal,
          stats.decomposer,
          stats.source,
          stats.model ?? null,
          stats.cacheKey ?? null,
          stats.llmCalls ?? 0,
          stats.inputTokens ?? 0,
          stats.outputTokens ?? 0,
          stats.repairs ?? 0,
          stats.latencyMs,
          stats.error ?? null,
        ],
      );
    },
  };
}

export type DecompositionQueries = ReturnType<typeof createDecompositionQueries>;
