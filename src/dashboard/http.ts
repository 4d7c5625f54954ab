/** Small helpers of the dashboard's node:http server: JSON bodies and responses, errors as status codes. */
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import {
  GraphValidationError,
  HtdagError,
  IllegalTransitionError,
  InvalidOptionError,
  RunNotFoundError,
  SignalError,
} from "../errors.js";
import { DashboardRequestError } from "./errors.js";
import type { ErrorResponse } from "./types.js";

/** Largest request body accepted, in bytes (actions carry a reason or a task id; `signal` and `approve` more, actions.ts). */
export const MAX_BODY_BYTES = 16 * 1024;

/** Headers of every response: no sniffing, no framing, no referrer (a token may sit in the URL). */
export const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
} as const;

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Length": Buffer.byteLength(text),
  });
  response.end(text);
}

/** The HTTP status of an error: 4xx for the caller's mistakes, 500 for the rest. */
export function statusOf(error: unknown): number {
  if (error instanceof DashboardRequestError) {
    return error.status;
  }
  if (error instanceof RunNotFoundError) {
    return 404;
  }
  if (error instanceof IllegalTransitionError) {
    return 409;
  }
  if (error instanceof InvalidOptionError || error instanceof GraphValidationError) {
    return 400;
  }
  // A signal no wait takes: the run's state, not the request, is what refuses it.
  if (error instanceof SignalError) {
    return 409;
  }
  return 500;
}

/** Headers an error status comes with: how to authenticate, when to come back. */
const ERROR_HEADERS: Record<number, Record<string, string>> = {
  401: { "WWW-Authenticate": 'Bearer realm="htdag"' },
  503: { "Retry-After": "5" },
};

/**
 * Sends `error` as `{ error: { code, message } }`; an unexpected one is reported and its text kept
 * out of the response. A request whose body was not read to its end gets `Connection: close`, so
 * that the server stops reading it rather than draining it for the next request.
 */
export function sendError(response: ServerResponse, error: unknown, onError: (error: unknown) => void): void {
  const status = statusOf(error);
  if (status === 500) {
    onError(error);
  }
  const body: ErrorResponse =
    status === 500 || !(error instanceof HtdagError)
      ? {
          error: {
            code: "INTERNAL",
            message: "the dashboard hit an unexpected error; its server's log has the details",
          },
        }
      : {
          error: {
            code: error.code,
            message: error.message,
            ...(error instanceof GraphValidationError ? { issues: error.issues } : {}),
          },
        };
  if (response.headersSent) {
    response.destroy();
    return;
  }
  for (const [name, value] of Object.entries(ERROR_HEADERS[status] ?? {})) {
    response.setHeader(name, value);
  }
  if (!response.req.complete) {
    response.setHeader("Connection", "close");
  }
  sendJson(response, status, body);
}

/**
 * Refuses, before reading a byte of it, a body larger than `limit` by its Content-Length, or any
 * body (a length, or chunks) on a request that takes none (`limit` 0).
 */
export function checkDeclaredBody(request: IncomingMessage, limit: number): void {
  const length = Number(request.headers["content-length"] ?? 0);
  const chunked = request.headers["transfer-encoding"] !== undefined;
  if (length > limit || (limit === 0 && chunked)) {
    throw new DashboardRequestError(
      413,
      "BODY_TOO_LARGE",
      limit === 0
        ? `${request.method} ${request.url?.split("?")[0]} takes no body`
        : `this action's body must stay under ${limit} bytes`,
    );
  }
}

/**
 * Reads a JSON object body (empty: `{}`) of at most `limit` bytes; refuses other content types (a
 * cross-site form cannot send JSON) and larger bodies.
 */
export async function readJsonBody(
  request: IncomingMessage,
  limit: number = MAX_BODY_BYTES,
): Promise<Record<string, unknown>> {
  const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    throw new DashboardRequestError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      "actions take a JSON body: send Content-Type: application/json (and {} when there is nothing to say)",
    );
  }
  checkDeclaredBody(request, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of request) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        throw new DashboardRequestError(413, "BODY_TOO_LARGE", `this action's body must stay under ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    // A client that hangs up mid-body made a bad request, not a server error (nobody reads the answer).
    if (error instanceof DashboardRequestError || !request.readableAborted) {
      throw error;
    }
    throw new DashboardRequestError(400, "BODY_INCOMPLETE", "the request's body ended before its Content-Length");
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  if (text === "") {
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DashboardRequestError(400, "INVALID_JSON", "the body is not valid JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new DashboardRequestError(400, "INVALID_BODY", 'the body must be a JSON object, e.g. {"reason": "…"}');
  }
  return value as Record<string, unknown>;
}

/**
 * Answers a request node's parser refused before any handler saw it (a malformed request line or
 * header, a NUL in the path, headers over the size limit, a client too slow to send them) with a
 * 4xx like any other refusal, then closes the connection.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const refusal =
    error.code === "HPE_HEADER_OVERFLOW"
      ? new DashboardRequestError(431, "HEADERS_TOO_LARGE", "the request's headers are over the server's limit")
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? new DashboardRequestError(408, "REQUEST_TIMEOUT", "the request took too long to arrive")
        : new DashboardRequestError(
            400,
            "BAD_REQUEST",
            `the request is not valid HTTP/1.1 (${error.code ?? "malformed"})`,
          );
  const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } } satisfies ErrorResponse);
  const headers = {
    ...SECURITY_HEADERS,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  socket.end(`HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n${head}\r\n${body}`);
}
