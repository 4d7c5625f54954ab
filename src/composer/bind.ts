/**
 * Binding a validated graph to step functions: checks that every atomic task has a step, resolves
 * each task's settings (task > step definition > run options > orchestrator defaults), and lays
 * out the rows the store inserts (tasks with their dependency counters, and the effective edges).
 */
import type { Backoff, Task, TaskGraph } from "../graph/task-graph.js";
import { backoffSchema } from "../graph/task-graph.js";
import { childrenOf, effectiveDependencies } from "../graph/hierarchy.js";
import { sealTaskInputs, type PayloadCodec } from "../store/codec.js";
import { stepEntryOf, toStepDefinition, type StepDefinition, type Steps } from "./steps.js";
import { CONCURRENCY_QUEUE_PREFIX, resolveFlowControl } from "./flow-control.js";

/** Per-task settings a run applies where the task and its step say nothing. */
export interface TaskDefaults {
  maxAttempts: number;
  timeoutMs: number;
  backoff: Backoff;
  priority: number;
  queue: string;
}

/** One task as the store inserts it. */
export interface TaskRow {
  id: string;
  parent_id: string | null;
  kind: "atomic" | "composite";
  step: string | null;
  description: string;
  remaining_deps: number;
  run_if: string;
  spec: Task;
  input: unknown;
  priority: number;
  queue: string;
  max_attempts: number;
  timeout_ms: number;
  backoff: Backoff;
}

/** The rows of one run's graph. */
export interface BoundGraph {
  tasks: TaskRow[];
  edges: { task_id: string; depends_on: string }[];
}

/** The step a task runs: `task.step ?? task.id`. */
export function stepNameOf(task: Pick<Task, "id" | "step">): string {
  return task.step ?? task.id;
}

/** Lays out the rows of `graph`; `steps` must already cover every atomic task (validated). */
export function bindGraph(graph: TaskGraph, steps: Steps, defaults: TaskDefaults, codec?: PayloadCodec): BoundGraph {
  const children = childrenOf(graph.tasks);
  const dependencies = effectiveDependencies(graph.tasks);
  const tasks: TaskRow[] = graph.tasks.map((task) => {
    const composite = (children.get(task.id)?.length ?? 0) > 0 || task.kind === "composite";
    // A wait task runs no step (docs/waits-and-flow-control.md): none is bound, not even the "*" fallback.
    const stepless = composite || task.wait !== undefined;
    const definition = stepless ? undefined : stepDefinitionOf(steps, task);
    const settings = resolveTaskSettings(task, definition, defaults);
    // Flow control, keys rendered (docs/waits-and-flow-control.md): the claim reads it from the spec,
    // and a concurrency key is the task's queue (it replaces any queue the task or its step names).
    const flow = resolveFlowControl(task, definition);
    return {
      id: task.id,
      parent_id: task.parentId ?? null,
      kind: composite ? "composite" : "atomic",
      step: stepless ? null : stepNameOf(task),
      description: task.description,
      remaining_deps: dependencies.get(task.id)?.length ?? 0,
      run_if: task.runIf ?? "allSucceeded",
      // The input is stored once, in its own column (encoded with a codec): the spec holds none.
      spec: { ...specOf(task, codec), ...flow },
      input: task.input === undefined ? null : codec ? codec.encode(task.input) : task.input,
      ...settings,
      ...(flow.concurrency ? { queue: CONCURRENCY_QUEUE_PREFIX + flow.concurrency.key } : {}),
    };
  });
  const edges = [...dependencies].flatMap(([taskId, deps]) =>
    deps.map((dep) => ({ task_id: taskId, depends_on: dep })),
  );
  return { tasks, edges };
}

function specOf(task: Task, codec: PayloadCodec | undefined): Task {
  const { input: _stored, ...spec } = task;
  return task.merged && codec ? sealTaskInputs([spec], codec)[0]! : spec;
}

function stepDefinitionOf(steps: Steps, task: Task): StepDefinition | undefined {
  const entry = stepEntryOf(steps, stepNameOf(task));
  return entry === undefined ? undefined : toStepDefinition(entry);
}

/** Settings by precedence: the task, then its step definition, then the run's defaults. */
export function resolveTaskSettings(
  task: Task,
  step: StepDefinition | undefined,
  defaults: TaskDefaults,
): Pick<TaskRow, "priority" | "queue" | "max_attempts" | "timeout_ms" | "backoff"> {
  return {
    priority: task.priority ?? step?.priority ?? defaults.priority,
    queue: task.queue ?? step?.queue ?? defaults.queue,
    max_attempts: task.maxAttempts ?? step?.maxAttempts ?? defaults.maxAttempts,
    timeout_ms: task.timeoutMs ?? step?.timeoutMs ?? defaults.timeoutMs,
    backoff: backoffSchema.parse({ ...defaults.backoff, ...step?.backoff, ...task.backoff }),
  };
}
