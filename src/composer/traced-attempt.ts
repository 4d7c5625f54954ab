/**
 * An attempt inside its `htdag.task` span: the step runs in the span's context (so the
 * application's own spans nest under it), and the attempt is counted and timed when it ends.
 * A lazy composite's expansion is its attempt too. Only used when the orchestrator's `telemetry` is
 * on: otherwise an attempt does none of this.
 */
import { context, trace, type Context } from "@opentelemetry/api";
import type { AttemptRef, ClaimedTask, Settlement } from "../store/tasks.js";
import { endTaskSpan, recordQueueWait, startTaskSpan, type TracedAttempt } from "../telemetry/task-span.js";
import type { Telemetry } from "../telemetry/telemetry.js";

/** What tracing an attempt needs from its run. */
export interface AttemptTelemetry {
  telemetry: Telemetry;
  /** The context of the run's span, from the trace context stored with the run: task spans are its children. */
  parent: Context;
  /** The attempt's wait from ready to claimed, as its claim recorded it; null when it is not recorded. */
  queueWaitMs(attempt: AttemptRef): Promise<number | null>;
  /** Cleans an error's message before it goes on a span, as the store cleans what it stores. */
  redact(text: string): string;
  /** Reports a failed read of a queue wait: the attempt goes on, its wait is not recorded. */
  onError(error: unknown): void;
}

/** How a piece of work inside a task span ended, for the span and the metrics. */
interface SpanEnd {
  status: string;
  error?: unknown;
  /** @default the time the work took */
  durationMs?: number | undefined;
}

/**
 * Runs `work` inside the `htdag.task` span of `claimed`, as the active span; ends the span with
 * `ended(result)`, or with status `failedAs` and the error when `work` throws (and rethrows).
 * `onEnd` gets the status the span ended with, and whether the work threw.
 */
async function inTaskSpan<T>(
  tracing: AttemptTelemetry,
  claimed: ClaimedTask,
  work: () => Promise<T>,
  failedAs: string,
  ended: (result: T) => SpanEnd,
  onEnd: (traced: TracedAttempt, status: string, threw: boolean) => void = () => undefined,
): Promise<T> {
  const traced: TracedAttempt = {
    runId: claimed.runId,
    taskId: claimed.taskId,
    workflow: claimed.workflow,
    step: claimed.step,
    attempt: claimed.attempt,
  };
  const { telemetry, redact } = tracing;
  const span = startTaskSpan(telemetry, tracing.parent, traced);
  const startedAt = performance.now();
  const end = ({ status, error, durationMs }: SpanEnd, threw: boolean) => {
    endTaskSpan(telemetry, span, traced, {
      status,
      error,
      durationMs: durationMs ?? performance.now() - startedAt,
      redact,
    });
    onEnd(traced, status, threw);
  };
  let result: T;
  try {
    result = await context.with(trace.setSpan(tracing.parent, span), work);
  } catch (error) {
    end({ status: failedAs, error }, true);
    throw error;
  }
  end(ended(result), false);
  return result;
}

/**
 * Runs `plan` (the expansion of `claimed`, a lazy composite) inside the composite attempt's span,
 * so the decomposition's spans (and its LLM calls') are its children; ends it `expanded`, or with
 * the planning's error.
 */
export function tracedExpansion<T>(
  tracing: AttemptTelemetry,
  claimed: ClaimedTask,
  plan: () => Promise<T>,
): Promise<T> {
  return inTaskSpan(tracing, claimed, plan, "failed", () => ({ status: "expanded" }));
}

/** Runs `attempt` (one attempt of `claimed`) inside its span; resolves as `attempt` does. */
export function tracedAttempt<T extends Settlement | null>(
  tracing: AttemptTelemetry,
  claimed: ClaimedTask,
  attempt: () => Promise<T>,
): Promise<T> {
  // Read while the step runs: recorded once the attempt's status is known.
  const queueWait = tracing.queueWaitMs(claimed);
  return inTaskSpan(
    tracing,
    claimed,
    attempt,
    "error",
    (settlement) => ({
      status: settlement === null ? "released" : settlement.outcome,
      error: settlement?.error,
      durationMs: settlement?.stepMs,
    }),
    (traced, status, threw) => {
      if (threw) {
        void queueWait.catch(tracing.onError);
        return;
      }
      void queueWait.then((ms) => {
        if (ms !== null) {
          recordQueueWait(tracing.telemetry, traced, status, ms);
        }
      }, tracing.onError);
    },
  );
}
