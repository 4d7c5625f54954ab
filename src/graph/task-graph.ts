/**
 * The task graph model (docs/concepts.md, "A task"): zod schemas for tasks and graphs, and their TypeScript types.
 * Structural checks that need the whole graph (cycles, unknown dependencies, parents) live in
 * `validate.ts`; this file only describes the shape of one task and one graph.
 */
import { z } from "zod";
import { EXECUTION_DEFAULTS, ORCHESTRATOR_DEFAULTS, RUN_DEFAULTS } from "../defaults.js";
import { concurrencySchema, rateLimitSchema, waitSchema } from "./flow-control.js";

/** A task id: letters, digits, `_`, `-`, `.`, `:` and `/`, starting with a letter, digit or `_`. */
export const TASK_ID_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;

/** Any JSON value. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export const jsonSchema: z.ZodType<Json> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonSchema), z.record(z.string(), jsonSchema)]),
);

export const taskIdSchema = z
  .string()
  .regex(
    TASK_ID_PATTERN,
    "task ids start with a letter, digit or _ and hold only letters, digits and _ . : / - (at most 128)",
  );

/** Comparison operators of a `when` condition. */
export const CONDITION_OPS = ["eq", "ne", "gt", "lt", "in", "exists", "truthy"] as const;
export type ConditionOp = (typeof CONDITION_OPS)[number];

/** A condition is data, never code: a test on a dependency's output, or a combination of tests. */
export type Condition =
  | { task: string; path?: string; op: ConditionOp; value?: Json }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

export const conditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({
      task: taskIdSchema,
      path: z.string().optional(),
      op: z.enum(CONDITION_OPS),
      value: jsonSchema.optional(),
    }),
    z.strictObject({ all: z.array(conditionSchema).min(1) }),
    z.strictObject({ any: z.array(conditionSchema).min(1) }),
    z.strictObject({ not: conditionSchema }),
  ]),
);

/** When a task runs once its dependencies are settled. */
export const RUN_IF = ["allSucceeded", "allDone", "anyFailed"] as const;
export type RunIf = (typeof RUN_IF)[number];

/** Backoff between attempts. */
export const backoffSchema = z.strictObject({
  /** @default "exponential" */
  kind: z.enum(["exponential", "linear", "constant"]).default(EXECUTION_DEFAULTS.backoff.kind),
  /** First delay in ms. @default 1000 */
  baseMs: z.number().int().min(0).max(86_400_000).default(EXECUTION_DEFAULTS.backoff.baseMs),
  /** Upper bound of any delay in ms. @default 60000 */
  maxMs: z.number().int().min(0).max(86_400_000).default(EXECUTION_DEFAULTS.backoff.maxMs),
  /** Random share of the delay added or removed (0 = none, 1 = up to ±100%). @default 0.2 */
  jitter: z.number().min(0).max(1).default(EXECUTION_DEFAULTS.backoff.jitter),
});
export type Backoff = z.infer<typeof backoffSchema>;
export type BackoffInput = z.input<typeof backoffSchema>;

export const forEachSchema = z.strictObject({
  /** The dependency whose output holds the items. */
  from: taskIdSchema,
  /** Path inside that output to the array, e.g. `files` or `result.items`. */
  path: z.string().optional(),
  /** Items per step call; 1 calls the step once per item with `input.item`. @default 1 */
  batchSize: z.number().int().min(1).max(10_000).optional(),
});

