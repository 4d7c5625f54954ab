/**
 * Pure statistics of the optimizer: percentiles (the same interpolation as SQL's percentile_cont),
 * confidence from a sample size, and the attempts that make a transient failure rare.
 */
import type { DurationSummary } from "../store/duration-summary.js";

/** Linear-interpolated percentile of `values` (0 ≤ `fraction` ≤ 1), as SQL `percentile_cont`; null when empty. */
export function percentile(values: readonly number[], fraction: number): number | null {
  if (values.length === 0) {
    return null;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const position = Math.min(Math.max(fraction, 0), 1) * (sorted.length - 1);
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  const low = sorted[lower] as number;
  const high = sorted[upper] as number;
  return low + (high - low) * (position - lower);
}

/** Arithmetic mean; null when empty. */
export function mean(values: readonly number[]): number | null {
  if (values.length === 0) {
    return null;
  }
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Summarises durations in ms (the TS twin of the SQL aggregates, for tests and benchmarks). */
export function summarizeDurations(durationsMs: readonly number[]): DurationSummary {
  return {
    samples: durationsMs.length,
    p50Ms: percentile(durationsMs, 0.5),
    p95Ms: percentile(durationsMs, 0.95),
    p99Ms: percentile(durationsMs, 0.99),
    meanMs: mean(durationsMs),
    maxMs: durationsMs.length === 0 ? null : Math.max(...durationsMs),
  };
}

/**
 * Confidence in a finding backed by `samples` observations: 1 − 1/(n+1), at most 0.99, 0 for none.
 * 5 samples give 0.83, 9 give 0.9, 19 give 0.95.
 */
export function sampleConfidence(samples: number): number {
  if (samples <= 0) {
    return 0;
  }
  return Math.min(0.99, 1 - 1 / (samples + 1));
}

/**
 * Attempts needed so that a task whose attempts fail independently with probability `failureRate`
 * fails for good with probability at most `target`: the least k with failureRate^k ≤ target.
 */
export function attemptsForTarget(failureRate: number, target = 0.001): number {
  if (failureRate <= 0) {
    return 1;
  }
  if (failureRate >= 1) {
    return Number.POSITIVE_INFINITY;
  }
  return Math.max(1, Math.ceil(Math.log(target) / Math.log(failureRate)));
}

/**
 * Whether failures cluster: a retry right after a failure fails clearly more often (by `factor`) than a
 * first attempt does. Independent failures give both rates alike, so waiting longer buys nothing.
 */
export function failuresCluster(firstAttemptFailureRate: number, retryFailureRate: number, factor = 2): boolean {
  return retryFailureRate > Math.max(firstAttemptFailureRate * factor, 0.05);
}

/**
 * Upper end of the Wilson score interval of a rate of `events` in `trials` (z 1.645: one-sided 95%).
 * Sizing retries on it keeps a small sample from understating how often a step fails.
 */
export function wilsonUpper(events: number, trials: number, z = 1.645): number {
  if (trials <= 0) {
    return 1;
  }
  const rate = events / trials;
  const z2 = z * z;
  const centre = rate + z2 / (2 * trials);
  const margin = z * Math.sqrt((rate * (1 - rate)) / trials + z2 / (4 * trials * trials));
  return Math.min(1, (centre + margin) / (1 + z2 / trials));
}
