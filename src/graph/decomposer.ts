/** The decomposer contract (docs/decomposers.md). */
import type { TaskGraphInput, TaskSpec } from "./task-graph.js";

/** A step as decomposers see it: its name, what it does and the input it takes. */
export interface CatalogueEntry {
  name: string;
  description?: string;
  /** JSON schema of the step's input, if the step has a zod input schema. */
  inputSchema?: unknown;
}

/**
 * A request to revise a running plan (docs/living-plans.md), in the decomposer's context. The decomposer
 * returns the whole revised plan: a listed id of a completed or running task keeps that task as it
 * is; a listed id of a task not yet started (or of the failed task) updates it; a task not listed
 * that has not completed is superseded; a new id is a new task, which may depend on completed ones.
 */
export interface PlanRevisionRequest {
  /** The number this revision will have: 1 for the first. */
  number: number;
  /** Why a revision is asked for: the `ReplanError`'s message, or what failed. */
  reason: string;
  /** The task whose failure asked for it, if one did. */
  taskId: string | null;
  /** That task's error as stored (`{ name, message, … }`), if one did. */
  error: unknown;
  /** The current plan: every task of the run that is not superseded, as specs. */
  graph: { goal: string; tasks: TaskSpec[] };
  /** Each task's status (`completed`, `failed`, `running`, `pending`, …) by id. */
  statuses: Record<string, string>;
  /** Outputs of the completed tasks, by id. */
  outputs: Record<string, unknown>;
}

/** What a decomposer receives besides the goal. */
export interface DecomposerContext {
  /** The steps a graph may use. */
  catalogue: CatalogueEntry[];
  /** For lazy and hierarchical expansion: the task being expanded and its dependencies' outputs. */
  parent?: { task: TaskSpec; depsOutputs: Record<string, unknown> };
  /** Nesting depth of the expansion (0 for the goal itself). */
  depth: number;
  signal: AbortSignal;
  /** Outputs of upstream workflows, for composed workflows. */
  upstream?: Record<string, unknown>;
  /** Set when the run asks for a revision of its plan rather than a first plan. */
  revision?: PlanRevisionRequest;
}

/** What a decomposer returns: tasks, a graph, or null for "no opinion". */
export type DecomposerResult = TaskSpec[] | TaskGraphInput | null;

export type DecomposerFunction = (goal: string, ctx: DecomposerContext) => DecomposerResult | Promise<DecomposerResult>;

/** A decomposer: a function, or an object with a name. */
export type Decomposer = DecomposerFunction | { name: string; decompose: DecomposerFunction };

/**
 * A decomposer that can stream its plan (`streamPlan: true`, docs/living-plans.md): `streamPlan` yields
 * each top-level task as soon as its JSON object is complete, before the answer ends, and returns
 * the whole plan as `decompose` would have returned it (repaired and validated the same way, or
 * throwing the same errors). A yielded task is complete JSON, not yet checked against the others.
 */
export interface StreamingDecomposer {
  name: string;
  decompose: DecomposerFunction;
  streamPlan(goal: string, ctx: DecomposerContext): AsyncGenerator<TaskSpec, TaskGraphInput, void>;
}
