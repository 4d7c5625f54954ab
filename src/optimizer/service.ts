/**
 * The optimizer facade (`orch.optimizer`): reads a workflow's metrics from the store, hands them to
 * the pure decisions in decide.ts and recommend.ts, reports recommendations as events, and keeps
 * the tunings `htdag optimize --apply` stores.
 */
import { z } from "zod";
import { backoffSchema, type TaskGraph } from "../graph/task-graph.js";
import { validateGraph } from "../graph/validate.js";
import { InvalidOptionError } from "../errors.js";
import { parseOptions } from "../options.js";
import type { EventQueries } from "../store/events.js";
import type { MetricsQueries } from "../store/metrics.js";
import type { StoredTuning, TuningQueries } from "../store/optimizer-tunings.js";
import { AGGRESSIVE_MIN_RUNS, decideOptimization, type History } from "./decide.js";
import { recommend } from "./recommend.js";
import { revertChanges } from "./stored-tuning.js";
import {
  optimizationChangeSchema,
  optimizeOptionsSchema,
  type EffectiveDefaults,
  type OptimizationChange,
  type OptimizationResult,
  type OptimizeOptions,
  type Recommendations,
  type ResolvedOptimizeOptions,
} from "./types.js";

/** What `orch.optimizer` offers. */
export interface Optimizer {
  /**
   * Returns `graph` tuned from the history of its workflow, with every change and its evidence.
   * `defaults` are the settings its tasks run with when they name none (a run's taskTimeoutMs,
   * maxAttempts and backoff), the `from` of each change; @default the orchestrator's execution defaults.
   * @example
   * const { graph: tuned, changes } = await orch.optimizer.optimizeWorkflow(graph, { level: "advanced", workflow: "etl" });
   */
  optimizeWorkflow(
    graph: TaskGraph,
    options?: OptimizeOptions,
    defaults?: Partial<EffectiveDefaults>,
  ): Promise<OptimizationResult>;
  /**
   * What could be changed and why, without changing anything; emits `optimization:recommended`
   * for the workflow (and `runId`, when given).
   */
  getRecommendations(
    graph: TaskGraph,
    options?: OptimizeOptions & { runId?: string },
    defaults?: Partial<EffectiveDefaults>,
  ): Promise<Recommendations>;
  /**
   * Stores the applied changes of `result` (and its hedging settings) as the tuning of `workflow`:
   * every later run of the workflow applies them (docs/optimizer.md, "Stored tunings").
   */
  storeTuning(workflow: string, goal: string, result: OptimizationResult): Promise<StoredTuning<OptimizationChange>>;
  /** The stored tuning of `workflow`, or null. */
  storedTuning(workflow: string): Promise<StoredTuning<OptimizationChange> | null>;
  /** Removes the stored tuning of `workflow`; true if there was one. */
  clearTuning(workflow: string): Promise<boolean>;
  /**
   * The graph `workflow` last ran, as written (the changes the optimizer applied to that run undone),
   * with the defaults and maxParallel it ran with: what `htdag optimize <workflow>` tunes. Null if it never ran.
   */
  lastRunGraph(workflow: string): Promise<LastRunGraph | null>;
}

/** What lastRunGraph returns. */
export interface LastRunGraph {
  runId: string;
  graph: TaskGraph;
  defaults: EffectiveDefaults;
}

export interface OptimizerDeps {
  metrics: MetricsQueries;
  defaults: EffectiveDefaults;
  /** The workflow name a graph runs under when none is given (the run service's slug of the goal). */
  workflowOf(graph: TaskGraph): string;
  /** Where `optimization:recommended` is written; without it no event is emitted. @default none */
  events?: EventQueries;
  /** The NOTIFY channel of events. @default none (stored without NOTIFY) */
  channel?: string;
  /** Stored tunings; without them storeTuning and storedTuning fail and runs apply none. @default none */
  tunings?: TuningQueries;
}

/** What a run recorded of its settings (runs.options): the task defaults and the optimization applied. */
const runRecordSchema = z.looseObject({
  taskDefaults: z
    .looseObject({ timeoutMs: z.number(), maxAttempts: z.number(), backoff: backoffSchema.partial() })
    .partial()
    .optional(),
  optimization: z.looseObject({ changes: z.array(optimizationChangeSchema) }).optional(),
});

