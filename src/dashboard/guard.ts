/**
 * Who may talk to the dashboard: the token (constant-time compare); for a dashboard that trusts the
 * loopback interface instead of a token, the Host header (no DNS rebinding); and for every
 * dashboard, the Origin and Sec-Fetch-Site headers (no web page elsewhere).
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
 * not a loopback name (a rebound DNS name).
 */
export function checkHost(request: IncomingMessage, listenHost: string): void {
  const host = request.headers.host;
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

/** What a browser says of where a request comes from: `same-origin`, `same-site`, `cross-site` or `none`. */
const FOREIGN_SITES = new Set(["same-site", "cross-site"]);

/**
 * Refuses a request another web page made: an `Origin` that is not this dashboard's own (`null`,
 * from a sandboxed frame or a file, included) on an action, and on any API request (reads and the
 * event stream too, so that no page elsewhere can read the runs or hold the stream slots); and an
 * API request a browser marks as sent from another site (`Sec-Fetch-Site`, which a browser also
 * sends on the requests that carry no Origin, such as `<img src>`). The page itself is public.
 */
export function checkOrigin(request: IncomingMessage, api: boolean): void {
  const state = request.method !== "GET" && request.method !== "HEAD";
  if (!state && !api) {
    return;
  }
  const origin = request.headers.origin;
  const from = origin === undefined ? null : originHost(origin);
  if (from !== null && (from === "" || from !== (request.headers.host ?? "").toLowerCase())) {
    throw new DashboardRequestError(
      403,
      "FORBIDDEN_ORIGIN",
      `the API answers the dashboard's own page only, not a page at ${JSON.stringify(origin)}`,
    );
  }
  const site = request.headers["sec-fetch-site"];
  if (api && typeof site === "string" && FOREIGN_SITES.has(site.toLowerCase())) {
    throw new DashboardRequestError(
      403,
      "FORBIDDEN_ORIGIN",
      `the API answers the dashboard's own page only, not a request from another site (Sec-Fetch-Site: ${site})`,
    );
  }
}

/** The `host:port` of an Origin header, lower-cased; "" for `null` or anything that is not an http(s) origin. */
function originHost(origin: string): string {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" || url.protocol === "https:" ? url.host.toLowerCase() : "";
  } catch {
    return "";
  }
}
