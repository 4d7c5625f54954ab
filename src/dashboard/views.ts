/** Rows read from the store, turned into the dashboard's wire format (types.ts). Pure. */
import type { HtdagEvent } from "../notifications/catalogue.js";
import { taskToDocument } from "../graph/file.js";
import type { Task } from "../graph/task-graph.js";
import { toRunSummary as summarizeRun } from "../orchestrator/run-summary.js";
import type { RunRow } from "../store/runs.js";
import type { AttemptRow, DashboardTaskRow, PlanTaskRow, TaskLogRow } from "../store/dashboard-tasks.js";
import type { RunRevision } from "../store/revisions.js";
import type { UsageBreakdownRow } from "../store/dashboard-usage.js";
import type {
  AttemptView,
  EventView,
  LogView,
  PlanView,
  RevisionView,
  RunDetail,
  RunSummary,
  TaskView,
  UsageBreakdownView,
  WaitView,
} from "./types.js";
import { isBudgetExceeded, toBudget, toSpentUsage, toUsage, type UsageColumns } from "./usage-views.js";

const iso = (date: Date | string | null): string | null => (date === null ? null : new Date(date).toISOString());

function toNumber(value: unknown): number | null {
  if (value === null || value === undefined) {
    return null;
  }
  const number = Number(value);
  return Number.isFinite(number) ? number : null;
}

/** An error as stored (a JSON object with a message), or null for anything else. */
function toError(value: unknown): { message?: string; name?: string } | null {
  if (value === null || typeof value !== "object") {
    return null;
  }
  const { message, name } = value as { message?: unknown; name?: unknown };
  return { ...(typeof message === "string" ? { message } : {}), ...(typeof name === "string" ? { name } : {}) };
}

/** A run's error as stored: a JSON object, usually with a message, and a code for htdag's errors. */
type StoredRunError = { message?: string; taskId?: string; code?: string; name?: string } | null;

/** A run as the runs list shows it: the orchestrator's RunSummary, with ISO times, and its spend. */
export function toRunSummary(run: RunRow, now = Date.now()): RunSummary {
  const summary = summarizeRun(run, now);
  // `SELECT *` reads migration 0005's usage columns whether or not RunRow names them.
  const usage = toUsage(run as RunRow & UsageColumns);
  const budget = toBudget(run.options);
  return {
    id: summary.runId,
    workflow: summary.workflow,
    goal: summary.goal,
    status: summary.status,
    totalTasks: summary.totalTasks,
    finishedTasks: summary.finishedTasks,
    failedTasks: summary.failedTasks,
    revision: summary.revision,
    createdAt: iso(summary.createdAt)!,
    startedAt: iso(summary.startedAt),
    finishedAt: iso(summary.finishedAt),
    durationMs: summary.durationMs,
    usage,
    budget,
    budgetExceeded: isBudgetExceeded(run.status, run.error as StoredRunError, usage, budget),
  };
}

/** A revision of the plan, with what its decomposition cost when it called an LLM. */
export function toRevisionView(revision: RunRevision): RevisionView {
  const cost = {
    llmCalls: toNumber(revision.decomposition.llmCalls),
    inputTokens: toNumber(revision.decomposition.inputTokens),
    outputTokens: toNumber(revision.decomposition.outputTokens),
  };
  return {
    revision: revision.revision,
    reason: revision.reason,
    taskId: revision.taskId,
    added: revision.added,
    removed: revision.removed,
    changed: revision.changed,
    at: iso(revision.at)!,
    cost: cost.llmCalls || cost.inputTokens || cost.outputTokens ? cost : null,
  };
}

export function toRunDetail(run: RunRow, now = Date.now()): RunDetail {
  const error = run.error as StoredRunError;
  return {
    ...toRunSummary(run, now),
    pauseReason: run.pause_reason,
    maxParallel: run.max_parallel,
    error: error
      ? {
          ...(error.message ? { message: error.message } : {}),
          ...(error.taskId ? { taskId: error.taskId } : {}),
          ...(typeof error.code === "string" ? { code: error.code } : {}),
        }
      : null,
  };
}

/** A wait spec as stored, its known fields only; null for anything else. */
function toWaitView(value: unknown): WaitView | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return null;
  }
  const { signal, timeoutMs, forMs, until } = value as Record<string, unknown>;
  return {
    ...(typeof signal === "string" ? { signal } : {}),
    ...(typeof timeoutMs === "number" ? { timeoutMs } : {}),
    ...(typeof forMs === "number" ? { forMs } : {}),
    ...(typeof until === "string" ? { until } : {}),
  };
}

/**
 * A task as the graph draws it; a wait task that waits now (stored `ready`, holding no slot) is shown
 * `waiting`, with what it waits for.
 */
export function toTaskView(task: DashboardTaskRow): TaskView {
  const { waiting } = task;
  return {
    id: task.id,
    parentId: task.parent_id,
    kind: task.kind === "composite" ? "composite" : "atomic",
    step: task.step,
    description: task.description,
    status: waiting ? "waiting" : task.status,
    dependsOn: task.depends_on ?? [],
    merged: task.merged ?? [],
    attempts: task.attempts,
    maxAttempts: task.max_attempts,
    timeoutMs: task.timeout_ms,
    queue: task.queue,
    priority: task.priority,
    error: toError(task.error),
    startedAt: iso(task.started_at),
    finishedAt: iso(task.finished_at),
    durationMs: toNumber(task.duration_ms),
    usage: toSpentUsage(task),
    wait: toWaitView(task.wait),
    waiting: waiting
      ? {
          since: waiting.since,
          until: waiting.until,
          ...(waiting.signal === undefined ? {} : { signal: waiting.signal }),
        }
      : null,
  };
}

/** The key a codec's encrypted value is stored under (store/codec.ts). */
const ENCRYPTED_MARK = '"$htdag_enc"';

/**
 * A plan awaiting approval as a graph to edit: each task's spec with its input (left out when null),
 * as a user would write it (graph/file.ts).
 */
export function toPlanView(goal: string, rows: readonly PlanTaskRow[]): PlanView {
  const tasks = rows.map((row) => taskToDocument(row.task as Task));
  return { goal, tasks, encryptedInputs: JSON.stringify(tasks).includes(ENCRYPTED_MARK) };
}

export function toAttemptView(attempt: AttemptRow): AttemptView {
  return {
    attempt: attempt.attempt,
    status: attempt.status,
    workerId: attempt.worker_id,
    startedAt: iso(attempt.started_at)!,
    finishedAt: iso(attempt.finished_at),
    queueWaitMs: toNumber(attempt.queue_wait_ms),
    durationMs: toNumber(attempt.duration_ms),
    errorClass: attempt.error_class,
    error: toError(attempt.error),
    usage: toSpentUsage(attempt),
  };
}

export function toUsageBreakdownView(row: UsageBreakdownRow): UsageBreakdownView {
  return { source: row.source, model: row.model, ...toUsage(row), unpricedRecords: row.unpriced_records };
}

export function toLogView(log: TaskLogRow): LogView {
  return {
    id: log.id,
    attempt: log.attempt,
    message: log.message,
    data: log.data ?? null,
    createdAt: iso(log.created_at)!,
  };
}

export function toEventView(event: HtdagEvent): EventView {
  return {
    id: event.id,
    type: event.type,
    runId: event.runId,
    taskId: event.taskId,
    workflow: event.workflow,
    payload: event.payload as Record<string, unknown>,
    createdAt: iso(event.createdAt)!,
    ...(event.cursor === undefined ? {} : { cursor: event.cursor }),
  };
}
