/**
 * Stored tunings, pure: applying the changes `htdag optimize --apply` stored to the graph of a
 * later run (only where the task still has the value the change was made from, or where it raises
 * a timeout or attempts: never lowering a setting someone changed since; merges where the tasks
 * still form a chain), and undoing the changes
 * a run recorded, to get back the graph as written.
 */
import type { Task, TaskGraph } from "../graph/task-graph.js";
import { applyChanges } from "./decide.js";
import { mergeChains, unmergeChains } from "./merge.js";
import type { EffectiveDefaults, OptimizationChange } from "./types.js";

/** A stored tuning as the run path reads it. */
export interface TuningToApply {
  level: string;
  changes: readonly OptimizationChange[];
}

/** The graph with the stored changes that still fit, and the run-wide settings of the tuning. */
export interface AppliedTuning {
  graph: TaskGraph;
  applied: OptimizationChange[];
  /** Why a stored change was not applied (the task is gone, or its setting changed since). */
  skipped: string[];
  maxParallel?: number;
  queues?: Record<string, number>;
  hedges?: Record<string, number>;
}

const TASK_FIELDS = new Set(["timeoutMs", "maxAttempts", "priority", "backoff.baseMs"]);
const RAISES = new Set(["timeoutMs", "maxAttempts"]);

/** The value of a task setting a change names, with the run's defaults where the task sets none. */
export function currentValue(task: Task, field: string, defaults: EffectiveDefaults): number | null {
  if (field === "timeoutMs") {
    return task.timeoutMs ?? defaults.timeoutMs;
  }
  if (field === "maxAttempts") {
    return task.maxAttempts ?? defaults.maxAttempts;
  }
  if (field === "backoff.baseMs") {
    return task.backoff?.baseMs ?? defaults.backoff.baseMs;
  }
  if (field === "priority") {
    return task.priority ?? null;
  }
  return null;
}

/** Applies `tuning` to `graph` with `defaults` as the values of settings its tasks leave unset. */
export function applyStoredTuning(graph: TaskGraph, tuning: TuningToApply, defaults: EffectiveDefaults): AppliedTuning {
  const tasks = new Map(graph.tasks.map((t) => [t.id, t]));
  const applied: OptimizationChange[] = [];
  const skipped: string[] = [];
  const queues: Record<string, number> = {};
  const hedges: Record<string, number> = {};
  let maxParallel: number | undefined;
  for (const change of tuning.changes) {
    if (change.field === "maxParallel" && typeof change.to === "number") {
      maxParallel = change.to;
      applied.push(change);
    } else if (change.field === "queueLimit" && change.queue && typeof change.to === "number") {
      queues[change.queue] = change.to;
      applied.push(change);
    }
    if (change.taskId === undefined || typeof change.to !== "number") {
      continue;
    }
    const task = tasks.get(change.taskId);
    if (!task) {
      skipped.push(`${change.taskId}.${change.field}: the task is no longer in the graph`);
      continue;
    }
    if (change.field === "hedgeAfterMs") {
      hedges[change.taskId] = change.to;
      applied.push({ ...change, from: task.hedgeAfterMs ?? null });
      continue;
    }
    if (!TASK_FIELDS.has(change.field)) {
      continue;
    }
    const now = currentValue(task, change.field, defaults);
    if (now === change.to) {
      continue;
    }
    if (now === change.from || (RAISES.has(change.field) && now !== null && change.to > now)) {
      applied.push({ ...change, from: now });
    } else {
      skipped.push(`${change.taskId}.${change.field}: is ${now} now, not ${change.from} as when tuned; left as it is`);
    }
  }
  // Merges go last, as when tuned: only links that still form a chain of plain tasks.
  const merges = mergeChains(
    applyChanges(graph, applied),
    tuning.changes.filter((c) => c.field === "merge"),
  );
  for (const change of merges.skipped) {
    skipped.push(`${change.to} → ${change.taskId}: no longer a chain that can be merged; left as it is`);
  }
  const mergedLinks = tuning.changes.filter((c) => c.field === "merge" && !merges.skipped.includes(c));
  applied.push(...mergedLinks);
  return {
    graph: merges.graph,
    applied,
    skipped,
    ...(maxParallel === undefined ? {} : { maxParallel }),
    ...(Object.keys(queues).length > 0 ? { queues } : {}),
    ...(Object.keys(hedges).length > 0 ? { hedges } : {}),
  };
}

/** `graph` with the task-level `changes` undone: merged chains split again, each field back to its `from` (null: unset). */
export function revertChanges(graph: TaskGraph, changes: readonly OptimizationChange[]): TaskGraph {
  const byTask = new Map<string, OptimizationChange[]>();
  for (const change of changes) {
    if (change.taskId && TASK_FIELDS.has(change.field)) {
      byTask.set(change.taskId, [...(byTask.get(change.taskId) ?? []), change]);
    }
  }
  return {
    ...graph,
    tasks: unmergeChains(graph, changes).tasks.map((task) => {
      let next: Task = { ...task };
      for (const change of [...(byTask.get(task.id) ?? [])].reverse()) {
        next = withValue(next, change.field, change.from);
      }
      return next;
    }),
  };
}

function withValue(task: Task, field: string, value: number | string | null): Task {
  const number = typeof value === "number" ? value : undefined;
  const { timeoutMs, maxAttempts, priority, backoff, ...rest } = task;
  const kept = { timeoutMs, maxAttempts, priority, backoff };
  if (field === "timeoutMs") {
    kept.timeoutMs = number;
  }
  if (field === "maxAttempts") {
    kept.maxAttempts = number;
  }
  if (field === "priority") {
    kept.priority = number;
  }
  if (field === "backoff.baseMs") {
    kept.backoff = { ...backoff, baseMs: number };
  }
  return { ...rest, ...Object.fromEntries(Object.entries(kept).filter(([, v]) => v !== undefined)) } as Task;
}
