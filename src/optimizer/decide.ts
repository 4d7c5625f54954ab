/**
 * The optimizer's decisions, pure over plain data: which rules a level runs, which findings pass the
 * confidence threshold, and the graph with the applied changes. The store is read elsewhere (service.ts).
 */
import type { Task, TaskGraph } from "../graph/task-graph.js";
import type { TaskMetrics } from "../store/metrics.js";
import { attemptsRule, round, timeoutRule } from "./basic-rules.js";
import { backoffRule, maxParallelRule, priorityRules } from "./advanced-rules.js";
import { mergeChains, mergeRule } from "./merge.js";
import { fitModels, hedgeRule, modelTimeoutRule, summarizeModel } from "./aggressive-rules.js";
import { predictiveAllocation } from "./allocation.js";
import type { DurationModel } from "./duration-models.js";
import type {
  DurationModelSummary,
  EffectiveDefaults,
  MakespanPrediction,
  OptimizationChange,
  OptimizationResult,
  ResolvedOptimizeOptions,
  SpendPercentiles,
} from "./types.js";

/** Finished runs `aggressive` needs before it does more than `advanced`. */
export const AGGRESSIVE_MIN_RUNS = 100;

/** History the decisions read: per-task metrics and the number of finished runs. */
export interface History {
  tasks: readonly TaskMetrics[];
  runs: number;
  /** Successful durations in ms by task id (read for `aggressive` only). */
  durations?: ReadonlyMap<string, readonly number[]>;
  /** Current cluster-wide queue limits, null where a queue has none (read for `aggressive` only). */
  queueLimits?: Readonly<Record<string, number | null>>;
  /** How much longer than their limit timed-out attempts lasted (median): the claim and settle around the step. */
  overrun?: { samples: number; p50Ms: number | null };
  /** What runs and tasks spent on LLM calls (read for recommendations only). */
  spend?: { perRun: SpendPercentiles | null; perTask: ReadonlyMap<string, SpendPercentiles> };
}

/** Findings of a level, before the threshold, with what `aggressive` learnt on the way. */
export interface Findings {
  findings: OptimizationChange[];
  notes: string[];
  models?: Record<string, DurationModelSummary>;
  prediction?: MakespanPrediction;
}

/** Every finding of `options.level` for `graph`, before the confidence threshold. */
export function findChanges(
  graph: TaskGraph,
  history: History,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): Findings {
  const byId = new Map(history.tasks.map((m) => [m.key, m]));
  const metricsOf = (id: string) => byId.get(id);
  const notes: string[] = [];
  const aggressive = options.level === "aggressive" && history.runs >= AGGRESSIVE_MIN_RUNS;
  if (options.level === "aggressive" && !aggressive) {
    notes.push(
      `aggressive needs ≥ ${AGGRESSIVE_MIN_RUNS} finished runs of the workflow, found ${history.runs}: fell back to advanced`,
    );
  }
  const overrunMs = stepOverrunMs(history, options, notes);
  const stepDurations = new Map(
    [...(history.durations ?? new Map<string, readonly number[]>())].map(([id, d]) => [
      id,
      d.map((ms) => stepMs(ms, overrunMs)),
    ]),
  );
  const models = aggressive ? fitModels(stepDurations, options) : new Map<string, DurationModel>();
  const backoffs = new Map<string, OptimizationChange>();
  if (options.level !== "basic") {
    for (const task of graph.tasks) {
      const change = backoffRule(task, metricsOf(task.id), defaults, options);
      if (change) {
        backoffs.set(task.id, change);
      }
    }
  }
  const findings = timeoutsAndAttempts(graph, metricsOf, models, backoffs, overrunMs, defaults, options);
  if (options.level === "basic") {
    return { findings, notes };
  }
  findings.push(...priorityRules(graph.tasks, metricsOf, options));
  findings.push(...backoffs.values());
  const current = options.maxParallel ?? defaults.maxParallel;
  if (!aggressive) {
    const parallel = maxParallelRule(graph.tasks, history.tasks, current, options);
    if (parallel) {
      findings.push(parallel);
    }
  }
  if (!aggressive) {
    if (!options.preserveStructure) {
      findings.push(...mergeRule(graph.tasks, metricsOf, options));
    }
    return { findings, notes };
  }
  const hedged = new Set<string>();
  for (const task of graph.tasks) {
    const hedge = hedgeRule(task, models.get(task.id), options);
    if (hedge) {
      findings.push(hedge);
      hedged.add(task.id);
    }
  }
  // A hedged task keeps its own attempt: a merged chain is not hedged.
  if (!options.preserveStructure) {
    findings.push(...mergeRule(graph.tasks, metricsOf, options, hedged));
  }
  // Demand is predicted for the graph as it will run: with the task changes that pass the threshold.
  const tuned = applyChanges(
    graph,
    findings.filter((c) => isApplicable(c, options)),
  );
  const allocation = predictiveAllocation({
    tasks: tuned.tasks,
    metricsOf,
    models,
    defaults,
    maxParallel: current,
    overrunMs,
    queueLimits: history.queueLimits ?? {},
    options,
  });
  findings.push(...allocation.changes);
  if (allocation.note) {
    notes.push(allocation.note);
  }
  return {
    findings,
    notes,
    models: Object.fromEntries([...models].map(([id, model]) => [id, summarizeModel(model)])),
    ...(allocation.prediction ? { prediction: allocation.prediction } : {}),
  };
}

