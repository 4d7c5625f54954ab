import { Command } from "commander";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createOrchestrator,
  InvalidOptionError,
  validateGraph,
  type Orchestrator,
  type Steps,
} from "../../src/index.js";
import { registerEvents } from "../../src/cli/commands/events.js";
import type { HtdagEvent } from "../../src/notifications/catalogue.js";
import { createLiveEmitter } from "../../src/notifications/emitter.js";
import { EventHandlerError } from "../../src/notifications/errors.js";
import { createNotifications, type Notifications } from "../../src/notifications/service.js";
import { chain, diamond, startExternalListener } from "../helpers/events.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor as waitUntil } from "../helpers/wait.js";

/** Waits on state (every 5 ms), never on sleep; `what` names it in the timeout error. */
const waitFor = (predicate: () => boolean | Promise<boolean>, what: string) => waitUntil(predicate, 10_000, what);

const steps: Steps = { work: async () => null };
const ids = (events: HtdagEvent[]) => events.map((e) => e.id);

describe.each(STORES)("notifications on %s", (kind) => {
  const orch = useOrchestrator(kind);
  let notifications: Notifications;
  let errors: unknown[];

  beforeEach(() => {
    errors = [];
    notifications = createNotifications({
      db: orch().db,
      schema: orch().options.schema,
      channel: orch().options.channel,
      onError: (e) => errors.push(e),
    });
  });
  afterEach(async () => {
    await notifications.close();
  });

  it("delivers every event of a run once, in id order, with the ids getRecentEvents returns", async () => {
    const received: HtdagEvent[] = [];
    await notifications.listen({ workflow: "delivery" }, (event) => void received.push(event));
    const run = await orch().composeFromTaskGraph(diamond("deliver"), steps, { workflow: "delivery" });
    await waitFor(() => received.some((e) => e.type === "execution:completed"), "execution:completed");
    const stored = await notifications.getRecentEvents({ runId: run.runId, limit: 1000 });
    expect(ids(received)).toEqual(ids(stored));
    const at = (type: string, taskId: string | null = null) =>
      received.findIndex((e) => e.type === type && e.taskId === taskId);
    expect(at("execution:started")).toBe(0);
    expect(at("execution:completed")).toBe(received.length - 1);
    for (const task of ["a", "b", "c", "d"]) {
      expect(at("task:started", task)).toBeLessThan(at("task:completed", task));
    }
    expect(at("task:started", "d")).toBeGreaterThan(Math.max(at("task:completed", "b"), at("task:completed", "c")));
    expect(
      received
        .filter((e) => e.type === "task:completed")
        .map((e) => e.taskId)
        .sort(),
    ).toEqual(["a", "b", "c", "d"]);
    expect(received[0]).toMatchObject({
      type: "execution:started",
      runId: run.runId,
      workflow: "delivery",
      payload: { tasks: 4 },
    });
    expect(errors).toEqual([]);
  });

  it("delivers through `for await` and ends the loop on close", async () => {
    const sub = await notifications.listen({ types: ["custom:ping"] });
    const sent = [
      await notifications.sendWithNotify("htdag_events", { type: "custom:ping", payload: { n: 1 } }),
      await notifications.sendWithNotify("htdag_events", { type: "custom:ping", payload: { n: 2 } }),
    ];
    const seen: HtdagEvent[] = [];
    for await (const event of sub) {
      seen.push(event);
      if (seen.length === 2) {
        await sub.close();
      }
    }
    expect(seen.map((e) => [e.id, e.type, e.payload])).toEqual([
      [sent[0], "custom:ping", { n: 1 }],
      [sent[1], "custom:ping", { n: 2 }],
    ]);
  });

  it("filters deliver only the run, workflow and types they name", async () => {
    const byRun: HtdagEvent[] = [];
    const byType: HtdagEvent[] = [];
    const byWorkflow: HtdagEvent[] = [];
    await notifications.listen({ types: ["task:completed", "execution:completed"] }, (e) => void byType.push(e));
    await notifications.listen({ workflow: "filter_b" }, (e) => void byWorkflow.push(e));
    const first = await orch().composeFromTaskGraph(diamond("filter a"), steps, { workflow: "filter_a" });
    const runSub = await notifications.listen({ runId: first.runId, afterEventId: "0" }, (e) => void byRun.push(e));
    const second = await orch().composeFromTaskGraph(chain("filter b", 2), steps, { workflow: "filter_b" });
    await waitFor(() => byWorkflow.some((e) => e.type === "execution:completed"), "run b's completion");
    await waitFor(() => byType.filter((e) => e.type === "execution:completed").length === 2, "both completions");
    await waitFor(() => byRun.some((e) => e.type === "execution:completed"), "run a's replay");
    expect(ids(byRun)).toEqual(ids(await notifications.getRecentEvents({ runId: first.runId })));
    expect(ids(byWorkflow)).toEqual(ids(await notifications.getRecentEvents({ runId: second.runId })));
    const completions = await notifications.getRecentEvents({
      types: ["task:completed", "execution:completed"],
      limit: 1000,
    });
    expect(ids(byType)).toEqual(ids(completions.filter((e) => e.runId === first.runId || e.runId === second.runId)));
    expect(byType.filter((e) => e.type === "task:completed")).toHaveLength(6);
    await runSub.close();
  });

  it("keeps delivering when a handler throws, and reports each throw", async () => {
    const received: string[] = [];
    await notifications.listen({ types: ["custom:tick"] }, (event) => {
      received.push(event.id);
      if (received.length % 2 === 1) {
        throw new Error(`handler broke on ${event.id}`);
      }
    });
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      sent.push(await notifications.sendWithNotify("htdag_events", { type: "custom:tick", payload: { i } }));
    }
    await waitFor(() => received.length === 5, "five ticks");
    expect(received).toEqual(sent);
    expect(errors).toHaveLength(3);
    expect(errors.every((e) => e instanceof EventHandlerError)).toBe(true);
    expect((errors as EventHandlerError[]).map((e) => e.eventId)).toEqual([sent[0], sent[2], sent[4]]);
    expect(String((errors[0] as Error).message)).toMatch(/threw on event \d+ \(custom:tick\): handler broke/);
  });

  it("replays from afterEventId, then continues live", async () => {
    const first = await notifications.sendWithNotify("htdag_events", { type: "custom:replay", payload: { n: 1 } });
    const second = await notifications.sendWithNotify("htdag_events", { type: "custom:replay", payload: { n: 2 } });
    const received: string[] = [];
    await notifications.listen({ types: ["custom:replay"], afterEventId: first }, (e) => void received.push(e.id));
    expect(received).toEqual([second]);
    const third = await notifications.sendWithNotify("htdag_events", { type: "custom:replay", payload: { n: 3 } });
    await waitFor(() => received.length === 2, "the live event");
    expect(received).toEqual([second, third]);
  });

  it("catches up a backlog larger than one read, in id order", async () => {
    const before = await notifications.sendWithNotify("htdag_events", { type: "custom:mark" });
    await orch().db.query(`INSERT INTO htdag.events (type, channel, payload)
      SELECT 'custom:bulk', 'htdag_events', jsonb_build_object('n', g) FROM generate_series(1, 1200) g`);
    const received: HtdagEvent[] = [];
    await notifications.listen({ types: ["custom:bulk"], afterEventId: before }, (e) => void received.push(e));
    expect(received.map((e) => e.payload.n)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
  });

  it("refuses channel names that are not identifiers, and event types that are not noun:verb", async () => {
    await expect(notifications.listen({ channel: "bad-channel" })).rejects.toThrow(InvalidOptionError);
    await expect(notifications.listen({ channel: "Robert'); DROP TABLE runs;--" })).rejects.toThrow(
      /option `channel`.*lower-case SQL identifier/,
    );
    await expect(notifications.sendWithNotify("no space", { type: "custom:x" })).rejects.toThrow(
      /option `channel`.*received the string "no space"/,
    );
    expect(() => createNotifications({ db: orch().db, channel: "1abc" })).toThrow(/option `channel`/);
    await expect(notifications.sendWithNotify("htdag_events", { type: "deployed" })).rejects.toThrow(
      /option `type`.*noun:verb.*"deployed"/,
    );
    await expect(
      notifications.sendWithNotify("htdag_events", { type: "task:completed", payload: { status: "nope" } }),
    ).rejects.toThrow(/option `payload`.*task:completed/);
    await expect(notifications.listen({ types: ["Task Completed"] })).rejects.toThrow(/option `types.0`/);
  });

  it("feeds a typed in-process emitter, started by its first listener", async () => {
    const live = createLiveEmitter(notifications, { onError: (e) => errors.push(e) });
    const completed: string[] = [];
    live.emitter.on("task:completed", (event) => {
      completed.push(`${event.taskId}:${event.payload.status}`);
      throw new Error("a listener that throws");
    });
    live.emitter.on("task:completed", (event) => void completed.push(`second:${event.taskId}`));
    await live.ready();
    await orch().composeFromTaskGraph(chain("emitted", 2), steps, { workflow: "emitted" });
    await waitFor(() => completed.length === 4, "two task:completed events for each listener");
    expect(completed).toEqual(["t0:completed", "second:t0", "t1:completed", "second:t1"]);
    expect(errors.map((e) => (e as Error).message)).toEqual([
      expect.stringMatching(/a listener of task:completed threw .*a listener that throws/),
      expect.stringMatching(/a listener of task:completed threw/),
    ]);
    await live.close();
  });

  it("prunes events older than the given age", async () => {
    const old = await notifications.sendWithNotify("htdag_events", { type: "custom:old" });
    const fresh = await notifications.sendWithNotify("htdag_events", { type: "custom:old" });
    await orch().db.query(`UPDATE htdag.events SET created_at = now() - interval '2 days' WHERE id <= $1`, [old]);
    const deleted = await notifications.prune({ olderThanMs: 86_400_000 });
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(ids(await notifications.getRecentEvents({ types: ["custom:old"] }))).toEqual([fresh]);
    expect(await notifications.getRecentEvents({ afterEventId: "0", limit: 10_000 })).toSatisfy((all: HtdagEvent[]) =>
      all.every((e) => BigInt(e.id) > BigInt(old)),
    );
  });

  it("stores events without NOTIFY when realTimeNotifications is false; subscribers poll them", async () => {
    const quiet = createNotifications({ db: orch().db, realTimeNotifications: false, onError: (e) => errors.push(e) });
    const notified: string[] = [];
    const raw = await orch().db.listen("quiet_channel", {
      onNotify: (payload) => notified.push(String((JSON.parse(payload) as { id: number }).id)),
    });
    const polled: string[] = [];
    await quiet.listen({ channel: "quiet_channel", pollIntervalMs: 20 }, (e) => void polled.push(e.id));
    const stored = await quiet.sendWithNotify("quiet_channel", { type: "custom:quiet" });
    const loud = await notifications.sendWithNotify("quiet_channel", { type: "custom:loud" });
    await waitFor(() => notified.includes(loud) && polled.length === 2, "the loud NOTIFY and both polled rows");
    expect(notified).toEqual([loud]);
    expect(polled).toEqual([stored, loud]);
    await raw.close();
    await quiet.close();
  });
});

