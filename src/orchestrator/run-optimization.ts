/**
 * The optimizer's part in starting a run: tunes the graph at the run's optimizationLevel from the
 * workflow's history, and reports what it did as optimization:* events.
 */
import { InvalidOptionError } from "../errors.js";
import type { TaskGraph } from "../decomposers/task-graph.js";
import type { TaskDefaults } from "../composer/bind.js";
import type { Optimizer } from "../optimizer/service.js";
import type { OptimizationChange } from "../optimizer/types.js";
import type { EventQueries } from "../store/events.js";
import type { ResolvedRunOptions } from "./run-options.js";

/** What the optimizer applied to a run, recorded in the run's options. */
export interface AppliedOptimization {
  level: string;
  changes: OptimizationChange[];
}

export interface OptimizationDeps {
  optimizer: Optimizer | undefined;
  events: EventQueries;
  channel: string;
  defaultMaxParallel: number;
}

/**
 * Applies the optimizer at `options.optimizationLevel` to `graph` from the workflow's history; the
 * run's maxParallel takes the optimizer's value only when the caller set none.
 */
export async function optimizeForRun(deps: OptimizationDeps, graph: TaskGraph, workflow: string, options: ResolvedRunOptions,
  defaults: TaskDefaults): Promise<{ graph: TaskGraph; options: ResolvedRunOptions; applied?: AppliedOptimization }> {
  const level = options.optimizationLevel;
  if (level === "none") return { graph, options };
  if (!deps.optimizer) throw new InvalidOptionError("optimizationLevel", '"none" (this run service has no optimizer)', level, "composeFromTaskGraph");
  await emitOptimization(deps, "optimization:started", workflow, null, { level, changes: [] }, graph.id);
  const result = await deps.optimizer.optimizeWorkflow(graph, {
    ...options.optimize, level, preserveStructure: options.preserveStructure, workflow,
    maxParallel: options.maxParallel ?? deps.defaultMaxParallel,
  }, { timeoutMs: defaults.timeoutMs, maxAttempts: defaults.maxAttempts, backoff: defaults.backoff });
  const maxParallel = options.maxParallel ?? result.maxParallel;
  const changes = result.changes.filter((c) => c.field !== "maxParallel" || options.maxParallel === undefined);
  return { graph: result.graph, options: { ...options, ...(maxParallel === undefined ? {} : { maxParallel }) }, applied: { level, changes } };
}

/** Reports an optimization as an event (started: the level; completed: every change applied). */
export async function emitOptimization(deps: OptimizationDeps, type: string, workflow: string, runId: string | null, applied: AppliedOptimization, graphId: string): Promise<void> {
  const payload = type === "optimization:started" ? { level: applied.level, graphId }
    : { level: applied.level, changes: applied.changes.length, graphId, applied: applied.changes };
  await deps.events.emit({ type, runId, workflow, payload }, deps.channel);
}
