/**
 * The optimizer facade (`orch.optimizer`): reads a workflow's metrics from the store, then hands
 * them to the pure decisions in decide.ts and recommend.ts.
 */
import type { TaskGraph } from "../decomposers/task-graph.js";
import { validateGraph } from "../decomposers/validate.js";
import { parseOptions } from "../options.js";
import type { MetricsQueries } from "../store/metrics.js";
import { decideOptimization, type History } from "./decide.js";
import { recommend } from "./recommend.js";
import { optimizeOptionsSchema, type EffectiveDefaults, type OptimizationResult, type OptimizeOptions,
  type Recommendations, type ResolvedOptimizeOptions } from "./types.js";

/** What `orch.optimizer` offers. */
export interface Optimizer {
  /**
   * Returns `graph` tuned from the history of its workflow, with every change and its evidence.
   * `defaults` are the settings its tasks run with when they name none (a run's taskTimeoutMs,
   * maxAttempts and backoff), the `from` of each change; @default the orchestrator's execution defaults.
   * @example
   * const { graph: tuned, changes } = await orch.optimizer.optimizeWorkflow(graph, { level: "advanced", workflow: "etl" });
   */
  optimizeWorkflow(graph: TaskGraph, options?: OptimizeOptions, defaults?: Partial<EffectiveDefaults>): Promise<OptimizationResult>;
  /** What could be changed and why, without changing anything. */
  getRecommendations(graph: TaskGraph, options?: OptimizeOptions): Promise<Recommendations>;
}

export interface OptimizerDeps {
  metrics: MetricsQueries;
  defaults: EffectiveDefaults;
  /** The workflow name a graph runs under when none is given (the run service's slug of the goal). */
  workflowOf(graph: TaskGraph): string;
}

/** Builds the optimizer over a metrics query family and the orchestrator's execution defaults. */
export function createOptimizer(deps: OptimizerDeps): Optimizer {
  const prepare = async (graph: TaskGraph, options: OptimizeOptions | undefined, where: string) => {
    const resolved: ResolvedOptimizeOptions = parseOptions(optimizeOptionsSchema, options ?? {}, where);
    const validated = validateGraph(graph, { defaults: { source: "function", decomposer: "manual" } });
    const workflow = resolved.workflow ?? deps.workflowOf(validated);
    const history: History = { tasks: await deps.metrics.taskMetrics(workflow), runs: await deps.metrics.finishedRuns(workflow) };
    return { resolved, validated, history };
  };
  return {
    async optimizeWorkflow(graph, options, defaults) {
      const { resolved, validated, history } = await prepare(graph, options, "optimizeWorkflow");
      return decideOptimization(validated, history, { ...deps.defaults, ...defaults }, resolved);
    },
    async getRecommendations(graph, options) {
      const { resolved, validated, history } = await prepare(graph, options, "getRecommendations");
      return recommend(validated, history, deps.defaults, resolved);
    },
  };
}
