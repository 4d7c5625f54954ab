/** The decomposer contract (docs/decomposers.md). */
import type { TaskGraphInput, TaskSpec } from "./task-graph.js";

/** A step as decomposers see it: its name, what it does and the input it takes. */
export interface CatalogueEntry {
  name: string;
  description?: string;
  /** JSON schema of the step's input, if the step has a zod input schema. */
  inputSchema?: unknown;
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
}

/** What a decomposer returns: tasks, a graph, or null for "no opinion". */
export type DecomposerResult = TaskSpec[] | TaskGraphInput | null;

export type DecomposerFunction = (goal: string, ctx: DecomposerContext) => DecomposerResult | Promise<DecomposerResult>;

/** A decomposer: a function, or an object with a name. */
export type Decomposer = DecomposerFunction | { name: string; decompose: DecomposerFunction };
