/** The shape of a duration summary: what the store's aggregates return and the optimizer computes. */

/** Summary of successful durations: p50/p95/p99, mean and max, in ms. */
export interface DurationSummary {
  samples: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  meanMs: number | null;
  maxMs: number | null;
}
