/** Statistics for the scripts in bench/: the harness's own (src/bench/stats.ts), plus `median`. */
import { percentile } from "../../src/bench/stats.js";

export { percentile, summarize, summarizeRepeats, type Summary } from "../../src/bench/stats.js";

/** The median of `samples`; NaN when empty. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}
