/**
 * Who may talk to the dashboard: the token (constant-time compare), and, for a dashboard that
 * trusts the loopback interface instead of a token, the Host and Origin headers, so that a web
 * page elsewhere cannot reach it through DNS rebinding or a cross-site form.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { DashboardRequestError } from "./errors.js";

/** Hosts a loopback-only dashboard answers to, besides the one it listens on. */
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Compares two secrets in time that does not depend on where they differ (hashing evens the lengths). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token a request carries: `Authorization: Bearer <token>`, else `?token=` (EventSource cannot set headers). */
export function requestToken(request: IncomingMessage, url: URL): string | null {
  const header = request.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1] ?? null;
  }
  return url.searchParams.get("token");
}

/** Throws a 401 unless the request carries `token` (nothing to check when `token` is null). */
export function checkToken(request: IncomingMessage, url: URL, token: string | null): void {
  if (token === null) {
    return;
  }
  const given = requestToken(request, url);
  if (given === null || !sameSecret(given, token)) {
    throw new DashboardRequestError(
      401,
      "UNAUTHORIZED",
      "this dashboard needs its token: send `Authorization: Bearer <token>`, or open the page once with ?token=<token>",
    );
  }
}

/** The host name of a Host header (`name:port` or `[v6]:port`), lower-cased. */
function hostName(hostHeader: string): string {
  const v6 = /^(\[[^\]]+\])(:\d+)?$/.exec(hostHeader);
  if (v6) {
    return v6[1]!.toLowerCase();
  }
  return hostHeader.replace(/:\d+$/, "").toLowerCase();
}

/**
 * Without a token the only protection is that the caller is on this machine: refuse a Host that is
 * not a loopback name (a rebound DNS name), and a cross-origin Origin on a state-changing request.
 */
export function checkOrigin(request: IncomingMessage, listenHost: string, hasToken: boolean): void {
  const host = request.headers.host;
  if (!hasToken) {
    const name = host ? hostName(host) : "";
    const listening =
      listenHost.includes(":") && !listenHost.startsWith("[") ? `[${listenHost}]` : listenHost.toLowerCase();
    if (!LOOPBACK_NAMES.has(name) && name !== listening) {
      throw new DashboardRequestError(
        403,
        "FORBIDDEN_HOST",
        `a dashboard without a token answers only to localhost, 127.0.0.1 or [::1], not Host ${JSON.stringify(host ?? "")}; ` +
          "open it by one of those names, or start it with a token",
      );
    }
  }
  const origin = request.headers.origin;
  if (request.method !== "GET" && request.method !== "HEAD" && origin && origin !== "null") {
    let originHost: string;
    try {
      originHost = new URL(origin).host.toLowerCase();
    } catch {
      originHost = "";
    }
    if (originHost !== (host ?? "").toLowerCase()) {
      throw new DashboardRequestError(
        403,
        "FORBIDDEN_ORIGIN",
        `actions are accepted from the dashboard's own page only, not from ${JSON.stringify(origin)}`,
      );
    }
  }
}