/**
 * Timeouts (from the model where there is one, else basic) and attempts of every task. Timeouts read
 * step times (durations less the overrun); a restart cutoff weighs the backoff the task will run with.
 */
function timeoutsAndAttempts(
  graph: TaskGraph,
  metricsOf: (id: string) => TaskMetrics | undefined,
  models: ReadonlyMap<string, DurationModel>,
  backoffs: ReadonlyMap<string, OptimizationChange>,
  overrunMs: number,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): OptimizationChange[] {
  const findings: OptimizationChange[] = [];
  for (const task of graph.tasks) {
    const metrics = metricsOf(task.id);
    const step = metrics && stepTimes(metrics, overrunMs);
    const model = models.get(task.id);
    const backoff = backoffs.get(task.id);
    const asRun = backoff ? applyChanges({ ...graph, tasks: [task] }, [backoff]).tasks[0]! : task;
    const timeout =
      (model ? modelTimeoutRule(asRun, step, model, defaults, options) : null) ??
      timeoutRule(task, step, defaults, options);
    for (const change of [timeout, attemptsRule(task, metrics, defaults, options)]) {
      if (change) {
        findings.push(change);
      }
    }
  }
  return findings;
}

/**
 * Durations run from claim to settle; a timeout limits the step alone. With enough timed-out attempts
 * (whose step took exactly the limit) their median overrun is taken off durations before timeouts are
 * set from them, and said so in `notes`; otherwise 0 (timeouts then err on the long side).
 */
function stepOverrunMs(history: History, options: ResolvedOptimizeOptions, notes: string[]): number {
  const overrun = history.overrun;
  if (!overrun || overrun.samples < options.minSamples || overrun.p50Ms === null || overrun.p50Ms <= 0) {
    return 0;
  }
  notes.push(
    `timeouts are set on durations less ${round(overrun.p50Ms)} ms of claim and settle (the median overrun of ${overrun.samples} timed-out attempts)`,
  );
  return overrun.p50Ms;
}

/**
 * A duration less the overrun, at least half of it: never 0 (a step takes some time), and continuous,
 * so durations near the overrun keep their order and spread instead of piling up at a floor.
 */
function stepMs(ms: number, overrunMs: number): number {
  return Math.max(ms - overrunMs, ms / 2);
}