describe("notifications on postgres, across connections and processes", () => {
  let url: string;
  let drop: () => Promise<void>;
  let orch: Orchestrator;
  let notifications: Notifications;
  let errors: unknown[];

  beforeAll(async () => {
    ({ url, drop } = await createTestDatabase());
    orch = await createOrchestrator({ database: url });
  });
  afterAll(async () => {
    await orch.close();
    await drop();
  });
  beforeEach(() => {
    errors = [];
    notifications = createNotifications({ db: orch.db, onError: (e) => errors.push(e) });
  });
  afterEach(async () => {
    await notifications.close();
  });

  it("a plain LISTEN in another process receives every event of a run, in commit order", async () => {
    const external = await startExternalListener(url, "htdag_events");
    try {
      const run = await orch.composeFromTaskGraph(diamond("external"), steps, { workflow: "external" });
      await waitFor(
        () => external.payloads.some((p) => p.runId === run.runId && p.type === "execution:completed"),
        "the run's last NOTIFY",
      );
      const stored = await notifications.getRecentEvents({ runId: run.runId, limit: 1000 });
      expect(external.payloads.filter((p) => p.runId === run.runId).map((p) => [p.id, p.type])).toEqual(
        stored.map((e) => [e.id, e.type]),
      );
      expect(stored).toHaveLength(10);
    } finally {
      await external.stop();
    }
  });

  it('realTimeNotifications "on-demand" NOTIFYs wake-ups, and the rest only while a subscriber or a waiter registers', async () => {
    const external = await startExternalListener(url, "htdag_events");
    const quiet = await createOrchestrator({ database: url, migrate: false, realTimeNotifications: "on-demand" });
    const registered = async () =>
      (await orch.db.query<{ n: number }>("SELECT count(*)::int AS n FROM htdag.listeners")).rows[0]!.n;
    try {
      // Nobody subscribes: a worker's wake-ups only (the run started; no task waits on another).
      const worker = await quiet.startWorker({ workflows: { demand: { go: async () => null } } });
      const graph = (goal: string) => validateGraph({ goal, tasks: [{ id: "go", step: "go" }] });
      const alone = await quiet.submit(graph("alone"), { workflow: "demand" });
      await waitFor(
        async () => (await quiet.getRun(alone.runId))?.status === "completed",
        "the run completed (seen by polling)",
      );
      const typesOf = (runId: string) => external.payloads.filter((p) => p.runId === runId).map((p) => p.type);
      expect(typesOf(alone.runId)).toEqual(["execution:started"]);
      // waitForRun registers for the run's execution events while it waits, and withdraws after.
      const waited = await quiet.submit(graph("waited"), { workflow: "demand", runAt: new Date(Date.now() + 300) });
      expect((await quiet.waitForRun(waited.runId, { timeoutMs: 10_000 })).status).toBe("completed");
      await waitFor(() => typesOf(waited.runId).includes("execution:completed"), "the waited run's final NOTIFY");
      expect(typesOf(waited.runId)).toEqual(["execution:started", "execution:completed"]);
      expect(await registered()).toBe(0);
      // A subscription registers for every event, and gets each one; its stored rows are the truth either way.
      const seen: string[] = [];
      const sub = await quiet.notifications.listen({ workflow: "demand" }, (e) => void seen.push(e.type));
      expect(await registered()).toBe(1);
      const followed = await quiet.submit(graph("followed"), { workflow: "demand" });
      await waitFor(() => seen.includes("execution:completed"), "the subscription's last event");
      expect(seen).toEqual(["execution:started", "task:started", "task:completed", "execution:completed"]);
      await waitFor(() => typesOf(followed.runId).length === 4, "every event NOTIFYed");
      await sub.close();
      expect(await registered()).toBe(0);
      await worker.stop();
      const stored = await quiet.notifications.getRecentEvents({ runId: alone.runId });
      expect(stored.map((e) => e.type)).toEqual([
        "execution:started",
        "task:started",
        "task:completed",
        "execution:completed",
      ]);
    } finally {
      await quiet.close();
      await external.stop();
    }
  });

  it("delivers an event that commits after an event with a higher id", async () => {
    const received: string[] = [];
    await notifications.listen({ types: ["custom:late", "custom:early"] }, (e) => void received.push(e.id));
    const slow = new pg.Client({ connectionString: url });
    await slow.connect();
    try {
      await slow.query("BEGIN");
      const { rows } = await slow.query<{ id: string }>(
        `SELECT htdag.emit('htdag_events', 'custom:late', NULL, NULL, NULL, '{}')::text AS id`,
      );
      const late = rows[0]!.id;
      const early = await notifications.sendWithNotify("htdag_events", { type: "custom:early" });
      expect(BigInt(early)).toBeGreaterThan(BigInt(late));
      await waitFor(() => received.includes(early), "the committed higher id");
      await slow.query("COMMIT");
      await waitFor(() => received.includes(late), "the lower id committed later");
      const after = await notifications.sendWithNotify("htdag_events", { type: "custom:early" });
      await waitFor(() => received.includes(after), "one more event");
      expect(received).toEqual([early, late, after]);
    } finally {
      await slow.end();
    }
  });

  it("a subscriber whose connection is killed gets every event exactly once after it reconnects", async () => {
    const received: HtdagEvent[] = [];
    await notifications.listen({ workflow: "killed" }, (e) => void received.push(e));
    const listenerPids = async () =>
      (
        await orch.db.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
        )
      ).rows.map((r) => r.pid);
    const t5 = gate();
    const gated: Steps = { work: async (ctx) => (ctx.task.id === "t5" ? t5.promise.then(() => null) : null) };
    const running = orch.composeFromTaskGraph(chain("killed", 20), gated, { workflow: "killed" });
    const killed = await (async () => {
      try {
        await waitFor(() => received.some((e) => e.type === "task:started" && e.taskId === "t5"), "t5 to start");
        const pids = await listenerPids();
        expect(pids).toHaveLength(1);
        await orch.db.query("SELECT pg_terminate_backend($1)", [pids[0]]);
        // Sent at once, while the subscriber is still reconnecting: their NOTIFYs reach nobody, and the
        // run waits on the gate, so only the catch-up after the reconnect can deliver them.
        for (let i = 0; i < 3; i++) {
          await notifications.sendWithNotify("htdag_events", {
            type: "custom:during",
            workflow: "killed",
            payload: { i },
          });
        }
        await waitFor(
          () => received.filter((e) => e.type === "custom:during").length === 3,
          "the events sent while disconnected",
        );
        return pids[0];
      } finally {
        t5.open(); // also when an expectation failed: a run left waiting would hold orch.close()
      }
    })();
    expect((await running).status).toBe("completed");
    const stored = await notifications.getRecentEvents({ workflow: "killed", limit: 1000 });
    await waitFor(() => received.length >= stored.length, `${stored.length} events`);
    expect(ids(received)).toEqual(ids(stored));
    expect(stored.filter((e) => e.type === "task:completed")).toHaveLength(20);
    const [reconnected, ...others] = await listenerPids();
    expect(others).toEqual([]);
    expect(reconnected).not.toBe(killed);
    expect(errors.map((e) => (e as { code?: string }).code)).toContain("LISTEN_CONNECTION_LOST");
  });

  it("htdag events prints stored events, follows new ones, and prunes old ones", async () => {
    const lines: string[] = [];
    /** Waiters on the count of printed lines: the test waits on output, not on time or on pg_stat_activity. */
    const waiters: { count: number; resolve: () => void }[] = [];
    const printed = (count: number) =>
      new Promise<void>((resolve) => {
        waiters.push({ count, resolve });
        settle();
      });
    const settle = () => {
      for (const waiter of waiters.filter((w) => lines.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    };
    const push = (line: string) => {
      lines.push(line);
      settle();
    };
    const cli = (stop?: AbortSignal) => {
      const program = new Command("htdag").option("--database <url>").option("--schema <name>").exitOverride();
      registerEvents(program, { out: push, err: (line) => push(`ERR ${line}`) }, stop ? { stop } : {});
      return program;
    };
    const run = await orch.composeFromTaskGraph(chain("cli", 1), steps, { workflow: "cli" });
    await cli().parseAsync([
      "node",
      "htdag",
      "--database",
      url,
      "events",
      "--run",
      run.runId,
      "--type",
      "task:completed",
      "execution:completed",
    ]);
    expect(lines).toEqual([
      expect.stringMatching(new RegExp(`^\\S+Z task:completed run=${run.runId} task=t0 status=completed$`)),
      expect.stringMatching(new RegExp(`^\\S+Z execution:completed run=${run.runId} durationMs=`)),
    ]);
    lines.length = 0;
    // --follow subscribes before it prints the stored events: once the stored one is printed, the
    // follower is listening (a LISTEN seen in pg_stat_activity could be another test's closing one).
    const stored = await notifications.sendWithNotify("htdag_events", { type: "custom:cli", payload: { n: 0 } });
    const stop = new AbortController();
    const following = cli(stop.signal).parseAsync([
      "node",
      "htdag",
      "--database",
      url,
      "events",
      "--follow",
      "--json",
      "--limit",
      "1",
      "--type",
      "custom:cli",
    ]);
    // Whichever ends first: the follower failing must fail the test at once, not after a timeout.
    await Promise.race([printed(1), following]);
    const sent = await notifications.sendWithNotify("htdag_events", { type: "custom:cli", payload: { n: 1 } });
    await Promise.race([printed(2), following]);
    stop.abort();
    await following;
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      expect.objectContaining({ id: stored, type: "custom:cli", payload: { n: 0 } }),
      expect.objectContaining({ id: sent, type: "custom:cli", payload: { n: 1 } }),
    ]);
    await orch.db.query(`UPDATE htdag.events SET created_at = now() - interval '31 days' WHERE id <= $1`, [sent]);
    await cli().parseAsync(["node", "htdag", "--database", url, "events", "prune", "--older-than", "30d"]);
    expect(lines[2]).toMatch(/^deleted [1-9]\d* event\(s\) older than 30d$/);
    expect(await notifications.getRecentEvents({ limit: 10 })).toEqual([]);
  });
});
