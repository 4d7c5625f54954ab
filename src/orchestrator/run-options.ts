/** Options of composeFromTaskGraph / composeFromGoal, validated at the edge. */
import { z } from "zod";
import { REPLAN_DEFAULTS, RUN_DEFAULTS } from "../defaults.js";
import type { Spend } from "../errors.js";
import type { OptimizeOptions } from "../optimizer/types.js";
import { backoffSchema, jsonSchema, type BackoffInput, type Json } from "../graph/task-graph.js";
import { realTimeNotificationsSchema, type RealTimeNotifications } from "../store/listeners.js";

export const runOptionsSchema = z.strictObject({
  workflow: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/, {
      message: "a name of letters, digits and _ . : / - (at most 128)",
    })
    .optional(),
  maxParallel: z.number().int().min(1).max(10_000).optional(),
  timeoutMs: z.number().int().min(1).max(2_147_483_647).optional(),
  taskTimeoutMs: z.number().int().min(1).max(86_400_000).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  backoff: backoffSchema.partial().optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  queue: z.string().min(1).max(100).optional(),
  failFast: z.boolean().default(RUN_DEFAULTS.failFast),
  realTimeNotifications: realTimeNotificationsSchema.optional(),
  idempotencyKey: z.string().min(1).max(500).optional(),
  input: jsonSchema.optional(),
  optimizationLevel: z.enum(["none", "basic", "advanced", "aggressive"]).default(RUN_DEFAULTS.optimizationLevel),
  preserveStructure: z.boolean().default(RUN_DEFAULTS.preserveStructure),
  optimize: z.record(z.string(), z.unknown()).optional(),
  queues: z.record(z.string().min(1).max(100), z.number().int().min(1).max(10_000)).optional(),
  maxDepth: z.number().int().min(1).max(20).default(RUN_DEFAULTS.maxDepth),
  replan: z
    .strictObject({
      onFailure: z.boolean().default(REPLAN_DEFAULTS.onFailure),
      maxRevisions: z.number().int().min(1).max(100).default(REPLAN_DEFAULTS.maxRevisions),
    })
    .optional(),
  budget: z
    .strictObject({
      tokens: z.number().int().min(1).optional(),
      costUsd: z.number().positive().finite().optional(),
      llmCalls: z.number().int().min(1).optional(),
    })
    .optional(),
  approvePlan: z.boolean().optional(),
});
export type ResolvedRunOptions = z.output<typeof runOptionsSchema>;

/** Options of one run. Task settings here sit between the task's own and the orchestrator's defaults. */
export interface RunOptions {
  /** Name of the workflow. @default a slug of the goal */
  workflow?: string;
  /** Tasks of this run running at once. @default orchestrator defaults.maxParallel (10) */
  maxParallel?: number;
  /** Whole-run timeout in ms: when it elapses, running steps are aborted and the run is `timed_out`. @default none */
  timeoutMs?: number;
  /** Per-attempt timeout of tasks that set none. @default orchestrator defaults.timeoutMs (30000) */
  taskTimeoutMs?: number;
  /** Attempts of tasks that set none. @default orchestrator defaults.maxAttempts (3) */
  maxAttempts?: number;
  /** Backoff of tasks that set none. @default orchestrator defaults.backoff */
  backoff?: Partial<BackoffInput>;
  /** Claim priority of the run's tasks that set none; higher first. @default 0 */
  priority?: number;
  /** Queue of tasks that name none. @default "default" */
  queue?: string;
  /** Cancel what has not started when a task fails for good; false lets independent branches finish. @default true */
  failFast?: boolean;
  /** Which events of this run are NOTIFYed (see the orchestrator's option). @default the orchestrator's realTimeNotifications (true) */
  realTimeNotifications?: RealTimeNotifications;
  /** A second compose or submit with the same key returns the existing run. @default none */
  idempotencyKey?: string;
  /** The run's input, referable as `input` and given to steps as `ctx.runInput`. @default null */
  input?: Json;
  /** Tune the graph from the workflow's history before the run (docs/optimizer.md); "none" runs it as given. @default "none" */
  optimizationLevel?: "none" | "basic" | "advanced" | "aggressive";
  /** Keep the graph's structure when optimizing. @default true */
  preserveStructure?: boolean;
  /** Further optimizer options (timeoutThresholdMs, minSamples, patternConfidenceThreshold…), checked by the optimizer. @default {} */
  optimize?: Omit<OptimizeOptions, "level" | "workflow" | "preserveStructure">;
  /** Cluster-wide limits of running tasks per queue, set before the run starts. @default none */
  queues?: Record<string, number>;
  /** Deepest hierarchy of the graph (and of lazy expansions). @default 5 */
  maxDepth?: number;
  /**
   * Revise the plan instead of failing (docs/living-plans.md, docs/living-plans.md): when a task fails for
   * good, or a step throws `ReplanError`, the run's decomposer is asked for a revised plan, which the
   * run goes on with. Needs a decomposer: composeFromGoal's, composeFromTaskGraph's `decomposer`, or
   * a worker's `decomposers` for submitted runs. @default off
   */
  replan?: ReplanOptions;
  /**
   * The most this run may spend on LLM calls (docs/usage-and-budgets.md, docs/usage-and-budgets.md): `tokens`
   * (input plus output), `costUsd` and `llmCalls`, any of them, counted over its decomposition, its
   * revisions and its steps' calls (`ctx.usage`). Once a limit is reached no task starts and no call
   * is made, running steps are aborted, and the run fails with `BudgetExceededError`; `retryRun(runId,
   * { budget })` raises it. Held across processes: the spend lives in the run's row. @default none
   */
  budget?: Spend;
  /**
   * Record the plan and wait for a person before anything runs (docs/waits-and-flow-control.md): the run stays
   * `awaiting_approval` until `approvePlan(runId, { graph? })` starts it (with an edited graph,
   * validated as usual) or `rejectPlan(runId, reason)` cancels it. @default false
   */
  approvePlan?: boolean;
}

/** When and how often a run's plan is revised. */
export interface ReplanOptions {
  /** Ask for a revision when a task fails for good (a `ReplanError` always asks). @default true */
  onFailure?: boolean;
  /** Revisions per run; after that a failure fails the run as it would without re-planning. @default 2 */
  maxRevisions?: number;
}
