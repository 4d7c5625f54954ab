/**
 * Task and run statuses as explicit state machines. The same status sets are the check
 * constraints `tasks_status_check` and `runs_status_check`; the executor's SQL functions move
 * rows only along these edges, each with a guard in its WHERE clause.
 */
import { IllegalTransitionError } from "../errors.js";

export const TASK_STATUSES = [
  "pending",
  "ready",
  "running",
  "completed",
  "failed",
  "timed_out",
  "cancelled",
  "skipped",
  "superseded",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const RUN_STATUSES = [
  "pending",
  "awaiting_approval",
  "running",
  "paused",
  "completed",
  "failed",
  "cancelled",
  "timed_out",
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/**
 * Where each task status may go. `failed|timed_out|cancelled|skipped|completed → pending` is
 * retryRun; `→ superseded` and `superseded → pending` are revisions of the plan (docs/living-plans.md): a
 * task a revision drops is superseded, and a later revision may list it again.
 */
export const TASK_TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  pending: ["ready", "completed", "failed", "skipped", "cancelled", "superseded"],
  ready: ["running", "cancelled", "skipped", "superseded"],
  running: ["completed", "failed", "timed_out", "cancelled", "skipped", "ready", "pending", "superseded"],
  completed: ["pending"],
  failed: ["pending"],
  timed_out: ["pending"],
  cancelled: ["pending"],
  skipped: ["pending"],
  superseded: ["pending"],
};

/** Where each run status may go. `failed|cancelled|timed_out|completed → running` is retryRun. */
export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = {
  pending: ["running", "cancelled"],
  // Plan approval: approvePlan starts the run, rejectPlan cancels it; the run's deadline still holds, and
  // a budget the plan's decomposition spent fails it.
  awaiting_approval: ["running", "cancelled", "timed_out", "failed"],
  running: ["paused", "completed", "failed", "cancelled", "timed_out"],
  paused: ["running", "cancelled", "timed_out", "completed", "failed"],
  completed: ["running"],
  failed: ["running"],
  cancelled: ["running"],
  timed_out: ["running"],
};

export const FINAL_RUN_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled", "timed_out"];
export const FINAL_TASK_STATUSES: readonly TaskStatus[] = [
  "completed",
  "failed",
  "timed_out",
  "cancelled",
  "skipped",
  "superseded",
];

export function isFinalRunStatus(status: RunStatus): boolean {
  return FINAL_RUN_STATUSES.includes(status);
}

/** Throws `IllegalTransitionError` unless the run state machine connects `from` to `to`. */
export function assertRunTransition(runId: string, from: RunStatus, to: RunStatus, hint?: string): void {
  if (!RUN_TRANSITIONS[from].includes(to)) {
    throw new IllegalTransitionError("run", runId, from, to, hint);
  }
}

/** Throws `IllegalTransitionError` unless the task state machine connects `from` to `to`. */
export function assertTaskTransition(taskId: string, from: TaskStatus, to: TaskStatus, hint?: string): void {
  if (!TASK_TRANSITIONS[from].includes(to)) {
    throw new IllegalTransitionError("task", taskId, from, to, hint);
  }
}
