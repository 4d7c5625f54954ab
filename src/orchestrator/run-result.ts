/** RunResult and RunDetail: what a finished run looks like to callers, built from stored rows. */
import type { PayloadCodec } from "../store/codec.js";
import type { RunStatus, TaskStatus } from "../composer/state-machine.js";
import type { RunRow, TaskStateRow } from "../store/runs.js";
import type { RunRevision } from "../store/revisions.js";
import { usageOf, type Usage } from "./usage.js";

/** One task of a run, summarised. */
export interface TaskSummary {
  id: string;
  parentId: string | null;
  kind: "atomic" | "composite";
  step: string | null;
  /** The task's status; `waiting` is a wait task that waits now (stored `ready`, holding no slot). */
  status: TaskSummaryStatus;
  /** What a waiting task waits for, and since when; absent unless `status` is `waiting`. */
  waiting?: TaskWaiting;
  /** Attempts made, the first included. */
  attempts: number;
  /** Time spent in attempts, in ms (all attempts added up). */
  durationMs: number | null;
  error?: { message?: string; name?: string };
  /** What the task's steps spent on LLM calls (`ctx.usage`, llmStep), all attempts added up; absent when nothing. */
  usage?: Usage;
}

/** A task's status as summaries show it: the stored one, or `waiting` for a wait task that waits now. */
export type TaskSummaryStatus = TaskStatus | "waiting";

/** What a waiting task waits for (docs/waits-and-flow-control.md). */
export interface TaskWaiting {
  /** When the wait started (ISO 8601). */
  since: string;
  /** The signal it waits for, if it waits for one. */
  signal?: string;
  /** When it completes (forMs, until) or times out (a signal's timeoutMs), ISO 8601; null: no limit. */
  until: string | null;
}

/** The result of one run. */
export interface RunResult {
  runId: string;
  workflow: string;
  goal: string;
  status: RunStatus;
  /** Outputs of completed tasks, by task id. */
  outputs: Record<string, unknown>;
  tasks: TaskSummary[];
  durationMs: number;
  error?: { message: string; taskId?: string };
  /** Revisions of the run's plan, oldest first (docs/living-plans.md); empty when the plan was never revised. */
  revisions: RunRevision[];
  /** What the run spent on LLM calls: its decomposition, its revisions and its steps (docs/usage-and-budgets.md). */
  usage: Usage;
}

/** Builds a RunResult from the run row and its task rows. */
export function toRunResult(
  run: RunRow,
  tasks: TaskStateRow[],
  codec?: PayloadCodec,
  revisions: RunRevision[] = [],
): RunResult {
  const outputs: Record<string, unknown> = {};
  for (const task of tasks) {
    if (task.status === "completed") {
      outputs[task.id] = codec && task.output !== null ? codec.decode(task.output) : task.output;
    }
  }
  const end = run.finished_at ?? new Date();
  const start = run.started_at ?? run.created_at;
  return {
    runId: run.id,
    workflow: run.workflow,
    goal: run.goal,
    status: run.status as RunStatus,
    outputs,
    tasks: tasks.map((t) => ({
      id: t.id,
      parentId: t.parent_id,
      kind: t.kind as "atomic" | "composite",
      step: t.step,
      ...(t.waiting ? { status: "waiting" as const, waiting: t.waiting } : { status: t.status as TaskStatus }),
      attempts: t.attempts,
      durationMs: t.duration_ms === null ? null : Number(t.duration_ms),
      ...(t.error ? { error: t.error as { message?: string } } : {}),
      ...(t.usage
        ? {
            usage: usageOf({
              llm_calls: t.usage.llmCalls,
              input_tokens: t.usage.inputTokens,
              output_tokens: t.usage.outputTokens,
              cost_usd: t.usage.costUsd,
            }),
          }
        : {}),
    })),
    durationMs: Math.max(0, end.getTime() - start.getTime()),
    revisions,
    usage: usageOf(run),
    ...(run.error?.message
      ? { error: { message: run.error.message, ...(run.error.taskId ? { taskId: run.error.taskId } : {}) } }
      : {}),
  };
}
