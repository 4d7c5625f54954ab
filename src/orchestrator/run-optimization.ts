/**
 * The optimizer's part in starting a run: applies the workflow's stored tuning (`htdag optimize
 * --apply`), then tunes the graph at the run's optimizationLevel from the workflow's history, and
 * reports what it did as optimization:* events.
 */
import { InvalidOptionError } from "../errors.js";
import type { TaskGraph } from "../graph/task-graph.js";
import type { TaskDefaults } from "../composer/bind.js";
import type { Optimizer } from "../optimizer/service.js";
import { applyStoredTuning } from "../optimizer/stored-tuning.js";
import type { EffectiveDefaults, OptimizationChange, OptimizationResult } from "../optimizer/types.js";
import type { EventQueries } from "../store/events.js";
import type { ResolvedRunOptions } from "./run-options.js";

/** What the optimizer applied to a run, recorded in the run's options. */
export interface AppliedOptimization {
  level: string;
  changes: OptimizationChange[];
  /** The stored tuning applied first, if any: its level, when it was stored, what no longer fitted. */
  stored?: { level: string; appliedAt: string; skipped: string[] };
  /** Hedging thresholds by task id, also set on the tasks (`hedgeAfterMs`) and acted on by the executor. */
  hedges?: Record<string, number>;
}

export interface OptimizationDeps {
  optimizer: Optimizer | undefined;
  events: EventQueries;
  channel: string;
  defaultMaxParallel: number;
}

type Tuned = { graph: TaskGraph; options: ResolvedRunOptions; applied?: AppliedOptimization };

/**
 * Applies the stored tuning of `workflow`, then the optimizer at `options.optimizationLevel`, to
 * `graph`. The run's maxParallel and queue limits take the tuned values only when the caller set none.
 */
export async function optimizeForRun(
  deps: OptimizationDeps,
  graph: TaskGraph,
  workflow: string,
  options: ResolvedRunOptions,
  defaults: TaskDefaults,
): Promise<Tuned> {
  const level = options.optimizationLevel;
  if (level !== "none" && !deps.optimizer) {
    throw new InvalidOptionError(
      "optimizationLevel",
      '"none" (this run service has no optimizer)',
      level,
      "composeFromTaskGraph",
    );
  }
  const effective: EffectiveDefaults = {
    timeoutMs: defaults.timeoutMs,
    maxAttempts: defaults.maxAttempts,
    backoff: defaults.backoff,
    maxParallel: options.maxParallel ?? deps.defaultMaxParallel,
  };
  const stored = await deps.optimizer?.storedTuning(workflow);
  if (level === "none" && !stored) {
    return { graph, options };
  }
  await emitOptimization(
    deps,
    "optimization:started",
    workflow,
    null,
    { level: level === "none" ? stored!.level : level, changes: [] },
    graph.id,
  );
  let tuned: Tuned = { graph, options };
  if (stored) {
    const fromStore = applyStoredTuning(graph, stored, effective);
    tuned = withRunSettings(tuned, options, fromStore.graph, fromStore.maxParallel, fromStore.queues, {
      level: stored.level,
      changes: fromStore.applied,
      stored: { level: stored.level, appliedAt: stored.appliedAt.toISOString(), skipped: fromStore.skipped },
      ...(fromStore.hedges ? { hedges: fromStore.hedges } : {}),
    });
  }
  if (level === "none") {
    return tuned;
  }
  const result: OptimizationResult = await deps.optimizer!.optimizeWorkflow(
    tuned.graph,
    {
      ...options.optimize,
      level,
      preserveStructure: options.preserveStructure,
      workflow,
      maxParallel: tuned.options.maxParallel ?? deps.defaultMaxParallel,
    },
    effective,
  );
  const earlier = tuned.applied;
  return withRunSettings(tuned, options, result.graph, result.maxParallel, result.queues, {
    level,
    changes: [...(earlier?.changes ?? []), ...result.changes],
    ...(earlier?.stored ? { stored: earlier.stored } : {}),
    ...(earlier?.hedges || result.hedges ? { hedges: { ...earlier?.hedges, ...result.hedges } } : {}),
  });
}

/** The tuned graph with run-wide settings the caller left unset; changes the caller overrode are dropped. */
function withRunSettings(
  previous: Tuned,
  caller: ResolvedRunOptions,
  graph: TaskGraph,
  maxParallel: number | undefined,
  queues: Record<string, number> | undefined,
  applied: AppliedOptimization,
): Tuned {
  const keep = (c: OptimizationChange) =>
    (c.field !== "maxParallel" || caller.maxParallel === undefined) &&
    (c.field !== "queueLimit" || caller.queues === undefined);
  const options: ResolvedRunOptions = {
    ...previous.options,
    ...(caller.maxParallel === undefined && maxParallel !== undefined ? { maxParallel } : {}),
    ...(caller.queues === undefined && queues ? { queues: { ...previous.options.queues, ...queues } } : {}),
  };
  return { graph, options, applied: { ...applied, changes: applied.changes.filter(keep) } };
}

/** Reports an optimization as an event (started: the level; completed: every change applied). */
export async function emitOptimization(
  deps: OptimizationDeps,
  type: string,
  workflow: string,
  runId: string | null,
  applied: AppliedOptimization,
  graphId: string,
): Promise<void> {
  await deps.events.emit({ type, runId, workflow, payload: optimizationPayload(type, applied, graphId) }, deps.channel);
}

/** The payload of an optimization event (started: the level; completed: every change applied). */
export function optimizationPayload(type: string, applied: AppliedOptimization, graphId: string): unknown {
  return type === "optimization:started"
    ? { level: applied.level, graphId }
    : {
        level: applied.level,
        changes: applied.changes.length,
        graphId,
        applied: applied.changes,
        ...(applied.stored ? { stored: applied.stored } : {}),
        ...(applied.hedges ? { hedges: applied.hedges } : {}),
      };
}
