/**
 * Schedules (docs/waits-and-flow-control.md, "Schedules"): stored, listed and removed with typed
 * errors; fired by every running worker, once per tick across the cluster (Postgres: two
 * orchestrators on one database, each with a worker; PGlite: two workers of one orchestrator);
 * missed ticks fire once, the latest; overlap "skip"; a schedule that cannot fire is reported.
 */
import { Cron } from "croner";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import type { Worker } from "../../src/composer/worker.js";
import { GraphValidationError, InvalidOptionError, ScheduleFireError, validateGraph } from "../../src/index.js";
import type { Steps } from "../../src/index.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { STORES, type StoreKind } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

const graph = validateGraph({ goal: "scheduled work", tasks: [{ id: "work", step: "work" }] });
const steps: Steps = { work: async (ctx) => ({ input: ctx.runInput ?? null }) };

interface FiredEvent {
  runId: string | null;
  schedule: string;
  tick: string;
  skipped: boolean;
  rowRunId: string | null;
}

/** The schedule:fired events of `schedule`, in the order they were written. */
async function firedEvents(orch: Orchestrator, schedule: string): Promise<FiredEvent[]> {
  const { rows } = await orch.db.query<{ payload: Omit<FiredEvent, "rowRunId">; run_id: string | null }>(
    `SELECT payload, run_id FROM htdag.events WHERE type = 'schedule:fired' AND payload->>'schedule' = $1 ORDER BY id`,
    [schedule],
  );
  return rows.map((row) => ({ ...row.payload, rowRunId: row.run_id }));
}

/** The runs a schedule started: id, idempotency key and status, oldest first. */
async function scheduledRuns(orch: Orchestrator, schedule: string) {
  const { rows } = await orch.db.query<{ id: string; idempotency_key: string; status: string }>(
    `SELECT id, idempotency_key, status FROM htdag.runs WHERE idempotency_key LIKE $1 ORDER BY created_at`,
    [`schedule:${schedule}:%`],
  );
  return rows;
}

