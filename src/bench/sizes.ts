/** Workload sizes (full, quick, tiny) and the shared inputs every system gets: W4's DAG and W6's faults. */
import { seededRandom } from "../optimizer/duration-models.js";
import type { FaultPlan, LayeredDag, ScaleOutPlan, WorkloadSizes } from "./types.js";

/** The sizes of issue 10. */
export const FULL_SIZES: WorkloadSizes = {
  flatTasks: 2000,
  concurrency: 10,
  batchSize: 50,
  chainSteps: 200,
  fanWidth: 1000,
  layers: 20,
  layerWidth: 50,
  parents: 3,
  idleTasks: 300,
  idleSeconds: 10,
  faultTasks: 500,
  faultTimeoutMs: 200,
  manyRuns: 2000,
  scaleOutTasks: 2000,
  scaleOutStepMs: 20,
  scaleOutProcesses: [1, 2, 4],
};

/** `--quick` / BENCH_QUICK=1: the same shapes, smaller, so that a whole run stays under 2 minutes. */
export const QUICK_SIZES: WorkloadSizes = {
  flatTasks: 500,
  concurrency: 10,
  batchSize: 50,
  chainSteps: 100,
  fanWidth: 200,
  layers: 10,
  layerWidth: 20,
  parents: 3,
  idleTasks: 10,
  idleSeconds: 2,
  faultTasks: 100,
  faultTimeoutMs: 200,
  manyRuns: 300,
  scaleOutTasks: 400,
  scaleOutStepMs: 20,
  scaleOutProcesses: [1, 2, 4],
};

/** For the smoke test: seconds, not minutes. */
export const TINY_SIZES: WorkloadSizes = {
  flatTasks: 50,
  concurrency: 10,
  batchSize: 10,
  chainSteps: 20,
  fanWidth: 20,
  layers: 3,
  layerWidth: 5,
  parents: 2,
  idleTasks: 5,
  idleSeconds: 1,
  faultTasks: 20,
  faultTimeoutMs: 200,
  manyRuns: 20,
  scaleOutTasks: 40,
  scaleOutStepMs: 20,
  scaleOutProcesses: [1, 2, 4],
};

export const SIZES = { full: FULL_SIZES, quick: QUICK_SIZES, tiny: TINY_SIZES } as const;
export type SizeName = keyof typeof SIZES;

/** A small deterministic PRNG (mulberry32), so every system gets the same random DAG. */
export { seededRandom } from "../optimizer/duration-models.js";

/** W4: `layers` × `width` nodes; each node after the first layer has `parents` distinct random parents. */
export function layeredDag(sizes: Pick<WorkloadSizes, "layers" | "layerWidth" | "parents">, seed = 42): LayeredDag {
  const random = seededRandom(seed);
  const width = sizes.layerWidth;
  const parentsOf = Array.from({ length: sizes.layers }, (_, layer) =>
    Array.from({ length: width }, () => {
      if (layer === 0) {
        return [];
      }
      const picked = new Set<number>();
      while (picked.size < Math.min(sizes.parents, width)) {
        picked.add(Math.floor(random() * width));
      }
      return [...picked].sort((a, b) => a - b);
    }),
  );
  return { layers: sizes.layers, width, parentsOf };
}

/** The id of node `node` of layer `layer` in W4 (`L3N17`). */
export function layeredId(layer: number, node: number): string {
  return `L${layer}N${node}`;
}

/** The children of every node, the inverse of `parentsOf`, for systems that unblock dependants themselves. */
export function childrenOf(dag: LayeredDag): number[][][] {
  const children = Array.from({ length: dag.layers }, () => Array.from({ length: dag.width }, () => [] as number[]));
  dag.parentsOf.forEach((nodes, layer) =>
    nodes.forEach((parents, node) => {
      for (const parent of parents) {
        children[layer - 1]?.[parent]?.push(node);
      }
    }),
  );
  return children;
}

/** W6: 10% of tasks (every 10th) throw on their first attempt; 5% (every 20th, offset 5) hang past the timeout once. */
export function faultPlan(sizes: Pick<WorkloadSizes, "faultTasks" | "faultTimeoutMs">): FaultPlan {
  const throwsOnce = new Set<number>();
  const hangsOnce = new Set<number>();
  for (let i = 0; i < sizes.faultTasks; i++) {
    if (i % 10 === 0) {
      throwsOnce.add(i);
    } else if (i % 20 === 5) {
      hangsOnce.add(i);
    }
  }
  return { tasks: sizes.faultTasks, timeoutMs: sizes.faultTimeoutMs, throwsOnce, hangsOnce, retryDelayMs: 50 };
}

/** W8: the plan every system gets. */
export function scaleOutPlan(
  sizes: Pick<WorkloadSizes, "scaleOutTasks" | "scaleOutStepMs" | "scaleOutProcesses" | "concurrency">,
): ScaleOutPlan {
  return {
    tasks: sizes.scaleOutTasks,
    stepMs: sizes.scaleOutStepMs,
    concurrency: sizes.concurrency,
    processes: sizes.scaleOutProcesses,
  };
}

/** W8's figures: tasks/s per process count, the speed-up of the most processes over the fewest, round trips. */
export function scaleOutFigures(
  plan: ScaleOutPlan,
  drains: readonly { processes: number; wallMs: number; roundTrips: number }[],
): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const drain of drains) {
    figures[scaleOutMetric(drain.processes)] = (plan.tasks / drain.wallMs) * 1000;
  }
  const first = drains[0];
  const last = drains.at(-1);
  if (first && last) {
    figures[`speed-up ${last.processes} ÷ ${first.processes}`] = first.wallMs / last.wallMs;
  }
  const roundTrips = drains.reduce((sum, d) => sum + d.roundTrips, 0);
  figures["round trips per task"] = roundTrips / (plan.tasks * drains.length);
  return figures;
}

/** W8's throughput metric for `processes` worker processes. */
export function scaleOutMetric(processes: number): string {
  return `tasks per s, ${processes} process${processes === 1 ? "" : "es"}`;
}
