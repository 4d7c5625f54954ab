/**
 * Merging chains of tiny tasks (`advanced` with `preserveStructure: false`): which links of a chain
 * qualify, the rewrite of the graph (the chain becomes its last task, holding the others as
 * `merged`, see task-graph.ts), and its undoing. Pure over plain data.
 *
 * A link `a → b` qualifies when b waits for a alone and is a's only dependant, both run a step with
 * no condition, fan-out, hedge or lazy expansion, share parent and queue, and no other task reads
 * a's output. It is worth merging when, for both, the time around the step (queue wait, claim and
 * settle) exceeds the step's own time. A retry of a merged task runs its chain again from the
 * start, so a task is merged only before tasks that never failed in the history, unless it is
 * marked idempotent.
 */
import { unresolvedReferences } from "../composer/references.js";
import { MAX_MERGED_TASKS, type MergedTask, type Task, type TaskGraph } from "../graph/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { round } from "./basic-rules.js";
import { sampleConfidence } from "./statistics.js";
import type { OptimizationChange, ResolvedOptimizeOptions } from "./types.js";

/** The structure of a graph the merge checks read. */
interface Shape {
  byId: ReadonlyMap<string, Task>;
  dependants: ReadonlyMap<string, readonly string[]>;
  /** Ids whose output some task reads, with the tasks that read it. */
  readers: ReadonlyMap<string, ReadonlySet<string>>;
  parents: ReadonlySet<string>;
}

function shapeOf(tasks: readonly Task[]): Shape {
  const dependants = new Map<string, string[]>();
  const readers = new Map<string, Set<string>>();
  for (const task of tasks) {
    for (const dep of task.dependsOn) {
      dependants.set(dep, [...(dependants.get(dep) ?? []), task.id]);
    }
    for (const part of [task, ...(task.merged ?? [])]) {
      for (const id of unresolvedReferences(part, new Set())) {
        readers.set(id, (readers.get(id) ?? new Set()).add(task.id));
      }
      if (part.forEach) {
        readers.set(part.forEach.from, (readers.get(part.forEach.from) ?? new Set()).add(task.id));
      }
    }
  }
  return {
    byId: new Map(tasks.map((t) => [t.id, t])),
    dependants,
    readers,
    parents: new Set(tasks.flatMap((t) => (t.parentId ? [t.parentId] : []))),
  };
}

/** Whether a task only runs its step once its dependencies succeeded. */
function plain(task: Task, shape: Shape): boolean {
  return (
    !shape.parents.has(task.id) &&
    task.kind !== "composite" &&
    task.when === undefined &&
    task.forEach === undefined &&
    task.expand === undefined &&
    task.hedgeAfterMs === undefined &&
    task.recovers === undefined &&
    task.wait === undefined &&
    (task.runIf ?? "allSucceeded") === "allSucceeded"
  );
}

/** Whether the structure allows merging `a` into its dependant `b` (evidence aside). */
function linkable(a: Task, b: Task, shape: Shape): boolean {
  const next = shape.dependants.get(a.id) ?? [];
  const readers = shape.readers.get(a.id) ?? new Set<string>();
  return (
    next.length === 1 &&
    next[0] === b.id &&
    b.dependsOn.length === 1 &&
    b.dependsOn[0] === a.id &&
    a.merged === undefined &&
    plain(a, shape) &&
    plain(b, shape) &&
    a.parentId === b.parentId &&
    a.queue === b.queue &&
    [...readers].every((id) => id === b.id)
  );
}

/**
 * One `merge` finding per link of every chain of tiny tasks worth merging: `taskId` is the later
 * task, `to` the one merged into it. `exclude` names tasks that must stay as they are (hedged ones).
 */
export function mergeRule(
  tasks: readonly Task[],
  metricsOf: (id: string) => TaskMetrics | undefined,
  options: ResolvedOptimizeOptions,
  exclude: ReadonlySet<string> = new Set(),
): OptimizationChange[] {
  const shape = shapeOf(tasks);
  const tiny = (id: string): TaskMetrics | undefined => {
    const m = metricsOf(id);
    return m && !exclude.has(id) && m.successes >= options.minSamples && m.meanMs !== null && around(m) > m.meanMs
      ? m
      : undefined;
  };
  const links = new Map<string, Task>();
  for (const a of tasks) {
    const next = shape.dependants.get(a.id);
    const b = next?.length === 1 ? shape.byId.get(next[0]!) : undefined;
    if (b && tiny(a.id) && tiny(b.id) && linkable(a, b, shape)) {
      links.set(a.id, b);
    }
  }
  const nextOf = (task: Task) => links.get(task.id);
  const linkedTo = new Set([...links.values()].map((b) => b.id));
  const changes: OptimizationChange[] = [];
  for (const head of tasks.filter((task) => links.has(task.id) && !linkedTo.has(task.id))) {
    let group = [head];
    for (let b = nextOf(head); b; b = nextOf(b)) {
      // A retry re-runs the whole chain: a task that has failed starts a new one, unless the ones before it may run again.
      const safe = neverFailed(metricsOf(b.id)) || group.every((t) => t.idempotent === true);
      if (!safe || group.length > MAX_MERGED_TASKS) {
        changes.push(...linkChanges(group, metricsOf));
        group = [];
      }
      group.push(b);
    }
    changes.push(...linkChanges(group, metricsOf));
  }
  return changes;
}

