/**
 * W3 fan-out/fan-in: a root, `width` children that each depend on it, and a join that depends on
 * every child; maxParallel 10. Measures throughput and how fast the join follows the last child.
 */
import { validateGraph, type Orchestrator, type TaskGraph } from "../../src/index.js";
import { attemptTimes, entry, measureRun, StepProbe } from "../lib/probe.js";

export const FAN_METRICS = [
  "total ms", "tasks per s", "root → first child ms", "last child → join ms", "db last child → join ms", "round trips per task",
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
 * - last child → join: the last child's step returned → the join's step started, in this process
 *   (the child's settle commits, unblocks the join and claims it in the same round trip).
 * - db last child → join: the join attempt's started_at minus the latest child finished_at, both
 *   stamped by the database with the settling transaction's now().
 */
export async function runFan(orch: Orchestrator, width: number): Promise<FanMetrics> {
  const graph = fanGraph(width);
  const probe = new StepProbe();
  const run = await measureRun(orch, graph, probe, { maxParallel: 10 });
  const times = await attemptTimes(orch, run.runId);
  let lastChildReturned = -Infinity;
  let firstChildStarted = Infinity;
  let lastChildFinishedDb = -Infinity;
  for (let i = 0; i < width; i++) {
    lastChildReturned = Math.max(lastChildReturned, probe.returned(childId(i)));
    firstChildStarted = Math.min(firstChildStarted, probe.started(childId(i)));
    lastChildFinishedDb = Math.max(lastChildFinishedDb, entry(times, childId(i)).finishedAt);
  }
  const tasks = width + 2;
  return {
    "total ms": run.wallMs,
    "tasks per s": (tasks / run.wallMs) * 1000,
    "root → first child ms": firstChildStarted - probe.returned("root"),
    "last child → join ms": probe.started("join") - lastChildReturned,
    "db last child → join ms": entry(times, "join").startedAt - lastChildFinishedDb,
    "round trips per task": run.roundTrips / tasks,
  };
}
