/**
 * Monte Carlo schedule of a graph, pure: each trial draws every task's time (its attempts,
 * including failed ones and their backoff) and list-schedules the graph by priority under a
 * parallelism limit. Gives the makespan distribution and the peak concurrent demand, overall and
 * per queue, that `aggressive` uses to predict a run and to size its limits.
 */
import { effectiveDependencies } from "../graph/hierarchy.js";
import type { Task } from "../graph/task-graph.js";
import { percentile } from "./statistics.js";

/** What one trial needs of a task: its time to settle (all attempts), drawn afresh per trial. */
export type TaskTimeSampler = (taskId: string, random: () => number) => number;

/** Inputs of a simulation. */
export interface SimulationInput {
  tasks: readonly Task[];
  sample: TaskTimeSampler;
  /** Tasks running at once; Infinity for the unconstrained demand. */
  maxParallel: number;
  trials: number;
  random: () => number;
}

/** What the trials found: makespan quantiles, and the peak number of tasks running at once. */
export interface SimulationResult {
  trials: number;
  makespanP50Ms: number;
  makespanP95Ms: number;
  /** 95th percentile over trials of the most tasks running at once. */
  peakDemandP95: number;
  /** The same per queue (tasks without one count as "default"). */
  queuePeakDemandP95: Record<string, number>;
}

/** Runs `trials` simulated schedules of the atomic tasks (composites take no time and no slot). */
export function simulateSchedule(input: SimulationInput): SimulationResult {
  const composite = new Set(input.tasks.flatMap((t) => (t.parentId ? [t.parentId] : [])));
  const waitsFor = effectiveDependencies(input.tasks);
  const ids = input.tasks.map((t) => t.id);
  const queueOf = new Map(input.tasks.map((t) => [t.id, t.queue ?? "default"]));
  const priorityOf = new Map(input.tasks.map((t) => [t.id, t.priority ?? 0]));
  const makespans: number[] = [];
  const peaks: number[] = [];
  const queuePeaks = new Map<string, number[]>();
  for (let trial = 0; trial < input.trials; trial++) {
    const durations = new Map(
      ids.map((id) => [id, composite.has(id) ? 0 : Math.max(0, input.sample(id, input.random))]),
    );
    const outcome = scheduleOnce(ids, waitsFor, durations, composite, queueOf, priorityOf, input.maxParallel);
    makespans.push(outcome.makespan);
    peaks.push(outcome.peak);
    for (const [queue, peak] of outcome.queuePeak) {
      queuePeaks.set(queue, [...(queuePeaks.get(queue) ?? []), peak]);
    }
  }
  return {
    trials: input.trials,
    makespanP50Ms: percentile(makespans, 0.5) ?? 0,
    makespanP95Ms: percentile(makespans, 0.95) ?? 0,
    peakDemandP95: Math.ceil(percentile(peaks, 0.95) ?? 0),
    queuePeakDemandP95: Object.fromEntries(
      [...queuePeaks].map(([queue, values]) => [queue, Math.ceil(percentile(values, 0.95) ?? 0)]),
    ),
  };
}

/** Trials that keep one simulation under about 200,000 task schedules, between 20 and 400. */
export function trialsFor(taskCount: number): number {
  return Math.max(20, Math.min(400, Math.floor(200_000 / Math.max(1, taskCount))));
}

/** One list schedule: ready tasks start by priority while slots are free; composites finish at once. */
function scheduleOnce(
  ids: readonly string[],
  waitsFor: ReadonlyMap<string, readonly string[]>,
  durations: ReadonlyMap<string, number>,
  composite: ReadonlySet<string>,
  queueOf: ReadonlyMap<string, string>,
  priorityOf: ReadonlyMap<string, number>,
  maxParallel: number,
) {
  const remaining = new Map(ids.map((id) => [id, (waitsFor.get(id) ?? []).length]));
  const dependants = new Map<string, string[]>();
  for (const id of ids) {
    for (const dep of waitsFor.get(id) ?? []) {
      dependants.set(dep, [...(dependants.get(dep) ?? []), id]);
    }
  }
  let ready = ids.filter((id) => remaining.get(id) === 0);
  const running: { id: string; end: number }[] = [];
  const queueRunning = new Map<string, number>();
  const queuePeak = new Map<string, number>();
  let now = 0;
  let peak = 0;
  const finish = (id: string, at: number, settled: string[]) => {
    for (const next of dependants.get(id) ?? []) {
      const left = (remaining.get(next) ?? 1) - 1;
      remaining.set(next, left);
      if (left === 0) {
        settled.push(next);
      }
    }
    now = Math.max(now, at);
  };
  for (;;) {
    // Composites hold no slot: they settle as soon as they are ready (their children are deps of theirs).
    const instant = ready.filter((id) => composite.has(id));
    if (instant.length > 0) {
      ready = ready.filter((id) => !composite.has(id));
      const settled: string[] = [];
      for (const id of instant) {
        finish(id, now, settled);
      }
      ready.push(...settled);
      continue;
    }
    ready.sort((a, b) => (priorityOf.get(b) ?? 0) - (priorityOf.get(a) ?? 0));
    while (ready.length > 0 && running.length < maxParallel) {
      const id = ready.shift() as string;
      running.push({ id, end: now + (durations.get(id) ?? 0) });
      const queue = queueOf.get(id) ?? "default";
      queueRunning.set(queue, (queueRunning.get(queue) ?? 0) + 1);
      queuePeak.set(queue, Math.max(queuePeak.get(queue) ?? 0, queueRunning.get(queue) ?? 0));
    }
    peak = Math.max(peak, running.length);
    if (running.length === 0) {
      break;
    }
    running.sort((a, b) => a.end - b.end);
    const next = running.shift() as { id: string; end: number };
    const queue = queueOf.get(next.id) ?? "default";
    queueRunning.set(queue, (queueRunning.get(queue) ?? 1) - 1);
    const settled: string[] = [];
    finish(next.id, next.end, settled);
    ready.push(...settled);
  }
  return { makespan: now, peak, queuePeak };
}
