/**
 * Query family: what the dashboard reads about a run's usage records (migration 0005): its LLM
 * calls summed by where they came from (decomposition, revision, step) and which model answered.
 */
import type { Queryable } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** The usage records of one source and model, summed; numbers as the driver returns them. */
export interface UsageBreakdownRow {
  source: "decomposition" | "revision" | "step";
  model: string;
  llm_calls: unknown;
  input_tokens: unknown;
  output_tokens: unknown;
  /** The known costs summed; records without a cost are counted in `unpriced_records`. */
  cost_usd: unknown;
  unpriced_records: number;
}

export function createDashboardUsageQueries(db: Queryable, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /** The run's usage records by source (decomposition, revision, step) and model. */
    async bySource(runId: string): Promise<UsageBreakdownRow[]> {
      const { rows } = await db.query<UsageBreakdownRow>(
        `SELECT source, model, sum(llm_calls) AS llm_calls, sum(input_tokens) AS input_tokens,
                sum(output_tokens) AS output_tokens, coalesce(sum(cost_usd), 0) AS cost_usd,
                count(*) FILTER (WHERE cost_usd IS NULL)::int AS unpriced_records
           FROM ${s}.usage_records WHERE run_id = $1
          GROUP BY source, model
          ORDER BY array_position(ARRAY['decomposition', 'revision', 'step'], source), model`,
        [runId],
      );
      return rows;
    },
  };
}

export type DashboardUsageQueries = ReturnType<typeof createDashboardUsageQueries>;