describe.each(STORES)("schedules on %s", (kind: StoreKind) => {
  // Postgres: two orchestrators on one database (two "processes"); PGlite: one, holding both workers.
  let first: Orchestrator;
  let second: Orchestrator;
  let drop: (() => Promise<void>) | undefined;
  const errors: unknown[] = [];
  beforeAll(async () => {
    const onError = (error: unknown) => errors.push(error);
    if (kind === "postgres") {
      const database = await createTestDatabase();
      drop = database.drop;
      first = await createOrchestrator({ database: database.url, onError });
      second = await createOrchestrator({ database: database.url, onError });
    } else {
      first = await createOrchestrator({ database: "memory://", onError });
      second = first;
    }
  });
  afterAll(async () => {
    await first?.close();
    if (second !== first) {
      await second?.close();
    }
    await drop?.();
  });

  /** One worker on each orchestrator (two on PGlite's one), all running `workflow`. */
  async function twoWorkers(workflow: string, workflowSteps: Steps = steps): Promise<Worker[]> {
    return Promise.all(
      [first, second].map((orch) =>
        orch.startWorker({ workflows: { [workflow]: workflowSteps }, pollIntervalMs: 500 }),
      ),
    );
  }

  it("stores, lists, replaces and removes schedules; a time zone sets the next tick", async () => {
    const stored = await first.schedule("nightly-audit", {
      cron: "0 2 * * *",
      timezone: "Europe/Berlin",
      workflow: "audit",
      graph,
      input: { scope: "all" },
      overlap: "skip",
    });
    const expected = new Cron("0 2 * * *", { timezone: "Europe/Berlin" }).nextRun()!;
    expect(stored).toMatchObject({
      name: "nightly-audit",
      cron: "0 2 * * *",
      timezone: "Europe/Berlin",
      workflow: "audit",
      overlap: "skip",
      nextTickAt: expected.toISOString(),
      lastTickAt: null,
      lastRunId: null,
    });
    // 02:00 in Berlin is 00:00 or 01:00 UTC (summer or winter time), never 02:00 UTC.
    expect([0, 1]).toContain(new Date(stored.nextTickAt).getUTCHours());
    const hourly = await second.schedule("hourly", { cron: "0 * * * *", workflow: "audit", graph });
    expect(hourly).toMatchObject({ timezone: "UTC", overlap: "allow" });
    expect((await first.listSchedules()).map((s) => s.name)).toEqual(["hourly", "nightly-audit"]);
    const replaced = await first.schedule("hourly", { cron: "30 * * * *", workflow: "other", graph });
    expect(replaced).toMatchObject({ cron: "30 * * * *", workflow: "other" });
    expect(new Date(replaced.nextTickAt).getUTCMinutes()).toBe(30);
    expect(await first.unschedule("hourly")).toBe(true);
    expect(await first.unschedule("hourly")).toBe(false);
    expect(await second.unschedule("nightly-audit")).toBe(true);
    expect(await second.listSchedules()).toEqual([]);
  });

  it("refuses a bad cron, time zone, graph, overlap or name with typed errors", async () => {
    const base = { cron: "* * * * *", workflow: "audit", graph };
    const optionOf = (promise: Promise<unknown>) =>
      promise.then(
        () => null,
        (error: unknown) => (error instanceof InvalidOptionError ? error.option : error),
      );
    await expect(first.schedule("bad", { ...base, cron: "every day" })).rejects.toThrow(
      /invalid option `cron` in schedule: expected a cron expression of 5 fields .* e\.g\. "0 2 \* \* \*"/,
    );
    expect(await optionOf(first.schedule("bad", { ...base, cron: "61 * * * *" }))).toBe("cron");
    expect(await optionOf(first.schedule("bad", { ...base, cron: "0 0 30 2 *" }))).toBe("cron");
    expect(await optionOf(first.schedule("bad", { ...base, cron: "* * * * * * *" }))).toBe("cron");
    await expect(first.schedule("bad", { ...base, timezone: "Mars/Olympus" })).rejects.toThrow(
      /invalid option `timezone` in schedule: expected an IANA time zone such as "Europe\/Berlin"/,
    );
    await expect(
      first.schedule("bad", { ...base, graph: { goal: "g", tasks: [{ id: "a", dependsOn: ["missing"] }] } }),
    ).rejects.toBeInstanceOf(GraphValidationError);
    expect(await optionOf(first.schedule("bad", { ...base, overlap: "queue" as never }))).toBe("overlap");
    expect(await optionOf(first.schedule("bad name!", base))).toBe("name");
    expect(await optionOf(first.schedule("bad", { ...base, workflow: "" }))).toBe("workflow");
    expect(await first.listSchedules()).toEqual([]);
  });

  it("a seconds cron fired by two workers makes exactly one run per tick, and the runs complete", async () => {
    await first.schedule("every-second", { cron: "* * * * * *", workflow: "ticking", graph, input: { n: 1 } });
    const workers = await twoWorkers("ticking");
    try {
      await waitFor(async () => (await firedEvents(first, "every-second")).length >= 3, 8_000, "three ticks");
    } finally {
      // Stopped before the schedule is removed: a tick being fired is fired to its end.
      await Promise.all(workers.map((worker) => worker.stop()));
    }
    expect(await first.unschedule("every-second")).toBe(true);
    const events = await firedEvents(first, "every-second");
    const runs = await scheduledRuns(first, "every-second");
    // One event per tick, one run per event (none made without its event), ticks one second apart.
    expect(events.every((event) => !event.skipped && event.runId !== null && event.rowRunId === event.runId)).toBe(
      true,
    );
    const ticks = events.map((event) => event.tick);
    expect(new Set(ticks).size).toBe(ticks.length);
    for (let i = 1; i < ticks.length; i++) {
      expect(Date.parse(ticks[i]!) - Date.parse(ticks[i - 1]!)).toBe(1000);
    }
    expect(runs.map((run) => run.idempotency_key)).toEqual(ticks.map((tick) => `schedule:every-second:${tick}`));
    expect(runs.map((run) => run.id)).toEqual(events.map((event) => event.runId));
    // The runs complete (under a new worker: the schedule's are stopped).
    const finisher = await first.startWorker({ workflows: { ticking: steps } });
    try {
      for (const run of runs) {
        const result = await first.waitForRun(run.id, { timeoutMs: 10_000 });
        expect(result.status).toBe("completed");
        expect(result.outputs.work).toEqual({ input: { n: 1 } });
      }
    } finally {
      await finisher.stop();
    }
    expect(errors).toEqual([]);
  });

  it("missed ticks fire once, the latest", async () => {
    await first.schedule("hourly-missed", { cron: "0 * * * *", workflow: "catching_up", graph });
    // Five ticks missed while no worker ran.
    await first.db.query(
      `UPDATE htdag.schedules SET next_tick_at = date_trunc('hour', now()) - interval '5 hours' WHERE name = $1`,
      ["hourly-missed"],
    );
    const cron = new Cron("0 * * * *", { timezone: "UTC" });
    const latest = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    const worker = await first.startWorker({ workflows: { catching_up: steps } });
    try {
      await waitFor(async () => (await firedEvents(first, "hourly-missed")).length >= 1, 8_000, "the missed tick");
      const [event] = await firedEvents(first, "hourly-missed");
      expect(event).toMatchObject({ tick: latest.toISOString(), skipped: false });
      expect((await first.waitForRun(event!.runId!, { timeoutMs: 10_000 })).status).toBe("completed");
      const [info] = await first.listSchedules();
      expect(info).toMatchObject({
        name: "hourly-missed",
        lastTickAt: latest.toISOString(),
        lastRunId: event!.runId,
        nextTickAt: cron.nextRun(latest)!.toISOString(),
      });
    } finally {
      await worker.stop();
    }
    expect(await firedEvents(first, "hourly-missed")).toHaveLength(1);
    expect(await scheduledRuns(first, "hourly-missed")).toHaveLength(1);
    await first.unschedule("hourly-missed");
  });

  it("a tick pinned by a worker that died after its submit is finished by the next, with the same run", async () => {
    await first.schedule("recovered", { cron: "0 * * * *", workflow: "recovering", graph });
    // The dead worker read the tick of two hours ago as due an hour ago, pinned that hour, submitted its run.
    const { rows } = await first.db.query<{ pinned: Date }>(
      `UPDATE htdag.schedules SET next_tick_at = date_trunc('hour', now()) - interval '2 hours',
              firing_tick = date_trunc('hour', now()) - interval '1 hour'
        WHERE name = 'recovered' RETURNING firing_tick AS pinned`,
    );
    const pinned = rows[0]!.pinned.toISOString();
    const { runId } = await first.submit(graph, {
      workflow: "recovering",
      idempotencyKey: `schedule:recovered:${pinned}`,
    });
    const worker = await second.startWorker({ workflows: { recovering: steps } });
    try {
      await waitFor(async () => (await firedEvents(first, "recovered")).length >= 1, 8_000, "the pinned tick");
      expect((await first.waitForRun(runId, { timeoutMs: 10_000 })).status).toBe("completed");
    } finally {
      await worker.stop();
    }
    expect(await firedEvents(first, "recovered")).toEqual([
      { schedule: "recovered", tick: pinned, runId, skipped: false, rowRunId: runId },
    ]);
    expect((await scheduledRuns(first, "recovered")).map((run) => run.id)).toEqual([runId]);
    const [info] = await first.listSchedules();
    expect(info).toMatchObject({ name: "recovered", lastTickAt: pinned, lastRunId: runId });
    expect(Date.parse(info!.nextTickAt)).toBeGreaterThan(Date.now());
    await first.unschedule("recovered");
  });

  it('overlap "skip" skips a tick while the previous run is not final', async () => {
    const release = gate();
    const started = gate();
    const slow: Steps = {
      work: async () => {
        started.open();
        await release.promise;
        return "done";
      },
    };
    await first.schedule("no-overlap", { cron: "* * * * * *", workflow: "slow", graph, overlap: "skip" });
    const workers = await twoWorkers("slow", slow);
    let runs;
    try {
      await started.promise;
      await waitFor(
        async () => (await firedEvents(first, "no-overlap")).some((event) => event.skipped),
        8_000,
        "a skipped tick",
      );
      // Skipped ticks started nothing: still the one run, running.
      runs = await scheduledRuns(first, "no-overlap");
      expect(runs).toHaveLength(1);
      expect(runs[0]!.status).toBe("running");
      release.open();
      await first.waitForRun(runs[0]!.id, { timeoutMs: 10_000 });
      // With the run final, the next tick starts a run again.
      await waitFor(async () => (await scheduledRuns(first, "no-overlap")).length >= 2, 8_000, "a tick after the run");
    } finally {
      release.open();
      await Promise.all(workers.map((worker) => worker.stop()));
    }
    await first.unschedule("no-overlap");
    const events = await firedEvents(first, "no-overlap");
    const skipped = events.filter((event) => event.skipped);
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    expect(skipped.every((event) => event.runId === null && event.rowRunId === null)).toBe(true);
    expect(events[0]).toMatchObject({ skipped: false, runId: runs[0]!.id });
    // Each event that started a run names it; no run without one.
    const started_ = events.filter((event) => !event.skipped).map((event) => event.runId);
    expect((await scheduledRuns(first, "no-overlap")).map((run) => run.id)).toEqual(started_);
  });

  it("a schedule whose graph does not validate any more is reported, and the others still fire", async () => {
    await first.schedule("broken", { cron: "* * * * * *", workflow: "mixed", graph });
    await first.schedule("healthy", { cron: "* * * * * *", workflow: "mixed", graph });
    await first.db.query(
      `UPDATE htdag.schedules SET graph = jsonb_set(graph, '{tasks,0,dependsOn}', '["nowhere"]') WHERE name = 'broken'`,
    );
    errors.length = 0;
    const worker = await first.startWorker({ workflows: { mixed: steps }, pollIntervalMs: 300 });
    try {
      await waitFor(async () => (await firedEvents(first, "healthy")).length >= 1, 8_000, "the healthy schedule");
      await waitFor(() => errors.length > 0, 8_000, "the broken schedule's error");
    } finally {
      await worker.stop();
    }
    await first.unschedule("broken");
    await first.unschedule("healthy");
    const error = errors[0];
    expect(error).toBeInstanceOf(ScheduleFireError);
    expect((error as ScheduleFireError).schedule).toBe("broken");
    expect((error as ScheduleFireError).code).toBe("SCHEDULE_FIRE_FAILED");
    expect((error as Error).cause).toBeInstanceOf(GraphValidationError);
    expect(await firedEvents(first, "broken")).toEqual([]);
    // Retried, not busy-looped: at most one report per recheck interval (300 ms) and tick.
    expect(errors.every((e) => e instanceof ScheduleFireError && e.schedule === "broken")).toBe(true);
  });
});
