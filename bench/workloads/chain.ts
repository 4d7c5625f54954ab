/**
 * W2 chain: `steps` no-op tasks, each depending on the previous one, maxParallel 10. Only one
 * task is ever runnable, so every step pays the full hop: settle → unblock → claim → dispatch.
 */
import { validateGraph, type Orchestrator, type TaskGraph } from "../../src/index.js";
import type { ClaimWatch } from "../lib/claim-watch.js";
import { attemptTimes, entry, measureRun, StepProbe } from "../lib/probe.js";
import { percentile } from "../lib/stats.js";

export const CHAIN_METRICS = [
  "ms per step",
  "hop p50 ms",
  "hop p99 ms",
  "claim → start p50 ms",
  "db step p50 ms",
  "round trips per task",
] as const;
export type ChainMetrics = Record<(typeof CHAIN_METRICS)[number], number>;

/** A chain of `steps` tasks c0 → c1 → … on the `noop` step. */
export function chainGraph(steps: number): TaskGraph {
  const tasks = Array.from({ length: steps }, (_, i) => ({
    id: `c${i}`,
    step: "noop",
    dependsOn: i === 0 ? [] : [`c${i - 1}`],
  }));
  return validateGraph({ goal: `bench chain of ${steps}`, tasks });
}

/**
 * One run of the chain.
 * - ms per step: wall time of composeFromTaskGraph (insert, run, read back) / steps.
 * - hop: previous step returned → next step started, in this process (includes the settle's commit).
 * - claim → start: the settle that claimed a step returned → the step started (this process's share;
 *   NaN without a ClaimWatch).
 * - db step: consecutive attempts' started_at as the database stamped them (transaction start to
 *   transaction start). The DB cannot show the hop itself: a step's settle stamps finished_at and
 *   its successor's started_at with the same now(), in one transaction.
 */
export async function runChain(orch: Orchestrator, steps: number, watch?: ClaimWatch): Promise<ChainMetrics> {
  const graph = chainGraph(steps);
  const probe = new StepProbe();
  const run = await measureRun(orch, graph, probe, { maxParallel: 10 });
  const times = await attemptTimes(orch, run.runId);
  const hops: number[] = [];
  const dbSteps: number[] = [];
  const dispatches: number[] = [];
  for (let i = 1; i < steps; i++) {
    hops.push(probe.started(`c${i}`) - probe.returned(`c${i - 1}`));
    const claimedAt = watch?.claimedAt(run.runId, `c${i}`);
    if (claimedAt !== undefined) {
      dispatches.push(probe.started(`c${i}`) - claimedAt);
    }
    dbSteps.push(entry(times, `c${i}`).startedAt - entry(times, `c${i - 1}`).startedAt);
  }
  watch?.forget(run.runId);
  return {
    "ms per step": run.wallMs / steps,
    "hop p50 ms": percentile(hops, 50),
    "hop p99 ms": percentile(hops, 99),
    "claim → start p50 ms": percentile(dispatches, 50),
    "db step p50 ms": percentile(dbSteps, 50),
    "round trips per task": run.roundTrips / steps,
  };
}
