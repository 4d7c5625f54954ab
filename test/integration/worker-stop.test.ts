/**
 * A worker's stop and its leases (issue 17, cases 2 and 13): once `stop()` resolves the worker
 * starts no step and claims nothing, and a worker never starts a step whose lease has expired by
 * its own clock.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { validateGraph } from "../../src/graph/validate.js";
import { defineStep, type Steps } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

const chain = validateGraph({
  goal: "stop mid-chain",
  tasks: [{ id: "a" }, { id: "b", dependsOn: ["a"] }, { id: "c", dependsOn: ["b"] }],
});

interface TaskRow {
  id: string;
  status: string;
  attempts: number;
  lease_owner: string | null;
}

describe.each(STORES)("a worker's stop and leases on %s", (kind) => {
  const errors: unknown[] = [];
  const orch = useOrchestrator(kind, { leaseMs: 1000, onError: (error) => errors.push(error) });
  const taskRows = async (runId: string) =>
    (
      await orch().db.query<TaskRow>(
        `SELECT id, status, attempts, lease_owner FROM htdag.tasks WHERE run_id = $1 ORDER BY id`,
        [runId],
      )
    ).rows;

  it("once stop() resolves, the worker starts no step and claims nothing; another worker runs each task once", async () => {
    const starts: string[] = [];
    const aMayEnd = gate();
    const steps = (worker: string): Steps => ({
      a: async (ctx) => {
        starts.push(`${worker}:a#${ctx.attempt}`);
        await aMayEnd.promise;
        return "a";
      },
      b: async (ctx) => {
        starts.push(`${worker}:b#${ctx.attempt}`);
        return "b";
      },
      c: async (ctx) => {
        starts.push(`${worker}:c#${ctx.attempt}`);
        return "c";
      },
    });
    const first = await orch().startWorker({ workflows: { stop_chain: steps("first") } });
    const { runId } = await orch().submit(chain, { workflow: "stop_chain" });
    await waitFor(() => starts.length === 1, 10_000, "a to start");
    const stopped = first.stop();
    aMayEnd.open();
    await stopped;

    // Anything the stopped worker still did (a step started, a task claimed) would show within a few polls.
    await expect(
      waitFor(
        async () => starts.length > 1 || (await taskRows(runId)).some((t) => t.status === "running"),
        500,
        "the stopped worker to start or claim anything",
      ),
    ).rejects.toThrow(/timed out/);
    expect(starts).toEqual(["first:a#1"]);
    expect(first.active).toBe(0);
    const [a, b, c] = await taskRows(runId);
    expect(a).toMatchObject({ id: "a", status: "completed", attempts: 1 });
    // b waits for another worker: ready, unclaimed, and no attempt of it counted (a released one is 'lost').
    expect(b).toMatchObject({ id: "b", status: "ready", lease_owner: null });
    expect(c).toMatchObject({ id: "c", status: "pending", attempts: 0 });
    const bAttempts = await orch().db.query<{ status: string; error_class: string | null }>(
      `SELECT status, error_class FROM htdag.attempts WHERE run_id = $1 AND task_id = 'b'`,
      [runId],
    );
    expect(bAttempts.rows.every((row) => row.status === "lost" && row.error_class === "Released")).toBe(true);
    expect(bAttempts.rows).toHaveLength(b!.attempts);

    const second = await orch().startWorker({ workflows: { stop_chain: steps("second") } });
    try {
      const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.status).toBe("completed");
      expect(result.outputs).toMatchObject({ a: "a", b: "b", c: "c" });
    } finally {
      await second.stop();
    }
    expect(starts.map((start) => start.replace(/#\d+$/, ""))).toEqual(["first:a", "second:b", "second:c"]);
  });

  it("never starts a claimed step whose lease expired by the worker's own clock (a frozen process)", async () => {
    const starts: string[] = [];
    const steps: Steps = {
      work: (ctx) => {
        starts.push(`${ctx.task.id}#${ctx.attempt}`);
        if (starts.length === 1) {
          // Freezes the whole process past its 1 s lease, as SIGSTOP would: no timer, no heartbeat, no I/O.
          const until = performance.now() + 1300;
          while (performance.now() < until) {
            // spin
          }
        }
        return ctx.task.id;
      },
    };
    const graph = validateGraph({
      goal: "frozen worker",
      tasks: [
        { id: "x", step: "work" },
        { id: "y", step: "work" },
      ],
    });
    // Submitted before the worker starts, so its first claim takes both tasks at once.
    const { runId } = await orch().submit(graph, { workflow: "frozen" });
    errors.length = 0;
    const worker = await orch().startWorker({ workflows: { frozen: steps }, concurrency: 2, reapIntervalMs: 100 });
    try {
      const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.status).toBe("completed");
    } finally {
      await worker.stop();
    }
    const frozen = starts[0]!.replace(/#\d+$/, "");
    const other = frozen === "x" ? "y" : "x";
    // The other task was claimed with the frozen one; its lease ran out during the freeze, so its
    // first attempt never started here: the reaper handed it back and a later attempt ran it.
    expect(starts).not.toContain(`${other}#1`);
    expect(starts.some((start) => start.startsWith(`${other}#`))).toBe(true);
    const expired = errors.filter((error) => (error as { code?: unknown }).code === "LEASE_EXPIRED");
    expect(expired).toHaveLength(1);
    expect((expired[0] as Error).message).toContain(`task "${other}"`);
    const { rows } = await orch().db.query<{ attempt: number; status: string }>(
      `SELECT attempt, status FROM htdag.attempts WHERE run_id = $1 AND task_id = $2 ORDER BY attempt`,
      [runId, other],
    );
    expect(rows[0]).toEqual({ attempt: 1, status: "lost" });
    expect(rows.at(-1)?.status).toBe("completed");
  });

  it("checks the lease after the step's input is prepared: a process frozen in between does not start the step", async () => {
    // Found by the chaos soak: a worker frozen after its lease check but before the step's first
    // instruction started the step 857 ms after another worker's completion of the task committed.
    // Here the freeze lands while the step's input schema parses (the first time only).
    const starts: string[] = [];
    let parses = 0;
    const input = z.object({}).refine(() => {
      if (++parses === 1) {
        const until = performance.now() + 1300;
        while (performance.now() < until) {
          // spin: frozen past the 1 s lease, as SIGSTOP would
        }
      }
      return true;
    });
    const steps: Steps = {
      work: defineStep({ input, run: (ctx) => void starts.push(`${ctx.task.id}#${ctx.attempt}`) }),
    };
    const graph = validateGraph({ goal: "frozen while preparing", tasks: [{ id: "t", step: "work", input: {} }] });
    const { runId } = await orch().submit(graph, { workflow: "frozen_input" });
    errors.length = 0;
    const worker = await orch().startWorker({
      workflows: { frozen_input: steps },
      concurrency: 1,
      reapIntervalMs: 100,
    });
    try {
      expect((await orch().waitForRun(runId, { timeoutMs: 20_000 })).status).toBe("completed");
    } finally {
      await worker.stop();
    }
    expect(starts).toEqual(["t#2"]);
    expect(errors.filter((error) => (error as { code?: unknown }).code === "LEASE_EXPIRED")).toHaveLength(1);
  });
});

// A transaction that holds the run's row lock is Postgres-only: PGlite serves one connection.
describe("a worker stopped while a settle is in flight, on postgres", () => {
  const orch = useOrchestrator("postgres", { leaseMs: 1000 });

  it("hands back, unstarted and uncharged, the task that settle claimed", async () => {
    const starts: string[] = [];
    const aMayEnd = gate();
    const steps = (worker: string): Steps => ({
      a: async (ctx) => {
        starts.push(`${worker}:a#${ctx.attempt}`);
        await aMayEnd.promise;
        return "a";
      },
      b: (ctx) => starts.push(`${worker}:b#${ctx.attempt}`),
      c: (ctx) => starts.push(`${worker}:c#${ctx.attempt}`),
    });
    const first = await orch().startWorker({ workflows: { stop_in_flight: steps("first") } });
    const { runId } = await orch().submit(chain, { workflow: "stop_in_flight" });
    await waitFor(() => starts.length === 1, 10_000, "a to start");
    // a's settle waits on the run's row lock: sent before stop(), answered after it (claiming b).
    const runLocked = gate();
    const mayUnlock = gate();
    const lock = orch().db.transaction(async (tx) => {
      await tx.query(`SELECT id FROM htdag.runs WHERE id = $1 FOR UPDATE`, [runId]);
      runLocked.open();
      await mayUnlock.promise;
    });
    let stopped: Promise<void>;
    try {
      await runLocked.promise;
      aMayEnd.open();
      await waitFor(
        async () =>
          (
            await orch().db.query<{ waiting: number }>(
              `SELECT count(*)::int AS waiting FROM pg_stat_activity
                WHERE wait_event_type = 'Lock' AND query LIKE '%settle_tasks%'`,
            )
          ).rows[0]!.waiting === 1,
        10_000,
        "a's settle to wait on the run's lock",
      );
      stopped = first.stop();
    } finally {
      mayUnlock.open();
      await lock;
    }
    await stopped;

    expect(starts).toEqual(["first:a#1"]);
    const rows = await orch().db.query<TaskRow & { max_attempts: number }>(
      `SELECT id, status, attempts, lease_owner, max_attempts FROM htdag.tasks WHERE run_id = $1 AND id = 'b'`,
      [runId],
    );
    // b was claimed by a's settle, never started, and handed back: its attempt lost and not charged.
    expect(rows.rows[0]).toMatchObject({ status: "ready", attempts: 1, lease_owner: null });
    const attempts = await orch().db.query(
      `SELECT attempt, status, error_class FROM htdag.attempts WHERE run_id = $1 AND task_id = 'b'`,
      [runId],
    );
    expect(attempts.rows).toEqual([{ attempt: 1, status: "lost", error_class: "Released" }]);

    const second = await orch().startWorker({ workflows: { stop_in_flight: steps("second") } });
    try {
      expect((await orch().waitForRun(runId, { timeoutMs: 20_000 })).status).toBe("completed");
    } finally {
      await second.stop();
    }
    expect(starts).toEqual(["first:a#1", "second:b#2", "second:c#1"]);
  });
});
