/** Small helpers of the dashboard's node:http server: JSON bodies and responses, errors as status codes. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HtdagError, IllegalTransitionError, InvalidOptionError, RunNotFoundError } from "../errors.js";
import { DashboardRequestError } from "./errors.js";
import type { ErrorResponse } from "./types.js";

/** Largest request body accepted, in bytes (actions carry a reason or a task id, nothing more). */
const MAX_BODY_BYTES = 16 * 1024;

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
  if (error instanceof InvalidOptionError) {
    return 400;
  }
  return 500;
}

/** Sends `error` as `{ error: { code, message } }`; an unexpected one is reported and its text kept out of the response. */
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
      : { error: { code: error.code, message: error.message } };
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const headers = status === 401 ? { "WWW-Authenticate": 'Bearer realm="htdag"' } : {};
  for (const [name, value] of Object.entries(headers)) {
    response.setHeader(name, value);
  }
  sendJson(response, status, body);
}

/** Reads a JSON object body (empty: `{}`); refuses other content types (a cross-site form cannot send JSON) and large bodies. */
export async function readJsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") {
    throw new DashboardRequestError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      "actions take a JSON body: send Content-Type: application/json (and {} when there is nothing to say)",
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new DashboardRequestError(
        413,
        "BODY_TOO_LARGE",
        `an action's body must stay under ${MAX_BODY_BYTES} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
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
