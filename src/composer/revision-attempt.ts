/**
 * A claim for a revision of the plan (docs/living-plans.md), the runner's side: the revision is asked of
 * the run's decomposer, and what comes back becomes a settlement when it cannot be applied.
 */
import { DecompositionError, NonRetryableError } from "../errors.js";
import type { ClaimedTask, Settlement } from "../store/tasks.js";
import { serializeError, type AttemptEnvironment } from "./attempt.js";
import type { RevisionOutcome } from "./revision.js";

/**
 * The run decomposer's revision for `task` (a claim with `replan`). Without a decomposer in this
 * process, a NonRetryableError that ends with `fix`: how to give it one.
 */
export function planClaimedRevision(task: ClaimedTask, env: AttemptEnvironment, fix: string): Promise<RevisionOutcome> {
  if (!env.revise) {
    const problem = `revising the plan after task ${JSON.stringify(task.taskId)} failed needs the decomposer of workflow ${JSON.stringify(task.workflow)}`;
    return Promise.reject(new NonRetryableError(`${problem}; ${fix}`));
  }
  return env.revise(task);
}

/**
 * The decomposer gave no revision (`null`, as rules do): the task fails as it would have without
 * re-planning, with its own error.
 */
export function declinedRevision(task: ClaimedTask): Settlement {
  const mark = task.replan!;
  const error = mark.error as { name?: unknown } | null;
  return {
    runId: task.runId,
    taskId: task.taskId,
    attempt: task.attempt,
    outcome: mark.outcome === "timed_out" ? "timed_out" : "failed",
    error: mark.error,
    errorClass: typeof error?.name === "string" ? error.name : "Error",
    retryDelayMs: null,
  };
}

/**
 * The revision failed (the decomposer threw, or its plan did not validate): the task fails with a
 * `DecompositionError` that says why a revision was asked, and whose `cause` is that failure.
 */
export function failedRevision(task: ClaimedTask, error: unknown): Settlement {
  const mark = task.replan!;
  const problem = error instanceof Error ? error.message : String(error);
  const wrapped =
    error instanceof DecompositionError
      ? error
      : new DecompositionError(mark.reason, `the revision failed: ${problem}`, { cause: error });
  return {
    runId: task.runId,
    taskId: task.taskId,
    attempt: task.attempt,
    outcome: "failed",
    error: {
      ...serializeError(wrapped),
      message: `could not revise the plan (asked because ${mark.reason}): ${wrapped.message}`,
      cause: mark.error,
    },
    errorClass: "DecompositionError",
    retryDelayMs: null,
  };
}
