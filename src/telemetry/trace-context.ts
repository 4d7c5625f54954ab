/**
 * A span's context as stored with a run (W3C Trace Context: `traceparent`, `tracestate`), and back:
 * a worker in another process parents its task spans on the run's span. Written and read here,
 * without the application's propagator, so it works whatever propagator (if any) is registered.
 */
import { ROOT_CONTEXT, createTraceState, isSpanContextValid, trace, type Context, type Span } from "@opentelemetry/api";

/** A run's trace context as stored (in the run's options). */
export interface StoredTraceContext {
  traceparent: string;
  tracestate?: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** `span`'s context as W3C headers; undefined when it has none (no SDK and no caller's span). */
export function storedTraceContextOf(span: Span): StoredTraceContext | undefined {
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) {
    return undefined;
  }
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, "0");
  const tracestate = spanContext.traceState?.serialize();
  return {
    traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`,
    ...(tracestate ? { tracestate } : {}),
  };
}

/**
 * The context whose parent span is the stored one: ROOT_CONTEXT when nothing (or something that is
 * not a traceparent) was stored, so the spans start a trace of their own.
 */
export function contextOfStored(stored: unknown): Context {
  const header = (stored as Partial<StoredTraceContext> | null | undefined)?.traceparent;
  const match = typeof header === "string" ? TRACEPARENT.exec(header) : null;
  if (!match) {
    return ROOT_CONTEXT;
  }
  const tracestate = (stored as Partial<StoredTraceContext>).tracestate;
  const spanContext = {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16),
    isRemote: true,
    ...(typeof tracestate === "string" ? { traceState: createTraceState(tracestate) } : {}),
  };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}
