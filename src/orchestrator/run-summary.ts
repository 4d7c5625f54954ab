/** RunSummary: one run as `listRuns` returns it, built from its stored row. */
import { isFinalRunStatus, type RunStatus } from "../composer/state-machine.js";
import type { RunRow } from "../store/runs.js";
import { usageOf, type Usage } from "./usage.js";

/** One run as `orch.listRuns()` returns it: its identity, status, task counts and times. */
export interface RunSummary {
  runId: string;
  workflow: string;
  goal: string;
  status: RunStatus;
  /** Tasks of the run, composites included. */
  totalTasks: number;
  /** Tasks that reached a final status. */
  finishedTasks: number;
  /** Tasks that failed for good. */
  failedTasks: number;
  /** How many times the plan was revised (docs/living-plans.md); 0 for a plan that never changed. */
  revision: number;
  /** Why the run is paused, while it is. */
  pauseReason: string | null;
  /** The key given to submit or compose, if any. */
  idempotencyKey: string | null;
  /** Why the run failed, when it did. */
  error: { message: string; taskId?: string } | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** Start to finish, or to now while the run is not final; null before it starts (or if never finished). */
  durationMs: number | null;
  /** What the run spent on LLM calls so far (docs/usage-and-budgets.md). */
  usage: Usage;
}

/** Builds a RunSummary from a run row; `now` ends the duration of a run still going. */
export function toRunSummary(run: RunRow, now = Date.now()): RunSummary {
  const status = run.status as RunStatus;
  const end = run.finished_at ? run.finished_at.getTime() : isFinalRunStatus(status) ? null : now;
  return {
    runId: run.id,
    workflow: run.workflow,
    goal: run.goal,
    status,
    totalTasks: run.total_tasks,
    finishedTasks: run.total_tasks - run.remaining_tasks,
    failedTasks: run.failed_tasks,
    revision: run.revision ?? 0,
    pauseReason: run.pause_reason,
    idempotencyKey: run.idempotency_key,
    error: run.error?.message
      ? { message: run.error.message, ...(run.error.taskId ? { taskId: run.error.taskId } : {}) }
      : null,
    createdAt: run.created_at,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    durationMs: run.started_at && end !== null ? Math.max(0, end - run.started_at.getTime()) : null,
    usage: usageOf(run),
  };
}
