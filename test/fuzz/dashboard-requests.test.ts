/**
 * The dashboard's HTTP server against hostile requests, fuzzed with fast-check over real sockets
 * and real Postgres: traversal paths for the static files, forged Host and foreign Origin headers,
 * NULs and junk in paths and queries, requests node's parser refuses. Every case gets a 4xx (or the
 * page, or the data a legitimate request gets), nothing is reported as a server error, the server
 * still answers afterwards, and the stored runs, tasks and events are exactly as before.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FUZZ_TIMEOUT_MS,
  MARKER,
  TOKEN,
  expectAlive,
  expectStoreUntouched,
  useDashboardTarget,
} from "./dashboard-fixture.js";
import { get, requestBytes, sendRaw } from "./raw-http.js";

const target = useDashboardTarget();
expectStoreUntouched(target);

/** Pieces of the paths people use to climb out of a static folder. */
const PIECES = [
  ...["..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "%252e%252e", "%c0%ae%c0%ae", "..;", "...."],
  ...["%2f", "%2F", "%5c", "\\", "..\\", "..%2f", "..%5c", "%00", "%", "%zz", "//", "~", ";x"],
  ...["assets", "index.html", "secret.txt", ".env", ".hidden.js", "x.txt", "app", "dist", "etc", "passwd"],
  ...["package.json", "C:", "api", "runs", "%2e%2e%2fsecret.txt", "?token=x", "#frag", "\u00e9", "%ff"],
];
const path = fc
  .tuple(
    fc.constantFrom("/", "//", "/assets/", "http://127.0.0.1/", "/%2e%2e/", "\\", "/assets\\"),
    fc.array(fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 })), { maxLength: 8 }),
    fc.constantFrom("/", "\\", "%2f", "%5c"),
  )
  .map(([start, pieces, separator]) => start + pieces.join(separator))
  // A space or a line break ends the request line: those are the parser's cases, below.
  .filter((p) => !/[\s]/.test(p));

describe("static files", () => {
  it("serve index.html and assets/ only, whatever the path (1500 cases)", { timeout: FUZZ_TIMEOUT_MS }, async () => {
    const { open, servable } = target();
    let served = 0;
    await fc.assert(
      fc.asyncProperty(path, async (p) => {
        const reply = await get(open.port, p);
        expect(reply.body).not.toContain(MARKER);
        expect([200, 400, 403, 404, 405]).toContain(reply.status);
        if (reply.status === 200 && !reply.headers["content-type"]?.startsWith("application/json")) {
          expect(servable.has(reply.body), `GET ${p} served something that is not the app`).toBe(true);
          served += 1;
        }
      }),
      { numRuns: 1500 },
    );
    expect(served).toBeGreaterThan(0);
    await expectAlive(target());
  });
});

/** The host:port oracle of a dashboard without a token: a loopback name, with a port or none. */
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;
const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) });

/** Whether `origin` is an http(s) origin at this dashboard's own host and port (the scheme is a proxy's business). */
function sameHost(origin: string, port: number): boolean {
  try {
    const url = new URL(origin);
    return /^https?:$/.test(url.protocol) && url.host === `127.0.0.1:${port}`;
  } catch {
    return false;
  }
}

describe("Host, Origin and Sec-Fetch-Site", () => {
  it(
    "a dashboard without a token answers only to loopback names (800 cases)",
    { timeout: FUZZ_TIMEOUT_MS },
    async () => {
      const { open } = target();
      const host = fc.oneof(
        fc.constantFrom("localhost", "LOCALHOST", "127.0.0.1", "[::1]", "127.0.0.2", "localhost.", "0.0.0.0", "[::]"),
        fc.constantFrom("attacker.example", "localhost.attacker.example", "127.0.0.1.nip.io", "[::ffff:127.0.0.1]"),
        fc.domain(),
        fc.ipV4(),
        printable,
      );
      const port = fc.oneof(
        fc.constant(""),
        fc.constant(`:${open.port}`),
        fc.nat(70_000).map((n) => `:${n}`),
      );
      await fc.assert(
        fc.asyncProperty(host, port, async (name, suffix) => {
          const reply = await get(open.port, "/api/runs", { Host: name + suffix });
          expect(reply.status, `Host: ${name}${suffix}`).toBe(LOOPBACK_HOST.test(name + suffix) ? 200 : 403);
        }),
        { numRuns: 800 },
      );
    },
  );

  it(
    "the API refuses another page's Origin and another site's requests, reads included (600 cases)",
    { timeout: FUZZ_TIMEOUT_MS },
    async () => {
      const { open, completedRunId } = target();
      const own = `http://127.0.0.1:${open.port}`;
      const origin = fc.oneof(
        fc.constantFrom(own, "null", `http://localhost:${open.port}`, `https://127.0.0.1:${open.port}`, "file://"),
        fc.constantFrom(`${own}.attacker.example`, `http://attacker.example`, `http://127.0.0.1:${open.port + 1}`),
        fc.webUrl(),
        printable,
      );
      const site = fc.constantFrom(undefined, "same-origin", "none", "same-site", "cross-site", "CROSS-SITE");
      const request = fc.constantFrom(
        { method: "GET", target: "/api/runs", ok: 200 },
        { method: "GET", target: "/api/stream", ok: 200 },
        // The run is final: an accepted cancel is refused as a conflict, and nothing changes.
        { method: "POST", target: `/api/runs/${completedRunId}/cancel`, ok: 409 },
      );
      await fc.assert(
        fc.asyncProperty(fc.option(origin), site, request, async (from, fetchSite, { method, target: at, ok }) => {
          const headers: Record<string, string> = { "Content-Type": "application/json" };
          if (from !== null) {
            headers.Origin = from;
          }
          if (fetchSite !== undefined) {
            headers["Sec-Fetch-Site"] = fetchSite;
          }
          const reply = await sendRaw(
            open.port,
            requestBytes(open.port, method, at, headers, method === "POST" ? "{}" : ""),
          );
          const allowed = (from === null || sameHost(from, open.port)) && !/^(same|cross)-site$/i.test(fetchSite ?? "");
          expect(reply.status, JSON.stringify(headers)).toBe(allowed ? ok : 403);
        }),
        { numRuns: 600 },
      );
      await expectAlive(target());
    },
  );

  it(
    "a dashboard with a token refuses every API request without it, whatever the Host (400 cases)",
    { timeout: FUZZ_TIMEOUT_MS },
    async () => {
      const { locked } = target();
      const authorization = fc.oneof(
        fc.constant(undefined),
        printable.map((t) => `Bearer ${t}`),
        fc.constantFrom(`Bearer ${TOKEN}x`, `Basic ${TOKEN}`, `bearer ${TOKEN.slice(1)}`, TOKEN),
      );
      const query = fc.oneof(
        fc.constant(""),
        printable.map((t) => `?token=${encodeURIComponent(t)}`),
      );
      await fc.assert(
        fc.asyncProperty(authorization, query, fc.domain(), async (auth, q, host) => {
          const reply = await get(locked.port, `/api/runs${q}`, {
            Host: host,
            ...(auth ? { Authorization: auth } : {}),
          });
          expect(reply.status).toBe(401);
        }),
        { numRuns: 400 },
      );
      expect((await get(locked.port, "/api/runs", { Authorization: `Bearer ${TOKEN}` })).status).toBe(200);
    },
  );
});

