/** The optimizer's options (validated at the edge), its changes and its result. */
import { z } from "zod";
import { OPTIMIZER_DEFAULTS } from "../defaults.js";
import type { Backoff, TaskGraph } from "../graph/task-graph.js";
import type { SpendPercentiles } from "../store/metrics.js";

export type { SpendPercentiles } from "../store/metrics.js";

export const OPTIMIZATION_LEVELS = ["basic", "advanced", "aggressive"] as const;
export type OptimizationLevel = (typeof OPTIMIZATION_LEVELS)[number];

export const optimizeOptionsSchema = z.strictObject({
  level: z.enum(OPTIMIZATION_LEVELS).default(OPTIMIZER_DEFAULTS.level),
  preserveStructure: z.boolean().default(OPTIMIZER_DEFAULTS.preserveStructure),
  maxParallel: z.number().int().min(1).max(10_000).optional(),
  timeoutThresholdMs: z.number().min(0).default(OPTIMIZER_DEFAULTS.timeoutThresholdMs),
  learningEnabled: z.boolean().default(OPTIMIZER_DEFAULTS.learningEnabled),
  patternConfidenceThreshold: z.number().min(0).max(1).default(OPTIMIZER_DEFAULTS.patternConfidenceThreshold),
  workflow: z.string().min(1).max(128).optional(),
  minSamples: z.number().int().min(1).default(OPTIMIZER_DEFAULTS.minSamples),
  timeoutHeadroom: z.number().min(1).max(100).default(OPTIMIZER_DEFAULTS.timeoutHeadroom),
  timeoutQuantile: z.number().gt(0.5).lt(1).default(OPTIMIZER_DEFAULTS.timeoutQuantile),
  modelHeadroom: z.number().min(1).max(100).default(OPTIMIZER_DEFAULTS.modelHeadroom),
  hedgeQuantile: z.number().gt(0.5).lt(0.99).default(OPTIMIZER_DEFAULTS.hedgeQuantile),
});
export type ResolvedOptimizeOptions = z.output<typeof optimizeOptionsSchema>;

/** Options of `optimizeWorkflow` and `getRecommendations`. */
export interface OptimizeOptions {
  /** What to tune: `basic` timeouts and attempts; `advanced` adds priorities, backoff, maxParallel; `aggressive` needs ≥ 100 runs. @default "basic" */
  level?: OptimizationLevel;
  /** Keep the graph's structure; false lets `advanced` and `aggressive` merge chains of tiny tasks into one attempt (see docs/optimizer.md). @default true */
  preserveStructure?: boolean;
  /** The run's current maxParallel, which `advanced` may raise. @default orchestrator defaults.maxParallel */
  maxParallel?: number;
  /** Tasks whose p99 is under this many ms keep their timeout. @default 1000 */
  timeoutThresholdMs?: number;
  /** Record successful graphs as patterns (done by composeFromGoal; kept here for the contract). @default true */
  learningEnabled?: boolean;
  /** Changes below this confidence are returned as recommendations, not applied. @default 0.85 */
  patternConfidenceThreshold?: number;
  /** Whose history to read. @default a slug of the graph's goal */
  workflow?: string;
  /** Fewest observations a rule needs before it changes anything. @default 5 */
  minSamples?: number;
  /** New timeout = p99 × this (and never below the slowest success). @default 1.5 */
  timeoutHeadroom?: number;
  /** `aggressive`: the duration model's quantile a timeout is set from. @default 0.999 */
  timeoutQuantile?: number;
  /** `aggressive`: timeout = model quantile × this (runs under more load take longer). @default 1.25 */
  modelHeadroom?: number;
  /** `aggressive`: the lowest model quantile a hedge of an idempotent straggler may start at (at most 1 − this share of attempts are hedged). @default 0.8 */
  hedgeQuantile?: number;
}

/** The settings a task runs with when it names none: the run's and orchestrator's defaults. */
export interface EffectiveDefaults {
  timeoutMs: number;
  maxAttempts: number;
  maxParallel: number;
  backoff: Backoff;
}

/** What a change rests on: how many observations, which statistic, and its value. */
export interface Evidence {
  samples: number;
  statistic: string;
  value: number;
}

/** What a change sets. A `merge` runs the task named by `to` inside the attempt of `taskId` (see merge.ts). */
export type OptimizationField = (typeof OPTIMIZATION_FIELDS)[number];

export const OPTIMIZATION_FIELDS = [
  "timeoutMs",
  "maxAttempts",
  "priority",
  "backoff.baseMs",
  "maxParallel",
  "queueLimit",
  "hedgeAfterMs",
  "merge",
] as const;