function stepTimes(metrics: TaskMetrics, overrunMs: number): TaskMetrics {
  if (overrunMs === 0) {
    return metrics;
  }
  const less = (ms: number | null) => (ms === null ? null : stepMs(ms, overrunMs));
  return {
    ...metrics,
    p50Ms: less(metrics.p50Ms),
    p95Ms: less(metrics.p95Ms),
    p99Ms: less(metrics.p99Ms),
    maxSuccessMs: less(metrics.maxSuccessMs),
  };
}

/** Whether a finding is applied: at or above the threshold. */
export function isApplicable(change: OptimizationChange, options: ResolvedOptimizeOptions): boolean {
  return change.confidence >= options.patternConfidenceThreshold;
}

/**
 * Optimizes `graph` from `history`: applies every finding at or above the threshold, returns the
 * rest as recommendations. `aggressive` with too few runs says so in
 * `notes`, and a history with no runs returns no changes and a note.
 */
export function decideOptimization(
  graph: TaskGraph,
  history: History,
  defaults: EffectiveDefaults,
  options: ResolvedOptimizeOptions,
): OptimizationResult {
  if (history.runs === 0 && history.tasks.length === 0) {
    return {
      graph,
      changes: [],
      recommendations: [],
      confidence: 0,
      level: options.level,
      notes: ["no history for this workflow: run it first, then optimize"],
    };
  }
  const { findings, notes, models, prediction } = findChanges(graph, history, defaults, options);
  const changes = findings.filter((c) => isApplicable(c, options));
  const recommendations = findings.filter((c) => !isApplicable(c, options));
  const confidence = changes.length === 0 ? 0 : changes.reduce((sum, c) => sum + c.confidence, 0) / changes.length;
  const parallel = changes.find((c) => c.field === "maxParallel");
  const queues = Object.fromEntries(
    changes.filter((c) => c.field === "queueLimit" && c.queue).map((c) => [c.queue as string, c.to as number]),
  );
  const hedges = Object.fromEntries(
    changes.filter((c) => c.field === "hedgeAfterMs" && c.taskId).map((c) => [c.taskId as string, c.to as number]),
  );
  return {
    graph: applyChanges(graph, changes),
    changes,
    recommendations,
    confidence,
    level: options.level,
    notes,
    ...(parallel ? { maxParallel: parallel.to as number } : {}),
    ...(Object.keys(queues).length > 0 ? { queues } : {}),
    ...(Object.keys(hedges).length > 0 ? { hedges } : {}),
    ...(models ? { models } : {}),
    ...(prediction ? { prediction } : {}),
  };
}

/**
 * A copy of `graph` with task-level changes applied, then its merges (chains of tasks run as one,
 * see merge.ts); nothing else about dependencies or order is touched.
 */
export function applyChanges(graph: TaskGraph, changes: readonly OptimizationChange[]): TaskGraph {
  const byTask = new Map<string, OptimizationChange[]>();
  for (const change of changes) {
    if (change.taskId !== undefined) {
      byTask.set(change.taskId, [...(byTask.get(change.taskId) ?? []), change]);
    }
  }
  const tuned = { ...graph, tasks: graph.tasks.map((task) => applyToTask(task, byTask.get(task.id) ?? [])) };
  const merges = changes.filter((c) => c.field === "merge");
  return merges.length === 0 ? tuned : mergeChains(tuned, merges).graph;
}

function applyToTask(task: Task, changes: readonly OptimizationChange[]): Task {
  let next: Task = { ...task, dependsOn: [...task.dependsOn] };
  for (const change of changes) {
    const value = change.to as number;
    if (change.field === "timeoutMs") {
      next = { ...next, timeoutMs: value };
    } else if (change.field === "maxAttempts") {
      next = { ...next, maxAttempts: value };
    } else if (change.field === "priority") {
      next = { ...next, priority: value };
    } else if (change.field === "hedgeAfterMs") {
      next = { ...next, hedgeAfterMs: value };
    } else if (change.field === "backoff.baseMs") {
      next = { ...next, backoff: { ...next.backoff, baseMs: value } };
    }
  }
  return next;
}
