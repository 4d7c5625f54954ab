/**
 * The dashboard's event stream against hostile clients, over real sockets and real Postgres: a
 * fuzzed `Last-Event-ID` (and `?lastEventId=`) is a 400 or an exact replay of what follows it,
 * never a server error or a wrong replay; a flood of streams is capped at `maxStreams`, the extra
 * ones get 503, the server keeps answering, and closing streams frees their slots.
 */
import { connect, type Socket } from "node:net";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeEventCursor } from "../../src/notifications/cursor.js";
import type { HtdagEvent } from "../../src/index.js";
import { waitFor } from "../helpers/wait.js";
import { FUZZ_TIMEOUT_MS, expectAlive, expectStoreUntouched, useDashboardTarget } from "./dashboard-fixture.js";
import { get, requestBytes, sendRaw, type RawReply } from "./raw-http.js";

const MAX_STREAMS = 5;
const target = useDashboardTarget();
expectStoreUntouched(target);
let events: HtdagEvent[];
beforeAll(async () => {
  events = await target().orch.notifications.getRecentEvents({ runId: target().failedRunId, limit: 10_000 });
  expect(events.length).toBeGreaterThan(5);
});

const MAX_ID = 2n ** 63n - 1n;

/** The ids of the events a stream sent (the `data:` of its messages with an `id:`). */
function sentIds(reply: RawReply): string[] {
  return [...reply.body.matchAll(/^id: .*\ndata: (\{.*\})$/gm)].map((m) => (JSON.parse(m[1]!) as { id: string }).id);
}

describe("Last-Event-ID", () => {
  it(
    "is refused with a 400 unless it is an event id or a cursor; a valid one replays exactly what follows it (1000 cases)",
    { timeout: FUZZ_TIMEOUT_MS },
    async () => {
      const { open, failedRunId } = target();
      const ids = events.map((e) => e.id);
      const cursors = events.map((e) => e.cursor!);
      const mutate = (text: string, at: number, char: string) => text.slice(0, at) + char + text.slice(at + 1);
      const value = fc.oneof(
        fc.bigInt({ min: 0n, max: 2n ** 70n }).map(String),
        fc.constantFrom(...ids, "0", "007", String(MAX_ID), String(MAX_ID + 1n), "9".repeat(19), "9".repeat(20)),
        fc.constantFrom(...cursors),
        fc
          .tuple(fc.constantFrom(...cursors), fc.nat(120), fc.constantFrom(".", ":", ",", "9", "x", "", "-"))
          .map(([cursor, at, char]) => mutate(cursor, at % cursor.length, char)),
        fc.constantFrom("-1", "1.5", "0x10", "1e3", " 12", "12 ", "c1", "c1....", "c2.1...", "null", "undefined"),
        fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 }),
      );
      let replayed = 0;
      // A stream held open keeps the channel's LISTEN and registration up, as on a dashboard in use:
      // each case then costs its own subscription only.
      const keeper = await holdStream(open.port, "/api/stream?types=custom:keeper");
      expect(keeper.status).toBe(200);
      await fc.assert(
        fc.asyncProperty(value, fc.boolean(), async (lastEventId, asHeader) => {
          const at = `/api/stream?runId=${failedRunId}${asHeader ? "" : `&lastEventId=${encodeURIComponent(lastEventId)}`}`;
          const headers: Record<string, string> = asHeader ? { "Last-Event-ID": lastEventId } : {};
          const reply = await sendRaw(open.port, requestBytes(open.port, "GET", at, headers), {
            until: (text) => text.includes("event: ready"),
          });
          // Node trims a header's surrounding spaces; a query keeps them.
          const given = asHeader ? lastEventId.trim() : lastEventId;
          const plainId = /^\d{1,19}$/.test(given) && BigInt(given) <= MAX_ID;
          const valid = given === "" || plainId || decodeEventCursor(given) !== null;
          expect(reply.status, `Last-Event-ID ${JSON.stringify(lastEventId)}: ${reply.body.slice(0, 200)}`).toBe(
            valid ? 200 : 400,
          );
          if (plainId) {
            expect(sentIds(reply)).toEqual(ids.filter((id) => BigInt(id) > BigInt(given)));
            replayed += 1;
          } else if (cursors.includes(given)) {
            expect(sentIds(reply)).toEqual(ids.slice(cursors.indexOf(given) + 1));
            replayed += 1;
          } else if (valid) {
            // A cursor made up by the client: what it names, in order, each event once.
            const sent = sentIds(reply);
            expect(sent).toEqual(ids.filter((id) => sent.includes(id)));
          }
        }),
        { numRuns: 1000 },
      );
      keeper.socket.destroy();
      expect(replayed).toBeGreaterThan(100);
      await expectAlive(target());
    },
  );
});

/** A stream held open on a raw socket: its status once the headers arrived, and a way to hang up. */
async function holdStream(
  port: number,
  at = "/api/stream",
): Promise<{ status: number; socket: Socket; body: () => string }> {
  const socket = connect(port, "127.0.0.1");
  let text = "";
  const status = await new Promise<number>((resolve, reject) => {
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("utf8");
      const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (match && (text.includes("event: ready") || text.includes("\r\n\r\n{"))) {
        resolve(Number(match[1]));
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.write(requestBytes(port, "GET", at, { Connection: "keep-alive" }));
  });
  return { status, socket, body: () => text };
}

describe("a flood of event streams", () => {
  it(`is capped at maxStreams (${MAX_STREAMS} here, 100 by default); closing streams frees their slots`, async () => {
    const { orch, reported } = target();
    const open = await orch.dashboard({ port: 0, maxStreams: MAX_STREAMS, onError: (e) => void reported.push(e) });
    // 60 at once: exactly MAX_STREAMS get a stream, the others a 503 that says why and when to retry.
    const flood = await Promise.all(Array.from({ length: 60 }, () => holdStream(open.port)));
    const accepted = flood.filter((s) => s.status === 200);
    const refused = flood.filter((s) => s.status !== 200);
    expect(accepted).toHaveLength(MAX_STREAMS);
    expect(new Set(refused.map((s) => s.status))).toEqual(new Set([503]));
    expect(refused[0]!.body()).toMatch(/Retry-After: 5/i);
    expect(refused[0]!.body()).toContain('"code":"TOO_MANY_STREAMS"');
    // The rest of the API still answers, and so does the page.
    expect((await get(open.port, "/api/runs")).status).toBe(200);
    expect((await sendRaw(open.port, requestBytes(open.port, "GET", "/"))).status).toBe(200);
    // Two hang up: two slots free up, and no more than two.
    accepted[0]!.socket.destroy();
    accepted[1]!.socket.destroy();
    const again: Awaited<ReturnType<typeof holdStream>>[] = [];
    await waitFor(async () => {
      const attempt = await holdStream(open.port);
      if (attempt.status === 200) {
        again.push(attempt);
      }
      return again.length === 2;
    });
    expect((await holdStream(open.port)).status).toBe(503);
    for (const stream of [...accepted, ...again, ...refused]) {
      stream.socket.destroy();
    }
    // All closed: the whole capacity is back.
    await waitFor(async () => {
      const all = await Promise.all(Array.from({ length: MAX_STREAMS }, () => holdStream(open.port)));
      for (const stream of all) {
        stream.socket.destroy();
      }
      return all.every((s) => s.status === 200);
    });
    expect((await get(open.port, "/api/runs")).status).toBe(200);
    await open.close();
  });
});
