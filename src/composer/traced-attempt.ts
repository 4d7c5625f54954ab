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

/**
 * Runs `plan` (the expansion of `claimed`, a lazy composite) inside the composite attempt's span,
 * so the decomposition's spans (and its LLM calls') are its children; ends it `expanded`, or with
 * the planning's error.
 */
export async function tracedExpansion<T>(
  tracing: AttemptTelemetry,
  claimed: ClaimedTask,
  plan: () => Promise<T>,
): Promise<T> {
  const traced = tracedOf(claimed);
  const { telemetry, redact } = tracing;
  const span = startTaskSpan(telemetry, tracing.parent, traced);
  const startedAt = performance.now();
  try {
    const planned = await context.with(trace.setSpan(tracing.parent, span), plan);
    endTaskSpan(telemetry, span, traced, { status: "expanded", durationMs: performance.now() - startedAt, redact });
    return planned;
  } catch (error) {
    endTaskSpan(telemetry, span, traced, {
      status: "failed",
      error,
      durationMs: performance.now() - startedAt,
      redact,
    });
    throw error;
  }
}

function tracedOf(claimed: ClaimedTask): TracedAttempt {
  return {
    runId: claimed.runId,
    taskId: claimed.taskId,
    workflow: claimed.workflow,
    step: claimed.step,
    attempt: claimed.attempt,
  };
}

/** Runs `attempt` (one attempt of `claimed`) inside its span; resolves as `attempt` does. */
export async function tracedAttempt<T extends Settlement | null>(
  tracing: AttemptTelemetry,
  claimed: ClaimedTask,
  attempt: () => Promise<T>,
): Promise<T> {
  const traced = tracedOf(claimed);
  const { telemetry, redact } = tracing;
  const span = startTaskSpan(telemetry, tracing.parent, traced);
  // Read while the step runs: recorded once the attempt's status is known.
  const queueWait = tracing.queueWaitMs(claimed);
  const startedAt = performance.now();
  let settlement: T;
  try {
    settlement = await context.with(trace.setSpan(tracing.parent, span), attempt);
  } catch (error) {
    endTaskSpan(telemetry, span, traced, { status: "error", error, durationMs: performance.now() - startedAt, redact });
    void queueWait.catch(tracing.onError);
    throw error;
  }
  const status = settlement === null ? "released" : settlement.outcome;
  endTaskSpan(telemetry, span, traced, {
    status,
    error: settlement?.error,
    durationMs: settlement?.stepMs ?? performance.now() - startedAt,
    redact,
  });
  void queueWait.then((ms) => {
    if (ms !== null) {
      recordQueueWait(telemetry, traced, status, ms);
    }
  }, tracing.onError);
  return settlement;
}