/** A change as stored and read back (a stored tuning, a run's record). */
export const optimizationChangeSchema = z.object({
  taskId: z.string().optional(),
  queue: z.string().optional(),
  field: z.enum(OPTIMIZATION_FIELDS),
  from: z.union([z.number(), z.string(), z.null()]),
  to: z.union([z.number(), z.string(), z.null()]),
  reason: z.string(),
  evidence: z.object({ samples: z.number(), statistic: z.string(), value: z.number() }),
  confidence: z.number(),
});

/** One setting changed (or recommended), with why. */
export interface OptimizationChange {
  /** The task changed; absent for run-wide settings such as maxParallel. */
  taskId?: string;
  field: OptimizationField;
  /** The queue changed, for `queueLimit`. */
  queue?: string;
  from: number | string | null;
  to: number | string | null;
  reason: string;
  evidence: Evidence;
  confidence: number;
}

/** The result of `optimizeWorkflow`. */
export interface OptimizationResult {
  /** The graph with every applied change (the input graph is never modified); merged tasks are gone, held by the task they were merged into. */
  graph: TaskGraph;
  /** Changes applied to `graph` (and `maxParallel`), each at or above the confidence threshold. */
  changes: OptimizationChange[];
  /** Findings below the threshold. */
  recommendations: OptimizationChange[];
  /** Mean confidence of the applied changes; 0 when none. */
  confidence: number;
  /** The run-wide maxParallel to use, when a change raised it. */
  maxParallel?: number;
  level: OptimizationLevel;
  /** Why something was not done, e.g. too few runs for `aggressive`. */
  notes: string[];
  /** Cluster-wide queue limits to set before the run (`aggressive`, from predicted demand). */
  queues?: Record<string, number>;
  /** `aggressive`: when a second run of an idempotent straggler starts beside the first, by task id (also set as the tasks' `hedgeAfterMs`). */
  hedges?: Record<string, number>;
  /** `aggressive`: the duration model of each task with enough successes, by task id. */
  models?: Record<string, DurationModelSummary>;
  /** `aggressive`: the run predicted from the models with the applied changes. */
  prediction?: MakespanPrediction;
}

/** A fitted duration model as reported: its kind, components and the quantiles the rules use. */
export interface DurationModelSummary {
  kind: "lognormal" | "mixture";
  samples: number;
  /** ln(duration in ms) ~ Normal(mu, sigma) per component, with its weight. */
  components: { weight: number; mu: number; sigma: number }[];
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** The makespan the models predict (Monte Carlo over the graph, with retries and backoff). */
export interface MakespanPrediction {
  trials: number;
  makespanP50Ms: number;
  makespanP95Ms: number;
  /** Most tasks running at once (95th percentile over trials) with unlimited slots. */
  peakDemand: number;
}

/** The result of `getRecommendations`. */
export interface Recommendations {
  /** Pairs of atomic tasks with no path between them: they may run at once. */
  parallelizablePairs: [string, string][];
  /**
   * Suggested per-attempt timeout in ms, by task id: the level's timeout findings, and advice to
   * tighten a limit far above the task's p99 (in `changes` with its evidence; optimizeWorkflow does not apply it).
   */
  timeoutAdjustments: Record<string, number>;
  /** Tasks that failed in a way retries do not fix, and tasks whose first attempt fails often (> 20% of runs). */
  failedPatternWarnings: string[];
  /** The same warnings as data: task, kind and evidence. */
  failurePatterns: FailurePattern[];
  /** What the workflow's runs and tasks spent on LLM calls; null when none of its runs spent anything. */
  cost: CostRecommendation | null;
  /** Suggested run-wide and per-queue limits. */
  resourceAllocation: { maxParallel: number; queues: Record<string, number> };
  /** Every finding with its evidence. */
  changes: OptimizationChange[];
}

/** A task that fails in a pattern worth a look, with the evidence behind the warning. */
export interface FailurePattern {
  taskId: string;
  /** `deterministic`: it never completed in some runs; `transient`: its first attempt often failed and a retry fixed it. */
  kind: "deterministic" | "transient";
  evidence: Evidence;
}

/** Cost per run and per task, from the spend recorded for each run and attempt (docs/usage-and-budgets.md). */
export interface CostRecommendation {
  /** Over the workflow's finished runs (the latest 1000); null when none of them spent anything. */
  perRun: SpendPercentiles | null;
  /** By task id: what the task spent in a run (its attempts summed), over runs it ran in; only tasks with usage. */
  perTask: Record<string, SpendPercentiles>;
}
