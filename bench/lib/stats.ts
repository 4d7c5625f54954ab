/** Pure statistics over plain numbers: percentiles of samples, and a summary across repeats. */

/** The `p`-th percentile (0–100) of `samples`, by linear interpolation; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lowValue = sorted[low] ?? Number.NaN;
  const highValue = sorted[high] ?? lowValue;
  return lowValue + (highValue - lowValue) * (rank - low);
}

/** The median of `samples`; NaN when empty. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** One metric over the repeats of a workload. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** The value of each repeat, in order. */
  runs: number[];
}

/** Median, min and max of one metric's value per repeat. */
export function summarize(perRepeat: readonly number[]): Summary {
  return {
    median: median(perRepeat),
    min: perRepeat.length === 0 ? Number.NaN : Math.min(...perRepeat),
    max: perRepeat.length === 0 ? Number.NaN : Math.max(...perRepeat),
    runs: [...perRepeat],
  };
}

/**
 * Summarizes each metric of a list of repeats: `[{ a: 1, b: 2 }, { a: 3, b: 4 }]` becomes
 * `{ a: summary([1, 3]), b: summary([2, 4]) }`. Every repeat must report the same metrics.
 */
export function summarizeRepeats<K extends string>(repeats: readonly Record<K, number>[]): Record<K, Summary> {
  const first = repeats[0];
  if (!first) throw new Error("summarizeRepeats needs at least one repeat");
  const out = {} as Record<K, Summary>;
  for (const key of Object.keys(first) as K[]) out[key] = summarize(repeats.map((r) => r[key]));
  return out;
}
