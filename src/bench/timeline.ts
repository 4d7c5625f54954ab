/**
 * In-process moments of every task: when its handler started and when its work was done (before
 * the system does anything to record it or unblock others). All systems under test run in this
 * process, so one clock (`performance.now()`) times them all. From these, the figures every
 * workload reports: hops of a chain, the join's wait, DAG edge latencies.
 */
import { percentile } from "./stats.js";
import type { LayeredDag } from "./types.js";
import { layeredId } from "./sizes.js";

export class Timeline {
  readonly started = new Map<string, number>();
  readonly done = new Map<string, number>();

  /** Notes that `key`'s handler started (the first time only: a retry is not a new start). */
  start(key: string): void {
    if (!this.started.has(key)) {
      this.started.set(key, performance.now());
    }
  }

  /** Notes that `key`'s work is done. */
  finish(key: string): void {
    this.done.set(key, performance.now());
  }

  startOf(key: string): number {
    return mustGet(this.started, key, "start");
  }

  doneOf(key: string): number {
    return mustGet(this.done, key, "end");
  }
}

function mustGet(map: Map<string, number>, key: string, what: string): number {
  const value = map.get(key);
  if (value === undefined) {
    throw new Error(`the benchmark recorded no ${what} for task ${JSON.stringify(key)}; did the system run it?`);
  }
  return value;
}

/** W2: step `i` done → step `i + 1` started, for keys `key(0)…key(steps-1)`. */
export function chainFigures(
  timeline: Timeline,
  steps: number,
  key: (i: number) => string,
  wallMs: number,
): Record<string, number> {
  const hops: number[] = [];
  for (let i = 1; i < steps; i++) {
    hops.push(timeline.startOf(key(i)) - timeline.doneOf(key(i - 1)));
  }
  return { "ms per step": wallMs / steps, "hop p50 ms": percentile(hops, 50), "hop p99 ms": percentile(hops, 99) };
}

/** W3: total, throughput, and the last child's end → the join's start. */
export function fanFigures(
  timeline: Timeline,
  width: number,
  child: (i: number) => string,
  join: string,
  wallMs: number,
): Record<string, number> {
  let lastChildDone = -Infinity;
  for (let i = 0; i < width; i++) {
    lastChildDone = Math.max(lastChildDone, timeline.doneOf(child(i)));
  }
  return {
    "total ms": wallMs,
    "tasks per s": ((width + 2) / wallMs) * 1000,
    "last child → join ms": timeline.startOf(join) - lastChildDone,
  };
}

/** W4: per node, its last parent's end → its start (the edge that released it). */
export function layeredFigures(timeline: Timeline, dag: LayeredDag, wallMs: number): Record<string, number> {
  const edges: number[] = [];
  for (let layer = 1; layer < dag.layers; layer++) {
    for (let node = 0; node < dag.width; node++) {
      const parents = dag.parentsOf[layer]?.[node] ?? [];
      const released = Math.max(...parents.map((p) => timeline.doneOf(layeredId(layer - 1, p))));
      edges.push(timeline.startOf(layeredId(layer, node)) - released);
    }
  }
  return {
    "total ms": wallMs,
    "tasks per s": ((dag.layers * dag.width) / wallMs) * 1000,
    "edge p50 ms": percentile(edges, 50),
    "edge p99 ms": percentile(edges, 99),
  };
}

/** W5: send → start of each single task. */
export function latencyFigures(latencies: readonly number[]): Record<string, number> {
  return {
    "latency p50 ms": percentile(latencies, 50),
    "latency p99 ms": percentile(latencies, 99),
    "latency max ms": Math.max(...latencies),
  };
}

/** W6: total, and how long after its deadline each hanging attempt was given up. */
export function faultFigures(
  lags: readonly number[],
  wallMs: number,
  attemptsAsPlanned: boolean,
): Record<string, number> {
  return {
    "total ms": wallMs,
    "timeout lag p50 ms": percentile(lags, 50),
    "timeout lag p99 ms": percentile(lags, 99),
    "attempts as planned": attemptsAsPlanned ? 1 : 0,
  };
}

/** Attempts each W6 task should make: 2 for those that fail once, 1 for the others. */
export function attemptsAsPlanned(
  attempts: ReadonlyMap<number, number>,
  tasks: number,
  failsOnce: (i: number) => boolean,
): boolean {
  for (let i = 0; i < tasks; i++) {
    if ((attempts.get(i) ?? 0) !== (failsOnce(i) ? 2 : 1)) {
      return false;
    }
  }
  return true;
}
