/**
 * Lazy expansion: a composite with `expand: "lazy"` is decomposed when it becomes ready, with its
 * dependencies' outputs in the decomposer's context. The children's ids are namespaced under the
 * composite (`parent/child`), in every place a task names a sibling; they are validated like any
 * graph, with the composite's dependencies (which they inherit) readable; and they are laid out as rows.
 */
import { DecompositionError, GraphValidationError } from "../errors.js";
import type { Task, TaskSpec } from "../graph/task-graph.js";
import type { CatalogueEntry, Decomposer } from "../graph/decomposer.js";
import { renameTaskIds } from "../graph/rename.js";
import { validateGraph } from "../graph/validate.js";
import { bindGraph, type BoundGraph, type TaskDefaults } from "./bind.js";
import type { PayloadCodec } from "../store/codec.js";
import type { Steps } from "./steps.js";

/** What a run needs to expand its lazy composites. */
export interface ExpansionContext {
  goal: string;
  decomposer: Decomposer;
  steps: Steps;
  catalogue: CatalogueEntry[];
  defaults: TaskDefaults;
  codec: PayloadCodec | undefined;
  maxTasks: number;
  maxInputBytes: number;
  /** Time the decomposer may take, in ms. */
  timeoutMs: number;
}

/** Decomposes `task` (a lazy composite) and returns its children's rows with namespaced ids. */
export async function planExpansion(
  task: Task,
  depsOutputs: Record<string, unknown>,
  ctx: ExpansionContext,
): Promise<BoundGraph> {
  const decompose = typeof ctx.decomposer === "function" ? ctx.decomposer : ctx.decomposer.decompose;
  const goal = task.description || task.id;
  const result = await decompose(goal, {
    catalogue: ctx.catalogue,
    parent: { task, depsOutputs },
    depth: 1,
    signal: AbortSignal.timeout(ctx.timeoutMs),
  });
  if (result === null) {
    throw new DecompositionError(goal, `no decomposer output for lazy task ${JSON.stringify(task.id)}`);
  }
  const specs = (Array.isArray(result) ? result : result.tasks) as TaskSpec[];
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new DecompositionError(goal, `lazy task ${JSON.stringify(task.id)} expanded to no tasks`);
  }
  // The children inherit the composite's dependencies (the run adds those edges), so they may read them.
  const upstream = new Set([...task.dependsOn, ...Object.keys(depsOutputs)]);
  try {
    const sub = validateGraph(
      { goal, tasks: namespaced(specs, task.id) },
      {
        stepNames: Object.keys(ctx.steps),
        upstream,
        defaults: { source: "function" },
        limits: { maxTasks: ctx.maxTasks, maxInputBytes: ctx.maxInputBytes },
      },
    );
    const tasks = sub.tasks.map((child) => ({
      ...child,
      dependsOn: child.dependsOn.filter((id) => !upstream.has(id)),
    }));
    return bindGraph({ ...sub, tasks }, ctx.steps, ctx.defaults, ctx.codec);
  } catch (error) {
    if (!(error instanceof GraphValidationError)) {
      throw error;
    }
    throw new DecompositionError(
      goal,
      `the expansion of lazy task ${JSON.stringify(task.id)} is invalid:\n${error.issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`,
      { issues: error.issues, cause: error },
    );
  }
}

/** The children with their ids, and every reference to a sibling, prefixed with `parent/`. */
function namespaced(specs: readonly TaskSpec[], parentId: string): TaskSpec[] {
  const renamed = new Map(specs.map((spec) => [spec.id, `${parentId}/${spec.id}`]));
  return specs.map((spec) => ({
    ...renameTaskIds(spec, renamed),
    // Steps are looked up by the original id when the task names none.
    ...(spec.step === undefined && spec.kind !== "composite" ? { step: spec.id } : {}),
  }));
}
