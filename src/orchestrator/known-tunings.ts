/**
 * The stored tuning of each workflow as this process last read it, so a submit reads it once, not
 * once per run. A submit says which tuning it applied (submit_run checks it against the stored one
 * in the same transaction), and tunes again when another process stored or cleared one since.
 */
import type { OptimizationChange } from "../optimizer/types.js";
import type { Optimizer } from "../optimizer/service.js";
import type { StoredTuning } from "../store/optimizer-tunings.js";

export class KnownTunings {
  private readonly known = new Map<string, StoredTuning<OptimizationChange> | null>();
  /** The optimizer, with its stored tunings read through this cache; undefined without one. */
  readonly optimizer: Optimizer | undefined;

  constructor(optimizer: Optimizer | undefined) {
    this.optimizer = optimizer && {
      ...optimizer,
      storedTuning: async (workflow) => {
        if (!this.known.has(workflow)) {
          this.known.set(workflow, await optimizer.storedTuning(workflow));
        }
        return this.known.get(workflow) ?? null;
      },
    };
  }

  /**
   * What a submit of `workflow` tells submit_run it applied: the stored tuning's time (ISO, to the
   * millisecond) or null for none; undefined when nothing was read (no optimizer: nothing to check).
   */
  applied(workflow: string): string | null | undefined {
    if (!this.known.has(workflow)) {
      return undefined;
    }
    return this.known.get(workflow)?.appliedAt.toISOString() ?? null;
  }

  /** Reads `workflow`'s stored tuning again at its next use (submit_run found it changed). */
  forget(workflow: string): void {
    this.known.delete(workflow);
  }
}