/** The fields of one task, without `merged` (a merged-in task cannot hold merged tasks itself). */
const taskFields = {
  id: taskIdSchema,
  description: z.string().max(10_000).default(""),
  dependsOn: z.array(taskIdSchema).default([]),
  step: z.string().min(1).max(200).optional(),
  input: jsonSchema.optional(),
  parentId: taskIdSchema.optional(),
  kind: z.enum(["atomic", "composite"]).optional(),
  maxAttempts: z.number().int().min(1).max(100).optional(),
  timeoutMs: z.number().int().min(1).max(86_400_000).optional(),
  priority: z.number().int().min(-1000).max(1000).optional(),
  queue: z.string().min(1).max(100).optional(),
  backoff: backoffSchema.partial().optional(),
  when: conditionSchema.optional(),
  runIf: z.enum(RUN_IF).optional(),
  recovers: z.boolean().optional(),
  forEach: forEachSchema.optional(),
  expand: z.enum(["eager", "lazy"]).optional(),
  idempotent: z.boolean().optional(),
  /**
   * For an idempotent task: once its step has run this long in an attempt, a second run of the step
   * starts beside the first in the same attempt; the first to succeed wins and the other is aborted
   * (set by the optimizer's `aggressive` level). Ignored unless `idempotent` (task or step) is true.
   */
  hedgeAfterMs: z.number().int().min(1).max(86_400_000).optional(),
  /**
   * Makes this a wait task (no step): it completes when a signal arrives or its time comes, holding
   * no worker slot while it waits (docs/waits-and-flow-control.md).
   */
  wait: waitSchema.optional(),
  /** At most `limit` tasks of the same key running at once, cluster-wide (overrides the step's). */
  concurrency: concurrencySchema.optional(),
  /** At most `limit` starts of the same key per `perMs`, cluster-wide (overrides the step's). */
  rateLimit: rateLimitSchema.optional(),
};

/** Most tasks one task may have merged into it. */
export const MAX_MERGED_TASKS = 100;

/** A task merged into a later one (see `merged`), kept whole so the merge can be undone. */
export const mergedTaskSchema = z.strictObject(taskFields);
export type MergedTask = z.output<typeof mergedTaskSchema>;

/** One task as a user, a YAML file or a decomposer writes it. */
export const taskSpecSchema = z.strictObject({
  ...taskFields,
  /**
   * Tasks merged into this one, first to last (the optimizer's `preserveStructure: false`, or
   * written by hand): each runs its own step, in order, in this task's attempt, before this
   * task's step; each sees the output of the one before it as a dependency, as if it were still
   * its own task. The first takes over this task's dependencies. Their outputs are passed on in
   * memory, not stored: only this task's output is. See docs/optimizer.md, "Merged chains".
   */
  merged: z.array(mergedTaskSchema).min(1).max(MAX_MERGED_TASKS).optional(),
});

/** A task as written (defaults not yet applied). */
export type TaskSpec = z.input<typeof taskSpecSchema>;
/** A task with defaults applied (`description`, `dependsOn`). */
export type Task = z.output<typeof taskSpecSchema>;

/** Where a graph came from. `rules`, `llm`, `pattern` and `cache` come from decomposers; `function` and `file` from code and files. */
export const GRAPH_SOURCES = ["rules", "llm", "pattern", "cache", "function", "file"] as const;
export type GraphSource = (typeof GRAPH_SOURCES)[number];

/** A graph as a user or decomposer writes it: `goal` and `tasks`, everything else optional. */
export const taskGraphInputSchema = z.strictObject({
  id: z.string().min(1).max(200).optional(),
  goal: z.string().min(1).max(10_000),
  tasks: z.array(z.unknown()),
  decomposer: z.string().max(200).optional(),
  source: z.enum(GRAPH_SOURCES).optional(),
  decomposedAt: z.string().optional(),
});
export type TaskGraphInput = { goal: string; tasks: TaskSpec[] } & Partial<
  Pick<TaskGraph, "id" | "decomposer" | "source" | "decomposedAt">
>;

/** A validated task graph. */
export interface TaskGraph {
  id: string;
  goal: string;
  tasks: Task[];
  /** ISO timestamp of the decomposition. */
  decomposedAt: string;
  /** Name of the decomposer that made the graph. */
  decomposer: string;
  source: GraphSource;
}

/** Limits the validator enforces. */
export interface GraphLimits {
  /** Most tasks in one graph. @default 10000 */
  maxTasks?: number;
  /** Largest `input` of one task, in bytes of JSON. @default 65536 */
  maxInputBytes?: number;
  /** Deepest parent/child nesting (a root task has depth 1). @default 5 */
  maxDepth?: number;
}

export const DEFAULT_GRAPH_LIMITS: Required<GraphLimits> = {
  maxTasks: ORCHESTRATOR_DEFAULTS.maxTasks,
  maxInputBytes: ORCHESTRATOR_DEFAULTS.maxInputBytes,
  maxDepth: RUN_DEFAULTS.maxDepth,
};
