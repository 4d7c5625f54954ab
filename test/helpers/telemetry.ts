/**
 * An OpenTelemetry SDK for tests: spans to an in-memory exporter, metrics to a reader collected on
 * demand, and the AsyncLocalStorage context manager, registered as the globals `@opentelemetry/api`
 * reports to (as an application registers its own).
 */
import { context, metrics, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from "@opentelemetry/sdk-trace-base";

/** A reader that exports nothing by itself: the test collects. */
class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** One metric's data points, each with its attributes and value (a number, or a histogram). */
export type Points = DataPoint<number | Histogram>[];

export interface TestTelemetry {
  exporter: InMemorySpanExporter;
  /** The finished spans. */
  spans(): ReadableSpan[];
  /** The data points of metric `name` now. */
  points(name: string): Promise<Points>;
  /** Unregisters the globals and shuts the providers down. */
  shutdown(): Promise<void>;
}

/** Registers a tracer provider, a meter provider and a context manager as the API's globals. */
export function registerTestTelemetry(): TestTelemetry {
  // Whatever an earlier test file in this worker left registered goes first.
  trace.disable();
  metrics.disable();
  context.disable();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    async points(name) {
      const { resourceMetrics } = await reader.collect();
      const metric = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
      return (metric?.dataPoints ?? []) as Points;
    },
    async shutdown() {
      trace.disable();
      metrics.disable();
      context.disable();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** The parent span id of `span` (the SDK 2 field), or undefined for a root span. */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}
