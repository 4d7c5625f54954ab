/** Spans around a piece of work: started, made active for the work, ended with its outcome. */
import {
  context,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanKind,
  type Tracer,
} from "@opentelemetry/api";

/** What a span of htdag's is started with. */
export interface SpanStart {
  name: string;
  attributes: Attributes;
  kind?: SpanKind;
  /** The parent's context. @default the active context */
  parent?: Context;
}

/**
 * Runs `work` inside a new span (the active span while it runs, so spans it starts are its
 * children) and ends the span when the work ends; a throw is recorded on the span and rethrown.
 */
export async function inSpan<T>(tracer: Tracer, start: SpanStart, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = start.parent ?? context.active();
  const span = tracer.startSpan(
    start.name,
    { attributes: start.attributes, ...(start.kind === undefined ? {} : { kind: start.kind }) },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => work(span));
  } catch (error) {
    recordError(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** An error as a span records it: an exception event, and the span's status ERROR with its message. */
export interface RecordedError {
  name?: string;
  message?: string;
  code?: string;
}

/**
 * Records `error` on `span`: an exception event and status ERROR. `redact` cleans the message first
 * (a step's error may quote a secret; the store's redactor cleans what it stores the same way).
 */
export function recordError(span: Span, error: unknown, redact: (text: string) => string = (text) => text): void {
  const described = describeError(error);
  const message = redact(described.message ?? "");
  span.recordException({
    name: described.name ?? "Error",
    message,
    ...(described.code === undefined ? {} : { code: described.code }),
    ...(error instanceof Error && error.stack !== undefined ? { stack: redact(error.stack) } : {}),
  });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

function describeError(error: unknown): RecordedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === "string" ? { code } : {}) };
  }
  if (error !== null && typeof error === "object") {
    const { name, message, code } = error as Record<string, unknown>;
    return {
      ...(typeof name === "string" ? { name } : {}),
      message: typeof message === "string" ? message : JSON.stringify(error),
      ...(typeof code === "string" ? { code } : {}),
    };
  }
  return { message: String(error) };
}
