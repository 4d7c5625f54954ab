/** `getRecommendations`, pure over plain data: what could run at once, timeouts, warnings, limits, cost. */
import { topologicalOrder } from "../graph/algorithms.js";
import type { TaskGraph } from "../graph/task-graph.js";
import { costRecommendation, failureWarnings, tighterTimeoutAdvice } from "./advice-rules.js";
import { findChanges, type History } from "./decide.js";
import type { EffectiveDefaults, OptimizationChange, Recommendations, ResolvedOptimizeOptions } from "./types.js";

/** Most pairs listed: the list is advice for a reader, not an exhaustive enumeration. */
export const MAX_PAIRS = 500;

/**
 * Every finding of the level (applied or not), advice to tighten timeouts far above a task's p99,
 * plus pairs, failure warnings, resource limits and cost.
 */
export function recommend(
  graph: TaskGraph,
  history: History,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): Recommendations {
  const { findings } = findChanges(graph, history, defaults, {
    ...options,
    level: options.level === "basic" ? "advanced" : options.level,
  });
  const byId = new Map(history.tasks.map((m) => [m.key, m]));
  const timeoutAdjustments: Record<string, number> = {};
  for (const change of findings) {
    if (change.field === "timeoutMs" && change.taskId) {
      timeoutAdjustments[change.taskId] = change.to as number;
    }
  }
  // Advice only where the level found nothing for the task's timeout.
  const advice = graph.tasks
    .filter((task) => timeoutAdjustments[task.id] === undefined)
    .map((task) => tighterTimeoutAdvice(task, byId.get(task.id), defaults, options))
    .filter((change): change is OptimizationChange => change !== null);
  for (const change of advice) {
    timeoutAdjustments[change.taskId as string] = change.to as number;
  }
  const warnings = failureWarnings(graph.tasks, (id) => byId.get(id), options);
  const parallel = findings.find((c) => c.field === "maxParallel");
  return {
    parallelizablePairs: parallelizablePairs(graph),
    timeoutAdjustments,
    failedPatternWarnings: warnings.warnings,
    failurePatterns: warnings.patterns,
    resourceAllocation: {
      maxParallel: (parallel?.to as number | undefined) ?? options.maxParallel ?? defaults.maxParallel,
      queues: queueLimits(graph, (parallel?.to as number | undefined) ?? options.maxParallel ?? defaults.maxParallel),
    },
    changes: [...findings, ...advice],
    cost: costRecommendation(history.spend),
  };
}

/** Pairs of atomic tasks neither of which waits (directly or not) for the other. */
export function parallelizablePairs(graph: TaskGraph): [string, string][] {
  const composite = new Set(graph.tasks.flatMap((t) => (t.parentId ? [t.parentId] : [])));
  const dependsOn = new Map(graph.tasks.map((t) => [t.id, t.dependsOn]));
  const ancestors = new Map<string, Set<string>>();
  for (const id of topologicalOrder(graph.tasks)) {
    const mine = new Set<string>();
    for (const dep of dependsOn.get(id) ?? []) {
      mine.add(dep);
      for (const a of ancestors.get(dep) ?? []) {
        mine.add(a);
      }
    }
    ancestors.set(id, mine);
  }
  const atomic = graph.tasks.filter((t) => !composite.has(t.id)).map((t) => t.id);
  const pairs: [string, string][] = [];
  for (let i = 0; i < atomic.length && pairs.length < MAX_PAIRS; i++) {
    for (let j = i + 1; j < atomic.length && pairs.length < MAX_PAIRS; j++) {
      const a = atomic[i] as string;
      const b = atomic[j] as string;
      if (!ancestors.get(a)?.has(b) && !ancestors.get(b)?.has(a)) {
        pairs.push([a, b]);
      }
    }
  }
  return pairs;
}

/** Queue limits in proportion to how many atomic tasks name each queue, within `maxParallel`. */
function queueLimits(graph: TaskGraph, maxParallel: number): Record<string, number> {
  const counts = new Map<string, number>();
  for (const task of graph.tasks) {
    if (task.queue) {
      counts.set(task.queue, (counts.get(task.queue) ?? 0) + 1);
    }
  }
  const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
  return Object.fromEntries(
    [...counts].map(([queue, n]) => [queue, Math.max(1, Math.round((n / total) * maxParallel))]),
  );
}
