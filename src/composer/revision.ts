/**
 * Revising a run's plan (docs/living-plans.md): what the decomposer is told (the plan with each task's
 * status, the completed outputs, the failure), and how its answer, the whole revised plan, is
 * merged with the run: completed and running tasks it lists are kept as stored, the rest is taken
 * from the answer, and completed tasks it leaves out stay readable. The merged plan is validated
 * like any graph and laid out as rows for `apply_revision`, which applies it in one transaction.
 */
import { DecompositionError, GraphValidationError } from "../errors.js";
import type { Task, TaskSpec } from "../graph/task-graph.js";
import type { PlanRevisionRequest } from "../graph/decomposer.js";
import { validateGraph } from "../graph/validate.js";
import { bindGraph, type BoundGraph, type TaskDefaults } from "./bind.js";
import type { PayloadCodec } from "../store/codec.js";
import type { Steps } from "./steps.js";
import type { ReplanMark } from "../store/tasks.js";

/** One task of a run's current plan, as stored (its input and output decoded). */
export interface PlanTask {
  id: string;
  status: string;
  spec: Task;
  output: unknown;
  error: unknown;
  replan: ReplanMark | null;
}

/** A run's current plan: its revision number, goal and tasks (superseded ones left out). */
export interface StoredPlan {
  revision: number;
  /** The revisions the run may make (`replan.maxRevisions`). */
  maxRevisions: number;
  goal: string;
  tasks: PlanTask[];
}

/** A revision ready to apply: the rows of the revised plan, asked of the plan at `revision`. */
export interface RevisionPlan {
  /** The run's revision the plan was asked of; a newer one makes it stale. */
  revision: number;
  rows: BoundGraph;
  /** The decomposition's cost and who answered, recorded with the revision. */
  record: Record<string, unknown>;
}

/** What the run's decomposer made of a revision request. */
export type RevisionOutcome = { kind: "plan"; plan: RevisionPlan } | { kind: "declined" };

/** What a revision needs besides the plan: the run's steps, defaults, codec and limits. */
export interface RevisionSettings {
  steps: Steps;
  defaults: TaskDefaults;
  codec: PayloadCodec | undefined;
  maxTasks: number;
  maxInputBytes: number;
}

/** The decomposer's `ctx.revision` for the plan's revision asked by task `taskId`. */
export function revisionRequestOf(plan: StoredPlan, taskId: string, mark: ReplanMark): PlanRevisionRequest {
  const statuses: Record<string, string> = {};
  const outputs: Record<string, unknown> = {};
  for (const task of plan.tasks) {
    // A task waiting for its revision failed, as far as the planner is concerned.
    statuses[task.id] = task.replan ? (task.replan.outcome === "timed_out" ? "timed_out" : "failed") : task.status;
    if (task.status === "completed") {
      outputs[task.id] = task.output;
    }
  }
  return {
    number: plan.revision + 1,
    reason: mark.reason,
    taskId,
    error: mark.error,
    graph: { goal: plan.goal, tasks: plan.tasks.map((task) => task.spec as TaskSpec) },
    statuses,
    outputs,
  };
}

/**
 * Merges `answer` (the whole revised plan) with the run's plan and lays it out as rows. A listed
 * task that completed or runs (other than `taskId`, the one that asked) keeps its stored spec;
 * completed tasks not listed stay readable (dependencies, `$from`).
 *
 * @throws DecompositionError when the merged plan does not validate, with every issue
 */
export function bindRevision(
  plan: StoredPlan,
  taskId: string,
  answer: readonly TaskSpec[],
  settings: RevisionSettings,
): BoundGraph {
  const stored = new Map(plan.tasks.map((task) => [task.id, task]));
  const listed = new Set(answer.map((spec) => spec.id));
  const merged = answer.map((spec) => {
    const task = stored.get(spec.id);
    const kept = task !== undefined && task.id !== taskId && (task.status === "completed" || task.status === "running");
    return kept ? (task.spec as TaskSpec) : spec;
  });
  const upstream = new Set(
    plan.tasks.filter((task) => task.status === "completed" && !listed.has(task.id)).map((task) => task.id),
  );
  try {
    const graph = validateGraph(
      { goal: plan.goal, tasks: merged },
      {
        stepNames: Object.keys(settings.steps),
        upstream,
        defaults: { source: "function" },
        limits: { maxTasks: settings.maxTasks, maxInputBytes: settings.maxInputBytes },
      },
    );
    const rows = bindGraph(graph, settings.steps, settings.defaults, settings.codec);
    // Edges to completed tasks the plan no longer lists: their outputs still flow.
    const edges = new Set(rows.edges.map((edge) => `${edge.task_id}\u0000${edge.depends_on}`));
    for (const task of graph.tasks) {
      for (const dep of task.dependsOn) {
        if (upstream.has(dep) && !edges.has(`${task.id}\u0000${dep}`)) {
          rows.edges.push({ task_id: task.id, depends_on: dep });
        }
      }
    }
    return rows;
  } catch (error) {
    if (!(error instanceof GraphValidationError)) {
      throw error;
    }
    throw new DecompositionError(
      plan.goal,
      `revision ${plan.revision + 1} of the plan is invalid:\n${error.issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`,
      { issues: error.issues, cause: error },
    );
  }
}
