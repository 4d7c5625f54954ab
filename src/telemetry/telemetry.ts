/**
 * htdag's telemetry: a tracer and its instruments, through `@opentelemetry/api` only. Until the
 * application registers an SDK both are no-ops; htdag never registers one (docs/observability.md).
 */
import {
  metrics,
  trace,
  type Counter,
  type Histogram,
  type Meter,
  type MeterProvider,
  type Tracer,
} from "@opentelemetry/api";
import { METRIC } from "./names.js";

/** The instrumentation scope htdag's spans and metrics are reported under. */
export const INSTRUMENTATION_SCOPE = "htdag";

/** The metrics htdag records. */
export interface Instruments {
  /** An attempt's step time, in ms, by workflow, step and status. */
  taskDuration: Histogram;
  /** From a task's becoming ready to its claim, in ms, by workflow, step and status. */
  queueWait: Histogram;
  /** Attempts that ended, by workflow, step and status. */
  tasks: Counter;
  /** Tokens of LLM calls, by model and direction (`gen_ai.token.type`: input, output). */
  llmTokens: Counter;
}

/** What traces and measures: handed to each layer that reports, when `telemetry` is on. */
export interface Telemetry {
  readonly tracer: Tracer;
  /** The instruments of the meter provider registered now. */
  instruments(): Instruments;
}

/**
 * The telemetry of one orchestrator. The tracer is the API's proxy, so an SDK registered later is
 * used from then on; the instruments are made again when the registered meter provider changes.
 */
export function createTelemetry(version?: string): Telemetry {
  const tracer = trace.getTracer(INSTRUMENTATION_SCOPE, version);
  let current: { provider: MeterProvider; instruments: Instruments } | undefined;
  return {
    tracer,
    instruments() {
      const provider = metrics.getMeterProvider();
      if (current?.provider !== provider) {
        current = { provider, instruments: instrumentsOf(provider.getMeter(INSTRUMENTATION_SCOPE, version)) };
      }
      return current.instruments;
    },
  };
}

function instrumentsOf(meter: Meter): Instruments {
  return {
    taskDuration: meter.createHistogram(METRIC.taskDuration, {
      unit: "ms",
      description: "Time of one attempt's step",
    }),
    queueWait: meter.createHistogram(METRIC.queueWait, {
      unit: "ms",
      description: "Time a task waited from ready to claimed",
    }),
    tasks: meter.createCounter(METRIC.tasks, { description: "Attempts that ended, by status" }),
    llmTokens: meter.createCounter(METRIC.llmTokens, {
      unit: "{token}",
      description: "Tokens of LLM calls, by model and direction",
    }),
  };
}
