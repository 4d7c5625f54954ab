/**
 * Bodies the dashboard's actions are sent, fuzzed over real sockets and real Postgres: junk JSON,
 * other content types, prototype keys, deep nesting, wrong types, sizes around the limit, and
 * bodies far over it, declared or streamed. Every case gets a 4xx; an oversized one a 413 before
 * it is read (declared) or as soon as the limit is passed (streamed), and the connection closes.
 */
import { connect } from "node:net";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FUZZ_TIMEOUT_MS, expectAlive, expectStoreUntouched, useDashboardTarget } from "./dashboard-fixture.js";
import { requestBytes, sendRaw } from "./raw-http.js";

const LIMIT = 16 * 1024;
const target = useDashboardTarget();
expectStoreUntouched(target);

const body = fc.oneof(
  fc.json(),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.jsonValue().map((v) => JSON.stringify({ reason: v })),
  fc.jsonValue().map((v) => JSON.stringify({ fromTask: v, reason: v })),
  fc.jsonValue().map((v) => JSON.stringify({ name: "approval", payload: v })),
  fc.jsonValue().map((v) => JSON.stringify({ name: v, graph: v })),
  fc.constantFrom(
    '{"__proto__":{"reason":"polluted"}}',
    '{"constructor":{"prototype":{"reason":"x"}}}',
    `{"reason":"${"r".repeat(501)}"}`,
    `{"reason":"${"x".repeat(LIMIT)}"}`,
    "[".repeat(LIMIT - 1),
    `${"[".repeat(5000)}${"]".repeat(5000)}`,
    "\u0000",
    "{}",
    '{"reason":"lunch"}',
  ),
);
const contentType = fc.constantFrom(
  "application/json",
  "application/json; charset=utf-8",
  "APPLICATION/JSON",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/json-patch+json",
  "",
);

describe("action bodies", () => {
  it(
    "get a 4xx, and change nothing of the final runs they aim at (1000 cases)",
    { timeout: FUZZ_TIMEOUT_MS },
    async () => {
      const { open, completedRunId, failedRunId } = target();
      const route = fc.constantFrom(
        `/api/runs/${completedRunId}/cancel`,
        `/api/runs/${completedRunId}/pause`,
        `/api/runs/${completedRunId}/resume`,
        `/api/runs/${failedRunId}/cancel`,
        `/api/runs/${failedRunId}/pause`,
        // A person's answers (docs/waits-and-flow-control.md): a final run takes no signal and has no plan to answer.
        `/api/runs/${completedRunId}/signal`,
        `/api/runs/${failedRunId}/signal`,
        `/api/runs/${completedRunId}/approve`,
        `/api/runs/${failedRunId}/reject`,
      );
      const statuses = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(route, body, contentType, async (at, text, type) => {
          const headers: Record<string, string> = type === "" ? {} : { "Content-Type": type };
          const reply = await sendRaw(open.port, requestBytes(open.port, "POST", at, headers, text));
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          expect([400, 409, 413, 415], `${type} ${JSON.stringify(text).slice(0, 120)}: ${reply.body}`).toContain(
            reply.status,
          );
        }),
        { numRuns: 1000 },
      );
      // Each refusal was met: a conflict (the run is final), a bad body, a too large one, another type.
      expect([...statuses.keys()].sort()).toEqual([400, 409, 413, 415]);
      await expectAlive(target());
    },
  );
});

/** Streams `total` bytes of chunked body after `head`, as fast as the socket takes them; resolves with what came back. */
function upload(port: number, head: Buffer, total: number): Promise<{ reply: string; sent: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const size = 64 * 1024;
    const chunk = Buffer.concat([
      Buffer.from(`${size.toString(16)}\r\n`),
      Buffer.alloc(size, "a"),
      Buffer.from("\r\n"),
    ]);
    let sent = 0;
    let reply = "";
    let closed = false;
    socket.on("data", (data: Buffer) => void (reply += data.toString("utf8")));
    socket.on("error", () => undefined); // the server hangs up mid-upload: that is the point
    socket.on("close", () => {
      closed = true;
      resolve({ reply, sent });
    });
    const pump = () => {
      while (!closed && sent < total) {
        sent += size;
        if (!socket.write(chunk)) {
          socket.once("drain", pump);
          return;
        }
      }
      if (!closed) {
        socket.end();
      }
    };
    socket.write(head, pump);
  });
}

describe("oversized bodies", () => {
  it("a Content-Length over the limit is refused with 413 before a byte of the body arrives", async () => {
    const { open, completedRunId } = target();
    for (const [method, at, length] of [
      ["POST", `/api/runs/${completedRunId}/cancel`, String(10 * 1024 ** 3)],
      ["POST", `/api/runs/${completedRunId}/retry`, String(LIMIT + 1)],
      ["GET", "/api/runs", "5"],
      ["GET", "/", "1"],
    ] as const) {
      const headers = { "Content-Type": "application/json", "Content-Length": length };
      // Only the headers are sent: an answer proves the server did not wait for the body.
      const reply = await sendRaw(open.port, requestBytes(open.port, method, at, headers));
      expect(reply.status, `${method} ${at} with Content-Length ${length}`).toBe(413);
      expect(reply.headers.connection).toBe("close");
      expect(JSON.parse(reply.body).error.code).toBe("BODY_TOO_LARGE");
    }
    await expectAlive(target());
  });

  it("a streamed body (chunked, no length) is cut off with 413 once past the limit, not read to its end", async () => {
    const { open, completedRunId } = target();
    const total = 256 * 1024 * 1024;
    const head = Buffer.from(
      `POST /api/runs/${completedRunId}/cancel HTTP/1.1\r\nHost: 127.0.0.1:${open.port}\r\n` +
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    const { reply, sent } = await upload(open.port, head, total);
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply).toContain('"code":"BODY_TOO_LARGE"');
    // The server closed the connection long before the client could send it all.
    expect(sent).toBeLessThan(total / 4);
    await expectAlive(target());
  });

  it("a client that hangs up mid-body is not reported as a server error", async () => {
    const { open, completedRunId, reported } = target();
    const head = requestBytes(open.port, "POST", `/api/runs/${completedRunId}/cancel`, {
      "Content-Type": "application/json",
      "Content-Length": "1000",
    });
    await new Promise<void>((resolve) => {
      const socket = connect(open.port, "127.0.0.1", () => {
        socket.write(Buffer.concat([head, Buffer.from('{"reason":"')]), () => setTimeout(() => socket.destroy(), 50));
      });
      socket.on("close", () => resolve());
    });
    await expectAlive(target());
    expect(reported).toEqual([]);
  });
});
