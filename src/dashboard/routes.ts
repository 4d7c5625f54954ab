/** Maps a request (method and path segments) to the handler that answers it. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { actionBodyLimit, runAction, isAction } from "./actions.js";
import { getRun, getTask, getWorkflow, listEvents, listRuns, listWorkflows } from "./api.js";
import type { DashboardContext } from "./context.js";
import { InvalidOptionError } from "../errors.js";
import { DashboardRequestError } from "./errors.js";
import { MAX_BODY_BYTES, readJsonBody, sendJson } from "./http.js";
import { streamEvents, type StreamSlots } from "./stream.js";

/** The path's segments after `/api/`, each percent-decoded (task ids may hold `/`, sent as %2F). */
export function apiSegments(pathname: string): string[] | null {
  if (pathname !== "/api" && !pathname.startsWith("/api/")) {
    return null;
  }
  let segments: string[];
  try {
    segments = pathname
      .split("/")
      .slice(2)
      .filter((s) => s !== "")
      .map(decodeURIComponent);
  } catch {
    throw new DashboardRequestError(
      400,
      "BAD_PATH",
      `the path ${JSON.stringify(pathname)} is not valid percent-encoding`,
    );
  }
  // No id or name holds a NUL (PostgreSQL refuses it in text), so none can match: say so, as a 400.
  if (segments.some((s) => s.includes("\0"))) {
    throw new DashboardRequestError(400, "BAD_PATH", `the path ${JSON.stringify(pathname)} holds a NUL (%00)`);
  }
  return segments;
}

/** Refuses a query parameter holding a NUL: no run, workflow or event type has one. */
export function checkQuery(query: URLSearchParams): void {
  for (const [name, value] of query) {
    if (value.includes("\0")) {
      throw new InvalidOptionError(name, "text without NUL characters", value, "the dashboard API");
    }
  }
}

/** The largest body a POST to the API path of `segments` may carry: an action's own limit, else MAX_BODY_BYTES. */
export function postBodyLimit(segments: readonly string[]): number {
  const [resource, , sub] = segments;
  return resource === "runs" && segments.length === 3 && isAction(sub!) ? actionBodyLimit(sub) : MAX_BODY_BYTES;
}

/** Answers one API request; throws a DashboardRequestError (404, 405) for a route that does not exist. */
export async function routeApi(
  ctx: DashboardContext,
  request: IncomingMessage,
  response: ServerResponse,
  segments: string[],
  query: URLSearchParams,
  streams: StreamSlots,
): Promise<void> {
  const method = request.method ?? "GET";
  const [resource, id, sub, taskId, extra] = segments;
  const json = (body: unknown) => sendJson(response, 200, body);
  const get = method === "GET" || method === "HEAD";
  if (resource === "stream" && segments.length === 1 && get) {
    return streamEvents(ctx, request, response, query, streams);
  }
  if (resource === "events" && segments.length === 1 && get) {
    return json(await listEvents(ctx, query));
  }
  if (resource === "workflows" && segments.length === 1 && get) {
    return json(await listWorkflows(ctx));
  }
  if (resource === "workflows" && segments.length === 2 && get) {
    return json(await getWorkflow(ctx, id!));
  }
  if (resource === "runs") {
    if (segments.length === 1 && get) {
      return json(await listRuns(ctx, query));
    }
    if (segments.length === 2 && get) {
      return json(await getRun(ctx, id!));
    }
    if (segments.length === 3 && sub === "tasks" && get) {
      return json({ tasks: (await getRun(ctx, id!)).tasks });
    }
    if (segments.length === 3 && sub === "events" && get) {
      return json(await listEvents(ctx, query, id!));
    }
    if (segments.length === 3 && isAction(sub!) && method === "POST") {
      return json(await runAction(ctx, id!, sub, await readJsonBody(request, actionBodyLimit(sub))));
    }
    if (sub === "tasks" && segments.length >= 4 && get) {
      const detail = await getTask(ctx, id!, taskId!, query);
      if (segments.length === 4) {
        return json(detail);
      }
      if (segments.length === 5 && extra === "attempts") {
        return json({ attempts: detail.attempts });
      }
      if (segments.length === 5 && extra === "logs") {
        return json({ logs: detail.logs });
      }
    }
    if (segments.length === 3 && isAction(sub!)) {
      throw new DashboardRequestError(405, "METHOD_NOT_ALLOWED", `${sub} is an action: POST it with a JSON body`);
    }
  }
  throw new DashboardRequestError(
    404,
    "NOT_FOUND",
    `no API route ${method} /api/${segments.map(encodeURIComponent).join("/")}; see docs/dashboard.md`,
  );
}