/** Builds the optimizer over a metrics query family and the orchestrator's execution defaults. */
export function createOptimizer(deps: OptimizerDeps): Optimizer {
  const prepare = async (graph: TaskGraph, options: OptimizeOptions | undefined, where: string) => {
    const resolved: ResolvedOptimizeOptions = parseOptions(optimizeOptionsSchema, options ?? {}, where);
    const validated = validateGraph(graph, { defaults: { source: "function", decomposer: "manual" } });
    const workflow = resolved.workflow ?? deps.workflowOf(validated);
    const runs = await deps.metrics.finishedRuns(workflow);
    const history: History = {
      tasks: await deps.metrics.taskMetrics(workflow),
      runs,
      overrun: await deps.metrics.timeoutOverrun(workflow),
    };
    // Raw durations and queue limits are read only where the aggressive rules will use them.
    if (resolved.level === "aggressive" && runs >= AGGRESSIVE_MIN_RUNS) {
      history.durations = await deps.metrics.successDurations(workflow);
      history.queueLimits = await deps.metrics.queueLimits();
    }
    return { resolved, validated, history, workflow };
  };
  const tunings = (): TuningQueries => {
    if (!deps.tunings) {
      throw new InvalidOptionError(
        "tunings",
        "a tuning store: createOptimizer({ tunings: createTuningQueries(db, schema) })",
        undefined,
        "createOptimizer",
      );
    }
    return deps.tunings;
  };
  return {
    async optimizeWorkflow(graph, options, defaults) {
      const { resolved, validated, history } = await prepare(graph, options, "optimizeWorkflow");
      return decideOptimization(validated, history, { ...deps.defaults, ...defaults }, resolved);
    },
    async getRecommendations(graph, options, defaults) {
      const { runId, ...rest } = options ?? {};
      const { resolved, validated, history, workflow } = await prepare(graph, rest, "getRecommendations");
      history.spend = {
        perRun: await deps.metrics.runSpend(workflow),
        perTask: await deps.metrics.taskSpend(workflow),
      };
      const recommendations = recommend(validated, history, { ...deps.defaults, ...defaults }, resolved);
      if (deps.events) {
        await deps.events.emit(
          {
            type: "optimization:recommended",
            runId: runId ?? null,
            workflow,
            payload: {
              level: resolved.level,
              graphId: validated.id,
              changes: recommendations.changes.length,
              timeoutAdjustments: recommendations.timeoutAdjustments,
              failedPatternWarnings: recommendations.failedPatternWarnings,
              resourceAllocation: recommendations.resourceAllocation,
              cost: recommendations.cost,
            },
          },
          deps.channel ?? null,
        );
      }
      return recommendations;
    },
    async storeTuning(workflow, goal, result) {
      const changes = result.changes;
      return {
        workflow,
        level: result.level,
        changes,
        appliedAt: await tunings().save({ workflow, level: result.level, goal, changes }),
      };
    },
    async storedTuning(workflow) {
      const stored = deps.tunings ? await deps.tunings.load(workflow) : null;
      return stored ? { ...stored, changes: z.array(optimizationChangeSchema).parse(stored.changes) } : null;
    },
    clearTuning: (workflow) => tunings().clear(workflow),
    async lastRunGraph(workflow) {
      const last = await tunings().latestRunGraph(workflow);
      if (!last) {
        return null;
      }
      const recorded = runRecordSchema.parse(last.options);
      const applied = recorded.optimization?.changes ?? [];
      const graph = revertChanges(
        validateGraph(last.graph, { defaults: { source: "function", decomposer: "manual" } }),
        applied,
      );
      const parallel = applied.find((c) => c.field === "maxParallel");
      const taskDefaults = recorded.taskDefaults;
      return {
        runId: last.runId,
        graph,
        defaults: {
          timeoutMs: taskDefaults?.timeoutMs ?? deps.defaults.timeoutMs,
          maxAttempts: taskDefaults?.maxAttempts ?? deps.defaults.maxAttempts,
          backoff: { ...deps.defaults.backoff, ...taskDefaults?.backoff },
          maxParallel: typeof parallel?.from === "number" ? parallel.from : last.maxParallel,
        },
      };
    },
  };
}
