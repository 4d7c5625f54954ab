/**
 * Validation benchmark: builds a random 10,000-task graph (a DAG with about 3 dependencies per
 * task, 2% composites holding children, input references and conditions on dependencies, some
 * of them transitive), warms up, then times `validateGraph` 20 times.
 *
 *   npx tsx bench/validation.ts          # validation 10000 tasks: median X ms (min Y, max Z)
 *   npx tsx bench/validation.ts --json   # the same figures as JSON
 */
import { pathToFileURL } from "node:url";
import type { TaskSpec } from "../src/graph/task-graph.js";
import { validateGraph } from "../src/graph/validate.js";
import { seededRandom } from "../src/optimizer/duration-models.js";

/**
 * A valid random graph of `count` tasks. Composites are written first, then each child right
 * before its parent completes (post-order), and every dependency points at a task earlier in
 * that order that is neither an ancestor nor a descendant, so the run-time graph stays acyclic.
 */
export function randomGraph(count: number, seed = 42): { goal: string; tasks: TaskSpec[] } {
  // A seeded generator (mulberry32), so every run measures the same graph.
  const next = seededRandom(seed);
  const tasks: TaskSpec[] = [];
  const parentOf = new Map<string, string>();
  while (tasks.length < count) {
    const position = tasks.length;
    const composite = next() < 0.02 && count - position > 20;
    const childCount = composite ? 5 + Math.floor(next() * 15) : 0;
    const parentId = composite ? `t${position + childCount}` : undefined;
    for (let k = 0; k <= childCount; k++) {
      const at = tasks.length;
      const id = `t${at}`;
      const isParent = composite && k === childCount;
      const task: TaskSpec = {
        id,
        description: `task ${at}`,
        dependsOn: pickDependencies(at, next, parentOf, id, isParent ? childCount : 0),
      };
      if (parentId !== undefined && !isParent) {
        task.parentId = parentId;
        parentOf.set(id, parentId);
      }
      if (!isParent) {
        addReferences(task, tasks, next);
      }
      tasks.push(task);
    }
  }
  return { goal: `benchmark graph of ${count} tasks`, tasks: tasks.slice(0, count) };
}

function pickDependencies(
  at: number,
  next: () => number,
  parentOf: Map<string, string>,
  id: string,
  ownChildren: number,
): string[] {
  const dependencies = new Set<string>();
  const lowest = at - ownChildren; // a composite must not depend on its own children
  for (let tries = 0; tries < 3 && lowest > 0; tries++) {
    const candidate = `t${Math.floor(next() * lowest)}`;
    if (candidate !== parentOf.get(id)) {
      dependencies.add(candidate);
    }
  }
  return [...dependencies];
}

/** 10% of tasks read a dependency's output, 3% a dependency's dependency's, 5% test one. */
function addReferences(task: TaskSpec, tasks: readonly TaskSpec[], next: () => number): void {
  const first = task.dependsOn?.[0];
  if (first === undefined) {
    return;
  }
  const roll = next();
  if (roll < 0.1) {
    task.input = { source: { $from: first, path: "result.id" }, note: `after {{ ${first}.status }} for {{ goal }}` };
  } else if (roll < 0.13) {
    const upstream = tasks[Number(first.slice(1))]?.dependsOn?.[0];
    if (upstream !== undefined) {
      task.input = { report: { $from: upstream } };
    }
  } else if (roll < 0.18) {
    task.when = { task: first, path: "ok", op: "truthy" };
  }
}

function percentile(sorted: readonly number[], share: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))] as number;
}

/** Time validation of a `count`-task graph `runs` times after `warmups` untimed runs. */
export function measureValidation(
  count = 10_000,
  runs = 20,
  warmups = 10,
): { tasks: number; runs: number; medianMs: number; minMs: number; maxMs: number } {
  const graph = randomGraph(count);
  for (let i = 0; i < warmups; i++) {
    validateGraph(graph);
  }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    validateGraph(graph);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const round = (ms: number): number => Math.round(ms * 100) / 100;
  return {
    tasks: count,
    runs,
    medianMs: round(percentile(times, 0.5)),
    minMs: round(times[0] as number),
    maxMs: round(times[times.length - 1] as number),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = measureValidation();
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(result));
  } else {
    console.log(
      `validation ${result.tasks} tasks: median ${result.medianMs} ms (min ${result.minMs}, max ${result.maxMs})`,
    );
  }
}
