/**
 * The run's span (`htdag.run`, a child of the caller's active span) and what attempts trace with:
 * the run's trace context is stored with the run, so the task spans of every process that runs
 * its attempts (this one, or a worker elsewhere) are children of the run's span.
 */
import type { Span } from "@opentelemetry/api";
import type { AttemptTelemetry } from "../composer/traced-attempt.js";
import { withServices } from "../decomposers/services.js";
import type { Decomposer } from "../graph/decomposer.js";
import { inDecomposeSpan } from "./decompose.js";
import type { QueueWaitReader } from "../store/queue-waits.js";
import type { RunRow } from "../store/runs.js";
import { ATTRIBUTE, SPAN } from "../telemetry/names.js";
import { inSpan, recordError } from "../telemetry/spans.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { contextOfStored, storedTraceContextOf, type StoredTraceContext } from "../telemetry/trace-context.js";

/** What the run service traces with, when the orchestrator's `telemetry` is on. */
export interface RunTelemetry {
  telemetry: Telemetry;
  queueWaits: QueueWaitReader;
  /** The store's redactor: error messages go on spans as cleaned as they are stored. */
  redact(text: string): string;
}

/** The run span as the work inside it sees it. */
export interface RunTrace {
  /** The trace context to store with the run; undefined when there is none (no SDK registered). */
  stored: StoredTraceContext | undefined;
  /** Names the run on its span once it has an id. */
  identify(runId: string): void;
  /** Sets the run's status on its span (`htdag.status`), and records its error when it failed. */
  finished(status: string, error?: unknown): void;
}

/** What a run span starts with. */
export interface RunSpanStart {
  workflow: string | undefined;
  goal: string;
  /** The run is submitted for workers: the span ends once it is recorded. */
  submitted: boolean;
}

/**
 * Runs `work` inside the run's span when telemetry is on; without telemetry, `work` gets no trace
 * and nothing else happens.
 */
export function traceRun<T>(
  tracing: RunTelemetry | undefined,
  start: RunSpanStart,
  work: (trace: RunTrace | undefined) => Promise<T>,
): Promise<T> {
  if (!tracing) {
    return work(undefined);
  }
  return inSpan(
    tracing.telemetry.tracer,
    {
      name: SPAN.run,
      attributes: {
        [ATTRIBUTE.goal]: start.goal,
        ...(start.workflow === undefined ? {} : { [ATTRIBUTE.workflow]: start.workflow }),
        ...(start.submitted ? { [ATTRIBUTE.submitted]: true } : {}),
      },
    },
    (span) => work(runTraceOf(span, tracing)),
  );
}

function runTraceOf(span: Span, tracing: RunTelemetry): RunTrace {
  return {
    stored: storedTraceContextOf(span),
    identify: (runId) => span.setAttribute(ATTRIBUTE.runId, runId),
    finished: (status, error) => {
      span.setAttribute(ATTRIBUTE.status, status);
      if (error !== undefined && error !== null) {
        recordError(span, error, tracing.redact);
      }
    },
  };
}

/** What the attempts of `run` trace with: their spans are children of the span stored with the run. */
export function attemptTelemetryOf(
  tracing: RunTelemetry,
  run: Pick<RunRow, "options">,
  onError: (error: unknown) => void,
): AttemptTelemetry {
  return {
    telemetry: tracing.telemetry,
    parent: contextOfStored(run.options.trace),
    queueWaitMs: (attempt) => tracing.queueWaits.queueWaitMs(attempt),
    redact: tracing.redact,
    onError,
  };
}

/**
 * `decomposer` for a run's lazy expansions: each call runs in an `htdag.decompose` span (a child of
 * the composite attempt's span, active while it plans) with the telemetry its LLM calls trace with.
 */
export function tracedDecomposer(decomposer: Decomposer, name: string, tracing: RunTelemetry): Decomposer {
  const decompose = typeof decomposer === "function" ? decomposer : decomposer.decompose;
  const { telemetry } = tracing;
  return (goal, ctx) =>
    inDecomposeSpan(telemetry, goal, name, async () => decompose(goal, withServices(ctx, { telemetry })));
}