/** Percent-encoding of any string; a lone surrogate (which encodeURIComponent refuses) as its UTF-8 bytes would be. */
function encode(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return "%ED%A0%80";
  }
}

describe("paths and queries of the API", () => {
  it(
    "answer junk ids, names and parameters with a 4xx, NULs included (600 cases)",
    { timeout: FUZZ_TIMEOUT_MS },
    async () => {
      const { open, completedRunId } = target();
      const junk = fc.oneof(
        fc.string({ unit: "binary", maxLength: 20 }).map(encode),
        fc.constantFrom("%00", "a%00b", "%ED%A0%80", "%FF", "%", "9999999999999999999", "-1", "1e3", "%2e%2e"),
      );
      const route = fc.constantFrom(
        (j: string) => `/api/runs/${j}`,
        (j: string) => `/api/runs/${completedRunId}/tasks/${j}`,
        (j: string) => `/api/runs/${completedRunId}/tasks/fetch/${j}`,
        (j: string) => `/api/workflows/${j}`,
        (j: string) => `/api/runs?workflow=${j}&status=${j}`,
        (j: string) => `/api/runs?limit=${j}`,
        (j: string) => `/api/events?after=${j}`,
        (j: string) => `/api/events?runId=${j}&types=${j}`,
        (j: string) => `/api/runs/${completedRunId}/events?types=a:b,${j}`,
        (j: string) => `/api/stream?workflow=${j}`,
        (j: string) => `/api/stream?lastEventId=${j}`,
      );
      await fc.assert(
        fc.asyncProperty(junk, route, async (j, at) => {
          const reply = await get(open.port, at(j));
          expect(reply.status, `GET ${at(j)}: ${reply.body.slice(0, 200)}`).toBeGreaterThanOrEqual(200);
          expect(reply.status, `GET ${at(j)}: ${reply.body.slice(0, 200)}`).toBeLessThan(500);
          if (at(j).includes("%00") && reply.status !== 404) {
            expect(reply.status).toBe(400);
          }
        }),
        { numRuns: 600 },
      );
      await expectAlive(target());
    },
  );

  it("answers what node's parser refuses with a 4xx, not a dropped connection", async () => {
    const { open } = target();
    const port = open.port;
    const cases: [string, Buffer, number][] = [
      ["a NUL in the path", Buffer.from(`GET /a\0b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`, "latin1"), 400],
      ["a request target that is no URL", requestBytes(port, "GET", "http://[/x"), 400],
      ["a space in the path", Buffer.from(`GET /a b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`), 400],
      ["a header over 16 KiB", requestBytes(port, "GET", "/api/runs", { "X-Pad": "a".repeat(20_000) }), 431],
      ["a header name with a space", Buffer.from(`GET / HTTP/1.1\r\nBad Name: x\r\n\r\n`), 400],
      ["a line feed alone in a value", Buffer.from(`GET / HTTP/1.1\r\nX: a\rb\r\n\r\n`), 400],
      ["an HTTP/2 preface", Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 400],
      ["bytes that are not HTTP", Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01, 0x00, 0x00]), 400],
      ["two Content-Lengths", Buffer.from(`POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`), 400],
    ];
    for (const [what, bytes, status] of cases) {
      const reply = await sendRaw(port, bytes);
      expect(reply.status, what).toBe(status);
      expect(JSON.parse(reply.body).error.code, what).toMatch(/^[A-Z_]+$/);
    }
    await expectAlive(target());
  });
});
