/**
 * Lazy expansion: a composite with `expand: "lazy"` is decomposed when it becomes ready, with its
 * dependencies' outputs in the decomposer's context. The children are validated like any graph,
 * their ids are namespaced under the composite (`parent/child`), and they are laid out as rows.
 */
import { DecompositionError, GraphValidationError } from "../errors.js";
import type { Task, TaskSpec } from "../graph/task-graph.js";
import type { CatalogueEntry, Decomposer } from "../graph/decomposer.js";
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
  try {
    const sub = validateGraph(
      { goal, tasks: specs.map((spec) => namespaced(spec, task.id, specs)) },
      {
        stepNames: Object.keys(ctx.steps),
        defaults: { source: "function" },
        limits: { maxTasks: ctx.maxTasks, maxInputBytes: ctx.maxInputBytes },
      },
    );
    return bindGraph(sub, ctx.steps, ctx.defaults, ctx.codec);
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

/** Prefixes a child's id and its references to siblings with `parent/`. */
function namespaced(spec: TaskSpec, parentId: string, siblings: readonly TaskSpec[]): TaskSpec {
  const ids = new Set(siblings.map((s) => s.id));
  const rename = (id: string) => (ids.has(id) ? `${parentId}/${id}` : id);
  return {
    ...spec,
    id: rename(spec.id),
    ...(spec.dependsOn ? { dependsOn: spec.dependsOn.map(rename) } : {}),
    ...(spec.parentId ? { parentId: rename(spec.parentId) } : {}),
    // Steps are looked up by the original id when the task names none.
    ...(spec.step === undefined && spec.kind !== "composite" ? { step: spec.id } : {}),
  };
}
