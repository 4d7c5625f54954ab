/** The span and the metrics of one attempt of one task (`htdag.task`, `htdag.task.*`, `htdag.tasks`). */
import type { Context, Span } from "@opentelemetry/api";
import { ATTRIBUTE, SPAN } from "./names.js";
import { recordError } from "./spans.js";
import type { Telemetry } from "./telemetry.js";

/** Which attempt a span is of. */
export interface TracedAttempt {
  runId: string;
  taskId: string;
  workflow: string;
  step: string | null;
  attempt: number;
}

/** How an attempt ended, as its span and metrics report it. */
export interface AttemptEnd {
  /** The attempt's outcome (completed, failed, timed_out, cancelled, skipped), or `released` when its step never started. */
  status: string;
  /** The error of a failed attempt, an Error or as stored ({ name, message, code }). */
  error?: unknown;
  /** The step's time, in ms. */
  durationMs: number;
  /** Cleans an error's message before it goes on the span. */
  redact?: (text: string) => string;
}

/** Starts the span of `attempt`, a child of `parent` (the run's span, from its stored trace context). */
export function startTaskSpan(telemetry: Telemetry, parent: Context, attempt: TracedAttempt): Span {
  return telemetry.tracer.startSpan(
    SPAN.task,
    {
      attributes: {
        [ATTRIBUTE.runId]: attempt.runId,
        [ATTRIBUTE.taskId]: attempt.taskId,
        [ATTRIBUTE.workflow]: attempt.workflow,
        [ATTRIBUTE.attempt]: attempt.attempt,
        ...(attempt.step === null ? {} : { [ATTRIBUTE.step]: attempt.step }),
      },
    },
    parent,
  );
}

/** Ends the span of `attempt` with its status (and error), and counts and times the attempt. */
export function endTaskSpan(telemetry: Telemetry, span: Span, attempt: TracedAttempt, end: AttemptEnd): void {
  span.setAttribute(ATTRIBUTE.status, end.status);
  if (end.error !== undefined && end.error !== null) {
    recordError(span, end.error, end.redact);
  }
  span.end();
  const { taskDuration, tasks } = telemetry.instruments();
  const attributes = metricAttributes(attempt, end.status);
  tasks.add(1, attributes);
  if (end.status !== "released") {
    taskDuration.record(end.durationMs, attributes);
  }
}

/** Records how long `attempt` waited from ready to claimed. */
export function recordQueueWait(
  telemetry: Telemetry,
  attempt: TracedAttempt,
  status: string,
  queueWaitMs: number,
): void {
  telemetry.instruments().queueWait.record(queueWaitMs, metricAttributes(attempt, status));
}

/** Metrics are kept by workflow, step and status only: a run or task id would make a series per run. */
function metricAttributes(attempt: TracedAttempt, status: string) {
  return {
    [ATTRIBUTE.workflow]: attempt.workflow,
    [ATTRIBUTE.step]: attempt.step ?? "",
    [ATTRIBUTE.status]: status,
  };
}
