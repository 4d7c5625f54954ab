/**
 * `orch.dashboard()`: a node:http server with the web app, the JSON API, the event stream and
 * the actions, behind the token (when one is set), the Host/Origin checks and the size limits.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Orchestrator } from "../orchestrator/orchestrator.js";
import type { Dashboard, DashboardOptions } from "../orchestrator/dashboard-port.js";
import { createDashboardContext, type DashboardContext } from "./context.js";
import { DashboardListenError, DashboardRequestError } from "./errors.js";
import { checkHost, checkOrigin, checkToken } from "./guard.js";
import { answerClientError, checkDeclaredBody, sendError } from "./http.js";
import { resolveDashboardOptions } from "./options.js";
import { apiSegments, checkQuery, postBodyLimit, routeApi } from "./routes.js";
import { findAssetsDir, serveStatic } from "./static.js";
import { StreamSlots } from "./stream.js";

/** The URL a browser on this machine opens for a server on `host:port`. */
function urlFor(host: string, port: number): string {
  const local =
    host === "0.0.0.0"
      ? "127.0.0.1"
      : host === "::"
        ? "[::1]"
        : host.includes(":") && !host.startsWith("[")
          ? `[${host}]`
          : host;
  return `http://${local}:${port}/`;
}

/** The request's URL; a request target that is not one (`http://[`) is a 400, not a server error. */
function requestUrl(request: IncomingMessage): URL {
  try {
    return new URL(request.url ?? "/", "http://dashboard.invalid");
  } catch {
    throw new DashboardRequestError(400, "BAD_PATH", `${JSON.stringify(request.url)} is not a path`);
  }
}

function handler(ctx: DashboardContext, assetsDir: string, slots: StreamSlots) {
  const { token, host, onError } = ctx.options;
  return async (request: IncomingMessage, response: ServerResponse) => {
    try {
      if (token === null) {
        checkHost(request, host);
      }
      const url = requestUrl(request);
      const segments = apiSegments(url.pathname);
      checkOrigin(request, segments !== null);
      checkDeclaredBody(request, segments !== null && request.method === "POST" ? postBodyLimit(segments) : 0);
      if (segments === null) {
        if (request.method !== "GET" && request.method !== "HEAD") {
          throw new DashboardRequestError(405, "METHOD_NOT_ALLOWED", "the page is read with GET");
        }
        return await serveStatic(response, assetsDir, url.pathname);
      }
      checkToken(request, url, token);
      checkQuery(url.searchParams);
      await routeApi(ctx, request, response, segments, url.searchParams, slots);
    } catch (error) {
      sendError(response, error, onError);
    }
  };
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new DashboardListenError(host, port, error)));
    // `[::1]` is how a URL writes it; the socket wants the bare address.
    server.listen(port, host.replace(/^\[(.*)\]$/, "$1"), () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Starts the dashboard over `orch`. The page is public (it holds no data); every API, stream and
 * action request needs the token when one is set.
 * @example
 * const dashboard = await orch.dashboard({ port: 4400 });
 * console.log(`open ${dashboard.url}`);
 */
export async function startDashboard(orch: Orchestrator, options: DashboardOptions = {}): Promise<Dashboard> {
  const resolved = resolveDashboardOptions(options);
  const assetsDir = findAssetsDir(resolved.assetsDir);
  const ctx = createDashboardContext(orch, resolved);
  const slots = new StreamSlots(resolved.maxStreams);
  const server = createServer(handler(ctx, assetsDir, slots));
  server.on("clientError", answerClientError);
  const port = await listen(server, resolved.host, resolved.port);
  let closing: Promise<void> | undefined;
  return {
    url: urlFor(resolved.host, port),
    port,
    host: resolved.host,
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all([...slots.open].map((stream) => stream.end()));
        server.closeAllConnections();
        await stopped;
      })()),
  };
}
