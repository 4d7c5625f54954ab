/**
 * The optimizer's decisions, pure over plain data: which rules a level runs, which findings pass the
 * confidence threshold, and the graph with the applied changes. The store is read elsewhere (service.ts).
 */
import type { Task, TaskGraph } from "../decomposers/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { attemptsRule, timeoutRule } from "./basic-rules.js";
import { backoffRule, maxParallelRule, mergeRecommendations, priorityRules } from "./advanced-rules.js";
import type { EffectiveDefaults, OptimizationChange, OptimizationResult, ResolvedOptimizeOptions } from "./types.js";

/** Finished runs `aggressive` needs before it does more than `advanced`. */
export const AGGRESSIVE_MIN_RUNS = 100;

/** History the decisions read: per-task metrics and the number of finished runs. */
export interface History {
  tasks: readonly TaskMetrics[];
  runs: number;
}

/** Every finding of `options.level` for `graph`, before the confidence threshold. */
export function findChanges(graph: TaskGraph, history: History, defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions): { findings: OptimizationChange[]; notes: string[] } {
  const byId = new Map(history.tasks.map((m) => [m.key, m]));
  const notes: string[] = [];
  const findings: OptimizationChange[] = [];
  for (const task of graph.tasks) {
    const metrics = byId.get(task.id);
    for (const rule of [timeoutRule, attemptsRule]) {
      const change = rule(task, metrics, defaults, options);
      if (change) findings.push(change);
    }
  }
  if (options.level === "basic") return { findings, notes };
  if (options.level === "aggressive") {
    notes.push(history.runs < AGGRESSIVE_MIN_RUNS
      ? `aggressive needs ≥ ${AGGRESSIVE_MIN_RUNS} finished runs of the workflow, found ${history.runs}: fell back to advanced`
      : "aggressive-only rules (duration models, hedged re-runs, predictive queue allocation) are not built yet: applied advanced");
  }
  findings.push(...priorityRules(graph.tasks, (id) => byId.get(id), options));
  for (const task of graph.tasks) {
    const change = backoffRule(task, byId.get(task.id), defaults, options);
    if (change) findings.push(change);
  }
  const parallel = maxParallelRule(graph.tasks, history.tasks, options.maxParallel ?? defaults.maxParallel, options);
  if (parallel) findings.push(parallel);
  if (!options.preserveStructure) findings.push(...mergeRecommendations(graph.tasks, (id) => byId.get(id), options));
  return { findings, notes };
}

/**
 * Optimizes `graph` from `history`: applies every finding at or above the threshold (merges stay
 * recommendations), returns the rest as recommendations. `aggressive` with too few runs says so in
 * `notes`, and a history with no runs returns no changes and a note.
 */
export function decideOptimization(graph: TaskGraph, history: History, defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions): OptimizationResult {
  if (history.runs === 0 && history.tasks.length === 0) {
    return { graph, changes: [], recommendations: [], confidence: 0, level: options.level,
      notes: ["no history for this workflow: run it first, then optimize"] };
  }
  const { findings, notes } = findChanges(graph, history, defaults, options);
  const applicable = (c: OptimizationChange) => c.field !== "merge" && c.confidence >= options.patternConfidenceThreshold;
  const changes = findings.filter(applicable);
  const recommendations = findings.filter((c) => !applicable(c));
  const confidence = changes.length === 0 ? 0 : changes.reduce((sum, c) => sum + c.confidence, 0) / changes.length;
  const parallel = changes.find((c) => c.field === "maxParallel");
  return { graph: applyChanges(graph, changes), changes, recommendations, confidence, level: options.level, notes,
    ...(parallel ? { maxParallel: parallel.to as number } : {}) };
}

/** A copy of `graph` with task-level changes applied; dependencies and order are never touched. */
export function applyChanges(graph: TaskGraph, changes: readonly OptimizationChange[]): TaskGraph {
  const byTask = new Map<string, OptimizationChange[]>();
  for (const change of changes) {
    if (change.taskId !== undefined) byTask.set(change.taskId, [...(byTask.get(change.taskId) ?? []), change]);
  }
  return { ...graph, tasks: graph.tasks.map((task) => applyToTask(task, byTask.get(task.id) ?? [])) };
}

function applyToTask(task: Task, changes: readonly OptimizationChange[]): Task {
  let next: Task = { ...task, dependsOn: [...task.dependsOn] };
  for (const change of changes) {
    const value = change.to as number;
    if (change.field === "timeoutMs") next = { ...next, timeoutMs: value };
    else if (change.field === "maxAttempts") next = { ...next, maxAttempts: value };
    else if (change.field === "priority") next = { ...next, priority: value };
    else if (change.field === "backoff.baseMs") next = { ...next, backoff: { ...next.backoff, baseMs: value } };
  }
  return next;
}
