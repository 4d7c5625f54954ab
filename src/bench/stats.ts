/** Pure statistics over plain numbers: percentiles of samples, and a summary across repeats. */

/** The `p`-th percentile (0–100) of `samples`, by linear interpolation; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) {
    return Number.NaN;
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const lowValue = sorted[low] ?? Number.NaN;
  const highValue = sorted[Math.ceil(rank)] ?? lowValue;
  return lowValue + (highValue - lowValue) * (rank - low);
}

/** One metric over the repeats of a workload. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** The value of each repeat, in order. */
  runs: number[];
}

/** Median, min and max of one metric's value per repeat (NaN repeats are left out). */
export function summarize(perRepeat: readonly number[]): Summary {
  const finite = perRepeat.filter((v) => Number.isFinite(v));
  return {
    median: percentile(finite, 50),
    min: finite.length === 0 ? Number.NaN : Math.min(...finite),
    max: finite.length === 0 ? Number.NaN : Math.max(...finite),
    runs: [...perRepeat],
  };
}

/** Summarizes each metric over repeats: `[{ a: 1 }, { a: 3 }]` → `{ a: summarize([1, 3]) }`. */
export function summarizeRepeats(repeats: readonly Record<string, number>[]): Record<string, Summary> {
  const keys = new Set(repeats.flatMap((r) => Object.keys(r)));
  return Object.fromEntries([...keys].map((key) => [key, summarize(repeats.map((r) => r[key] ?? Number.NaN))]));
}
