/**
 * The `advanced` decision rules, pure over plain data: priorities from the critical path, backoff
 * from how failures cluster, and maxParallel from measured queue wait. Merges of tiny-task chains are in merge.ts.
 */
import { layers, remainingPathLength } from "../graph/algorithms.js";
import type { Task } from "../graph/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { round } from "./basic-rules.js";
import { failuresCluster, sampleConfidence } from "./statistics.js";
import type { EffectiveDefaults, OptimizationChange, ResolvedOptimizeOptions } from "./types.js";

const MAX_PRIORITY = 1000;

/**
 * Priorities from the longest remaining path by p50: tasks with more work behind them are claimed
 * first. Needs every atomic task measured (≥ minSamples successes); tasks with an explicit priority keep it.
 */
export function priorityRules(
  tasks: readonly Task[],
  metricsOf: (id: string) => TaskMetrics | undefined,
  options: ResolvedOptimizeOptions,
): OptimizationChange[] {
  const atomic = tasks.filter((task) => !tasks.some((other) => other.parentId === task.id));
  const measured = atomic.map((task) => metricsOf(task.id));
  if (measured.some((m) => !m || m.successes < options.minSamples || m.p50Ms === null)) {
    return [];
  }
  const samples = Math.min(...measured.map((m) => m!.successes));
  const remaining = remainingPathLength(tasks, (id) => metricsOf(id)?.p50Ms ?? 0);
  const longest = Math.max(...remaining.values(), 0);
  if (longest <= 0) {
    return [];
  }
  const changes: OptimizationChange[] = [];
  for (const task of atomic) {
    if (task.priority !== undefined) {
      continue;
    }
    const pathMs = remaining.get(task.id) ?? 0;
    const to = Math.round((pathMs / longest) * MAX_PRIORITY);
    if (to === 0) {
      continue;
    }
    changes.push({
      taskId: task.id,
      field: "priority",
      from: null,
      to,
      confidence: sampleConfidence(samples),
      reason: `${round(pathMs)} ms of p50 work remains from this task (critical path ${round(longest)} ms): claim it first`,
      evidence: { samples, statistic: "remainingPathP50Ms", value: round(pathMs) },
    });
  }
  return changes;
}

/**
 * Backoff from how transient failures cluster. Independent failures (a retry fails no more often than a first
 * attempt) gain nothing from waiting: base delay down to the task's p50 (at least 10 ms). Clustered
 * failures (retries fail far more often) need time to clear: base delay doubled.
 */
export function backoffRule(
  task: Task,
  metrics: TaskMetrics | undefined,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): OptimizationChange | null {
  if (!metrics || metrics.retries < options.minSamples || metrics.firstAttempts < options.minSamples) {
    return null;
  }
  // Only failures a retry can fix say anything about waiting; a task that never succeeds is not timed.
  if (metrics.transientFailures === 0) {
    return null;
  }
  const current = task.backoff?.baseMs ?? defaults.backoff.baseMs;
  const firstRate = metrics.firstAttemptFailures / metrics.firstAttempts;
  const retryRate = metrics.retriesFailed / metrics.retries;
  const evidence = { samples: metrics.retries, statistic: "retryFailureRate", value: round(retryRate) };
  const confidence = sampleConfidence(metrics.retries);
  if (failuresCluster(firstRate, retryRate)) {
    const to = Math.min(86_400_000, Math.max(current * 2, 100));
    return {
      taskId: task.id,
      field: "backoff.baseMs",
      from: current,
      to,
      evidence,
      confidence,
      reason: `retries fail at ${round(retryRate)} against ${round(firstRate)} for first attempts: failures cluster, wait longer`,
    };
  }
  const to = Math.max(10, Math.round(metrics.p50Ms ?? 10));
  if (to >= current) {
    return null;
  }
  return {
    taskId: task.id,
    field: "backoff.baseMs",
    from: current,
    to,
    evidence,
    confidence,
    reason: `retries fail at ${round(retryRate)}, no more than first attempts (${round(firstRate)}): failures are independent, waiting buys nothing`,
  };
}

/**
 * maxParallel from measured throughput: when tasks waited in the queue longer than they ran on
 * average and the graph is wider than the limit, raise it to the widest layer.
 */
export function maxParallelRule(
  tasks: readonly Task[],
  all: readonly TaskMetrics[],
  current: number,
  options: ResolvedOptimizeOptions,
): OptimizationChange | null {
  const measured = all.filter(
    (m) => m.successes >= options.minSamples && m.meanQueueWaitMs !== null && m.meanMs !== null,
  );
  if (measured.length === 0) {
    return null;
  }
  const wait = measured.reduce((sum, m) => sum + (m.meanQueueWaitMs ?? 0), 0) / measured.length;
  const work = measured.reduce((sum, m) => sum + (m.meanMs ?? 0), 0) / measured.length;
  const widest = Math.min(10_000, Math.max(...layers(tasks).map((layer) => layer.length)));
  if (wait <= work || widest <= current) {
    return null;
  }
  const samples = Math.min(...measured.map((m) => m.successes));
  return {
    field: "maxParallel",
    from: current,
    to: widest,
    confidence: sampleConfidence(samples),
    reason: `tasks waited ${round(wait)} ms for a slot on average against ${round(work)} ms of work; the widest layer has ${widest} tasks`,
    evidence: { samples, statistic: "meanQueueWaitMs", value: round(wait) },
  };
}
