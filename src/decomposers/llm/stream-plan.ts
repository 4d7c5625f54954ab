/**
 * Streamed planning (docs/living-plans.md) as an async generator: the planner pushes each task while the
 * model is still writing, and the generator hands them to its consumer in order, then returns the
 * whole plan. Leaving the generator early (`return()`, a `break` in `for await`) aborts the request.
 */
import type { TaskGraphInput, TaskSpec } from "../../graph/task-graph.js";

/** Plans, calling `onTask` with each task as it arrives; `signal` ends the planning. */
export type StreamingPlanner = (onTask: (task: TaskSpec) => void, signal: AbortSignal) => Promise<TaskGraphInput>;

/**
 * Yields the tasks `planner` hands over, then returns (or throws) what `planner` resolves to (or
 * rejects with). When nothing was handed over, as for a cached plan or an answer that only parsed
 * once complete, the plan's top-level tasks are yielded at the end, so a consumer sees every task.
 */
export async function* streamedPlan(
  planner: StreamingPlanner,
  signal: AbortSignal,
): AsyncGenerator<TaskSpec, TaskGraphInput, void> {
  const stop = new AbortController();
  const queue: TaskSpec[] = [];
  let handedOver = 0;
  let settled = false;
  let wake: (() => void) | null = null;
  const planned = planner(
    (task) => {
      queue.push(task);
      handedOver += 1;
      wake?.();
    },
    AbortSignal.any([signal, stop.signal]),
  );
  const settle = () => {
    settled = true;
    wake?.();
  };
  planned.then(settle, settle);
  try {
    for (;;) {
      while (queue.length > 0) {
        yield queue.shift() as TaskSpec;
      }
      if (settled) {
        break;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
    const graph = await planned;
    if (handedOver === 0) {
      for (const task of graph.tasks.filter((t) => t.parentId === undefined)) {
        yield task;
      }
    }
    return graph;
  } finally {
    // Ends the model's stream when the consumer left early; a no-op once the planning has settled.
    stop.abort();
  }
}
