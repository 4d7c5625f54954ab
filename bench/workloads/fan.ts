/**
 * W3 fan-out/fan-in: a root, `width` children that each depend on it, and a join that depends on
 * every child; maxParallel 10. Measures throughput and how fast the join follows the last child.
 */
import { validateGraph, type Orchestrator, type TaskGraph } from "../../src/index.js";
import type { ClaimWatch } from "../lib/claim-watch.js";
import { measureRun, StepProbe } from "../lib/probe.js";

export const FAN_METRICS = [
  "total ms", "tasks per s", "root → first child ms", "last child → join ms", "join commit → start ms", "round trips per task",
] as const;
export type FanMetrics = Record<(typeof FAN_METRICS)[number], number>;

const childId = (i: number) => `child${i}`;

/** root → child0 … child{width-1} → join, all on the `noop` step. */
export function fanGraph(width: number): TaskGraph {
  const children = Array.from({ length: width }, (_, i) => ({ id: childId(i), step: "noop", dependsOn: ["root"] }));
  return validateGraph({
    goal: `bench fan 1 to ${width} to 1`,
    tasks: [{ id: "root", step: "noop" }, ...children, { id: "join", step: "noop", dependsOn: children.map((c) => c.id) }],
  });
}

/**
 * One run of the fan.
 * - last child → join: the last child's step returned → the join's step started, in this process.
 *   It includes the wait of that child's settle behind the other settles of the run (they take the
 *   run's row lock one at a time).
 * - join commit → start: the settle that unblocked and claimed the join returned (it returns right
 *   after its commit) → the join's step started (NaN without a ClaimWatch).
 * Database timestamps cannot show either: they are the settling transaction's now() (its start), so
 * a join claimed by a settle that waited for the run's lock is stamped before children that
 * committed earlier.
 */
export async function runFan(orch: Orchestrator, width: number, watch?: ClaimWatch): Promise<FanMetrics> {
  const graph = fanGraph(width);
  const probe = new StepProbe();
  const run = await measureRun(orch, graph, probe, { maxParallel: 10 });
  const joinClaimedAt = watch?.claimedAt(run.runId, "join") ?? Number.NaN;
  watch?.forget(run.runId);
  let lastChildReturned = -Infinity;
  let firstChildStarted = Infinity;
  for (let i = 0; i < width; i++) {
    lastChildReturned = Math.max(lastChildReturned, probe.returned(childId(i)));
    firstChildStarted = Math.min(firstChildStarted, probe.started(childId(i)));
  }
  const tasks = width + 2;
  return {
    "total ms": run.wallMs,
    "tasks per s": (tasks / run.wallMs) * 1000,
    "root → first child ms": firstChildStarted - probe.returned("root"),
    "last child → join ms": probe.started("join") - lastChildReturned,
    "join commit → start ms": probe.started("join") - joinClaimedAt,
    "round trips per task": run.roundTrips / tasks,
  };
}