/** Time around a step: queue wait plus claim and settle. */
function around(m: TaskMetrics): number {
  return (m.meanQueueWaitMs ?? 0) + (m.meanOverheadMs ?? 0);
}

function neverFailed(m: TaskMetrics | undefined): boolean {
  return m !== undefined && m.failures === 0 && m.timeouts === 0;
}

function linkChanges(group: readonly Task[], metricsOf: (id: string) => TaskMetrics | undefined): OptimizationChange[] {
  const changes: OptimizationChange[] = [];
  for (let i = 1; i < group.length; i++) {
    const a = metricsOf(group[i - 1]!.id)!;
    const b = metricsOf(group[i]!.id)!;
    const samples = Math.min(a.successes, b.successes);
    const overhead = around(a) + around(b);
    const work = (a.meanMs ?? 0) + (b.meanMs ?? 0);
    changes.push({
      taskId: group[i]!.id,
      field: "merge",
      from: null,
      to: group[i - 1]!.id,
      confidence: sampleConfidence(samples),
      reason: `${group[i - 1]!.id} → ${group[i]!.id} is a chain of tiny tasks: ${round(overhead)} ms waiting, claiming and settling against ${round(work)} ms of work; run ${group[i - 1]!.id}'s step in ${group[i]!.id}'s attempt`,
      evidence: { samples, statistic: "overheadShare", value: round(overhead / (overhead + work)) },
    });
  }
  return changes;
}

/**
 * `graph` with the merges applied: each chain of linked tasks becomes its last task, holding the
 * others (as they were) in `merged` and taking the first one's dependencies. Links whose tasks no
 * longer form a chain are left out and returned in `skipped`.
 */
export function mergeChains(
  graph: TaskGraph,
  merges: readonly OptimizationChange[],
): { graph: TaskGraph; skipped: OptimizationChange[] } {
  const shape = shapeOf(graph.tasks);
  const intoOf = new Map<string, string>();
  const skipped: OptimizationChange[] = [];
  for (const change of merges) {
    const a = typeof change.to === "string" ? shape.byId.get(change.to) : undefined;
    const b = change.taskId === undefined ? undefined : shape.byId.get(change.taskId);
    if (a && b && linkable(a, b, shape) && b.merged === undefined) {
      intoOf.set(a.id, b.id);
    } else {
      skipped.push(change);
    }
  }
  if (intoOf.size === 0) {
    return { graph, skipped };
  }
  const fromOf = new Map([...intoOf].map(([a, b]) => [b, a]));
  const tasks = graph.tasks.flatMap((task): Task[] => {
    if (intoOf.has(task.id)) {
      return [];
    }
    const chain: MergedTask[] = [];
    for (let id = fromOf.get(task.id); id !== undefined; id = fromOf.get(id)) {
      chain.unshift(shape.byId.get(id) as MergedTask);
    }
    return chain.length > 0 ? [{ ...task, dependsOn: [...chain[0]!.dependsOn], merged: chain }] : [task];
  });
  return { graph: { ...graph, tasks }, skipped };
}

/** `graph` with the chains merged into the tasks `merges` name split back into tasks, where they were. */
export function unmergeChains(graph: TaskGraph, merges: readonly OptimizationChange[]): TaskGraph {
  const merged = new Set(merges.flatMap((c) => (c.field === "merge" && c.taskId ? [c.taskId] : [])));
  if (merged.size === 0) {
    return graph;
  }
  return {
    ...graph,
    tasks: graph.tasks.flatMap((task): Task[] => {
      if (!task.merged || !merged.has(task.id)) {
        return [task];
      }
      const { merged: chain, ...rest } = task;
      return [...chain, { ...rest, dependsOn: [chain[chain.length - 1]!.id] }];
    }),
  };
}
