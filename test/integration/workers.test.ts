import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTaskQueries } from "../../src/store/tasks.js";
import type { Steps } from "../../src/index.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { waitFor } from "../helpers/wait.js";

const chain = (n: number) =>
  validateGraph({
    goal: `chain of ${n}`,
    tasks: Array.from({ length: n }, (_, i) => ({
      id: `t${i}`,
      step: "inc",
      ...(i ? { dependsOn: [`t${i - 1}`] } : {}),
    })),
  });
const inc: Steps = { inc: async (ctx) => ((Object.values(ctx.deps)[0] as number | undefined) ?? 0) + 1 };

describe.each(STORES)("workers on %s", (kind) => {
  const orch = useOrchestrator(kind, { leaseMs: 1000 });

  it("a submitted run is executed by a worker; waitForRun returns its result", async () => {
    const worker = await orch().startWorker({ workflows: { counting: inc } });
    try {
      const { runId } = await orch().submit(chain(10), { workflow: "counting" });
      const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.status).toBe("completed");
      expect(result.outputs.t9).toBe(10);
    } finally {
      await worker.stop();
    }
  });

  it("a worker never runs more steps at once than its concurrency, across many small runs", async () => {
    // Settles of different runs are in flight together, and each brings tasks back: each used to
    // claim for the slots it saw free, so together they claimed past concurrency (22 of 10 seen).
    const graph = validateGraph({ goal: "small", tasks: [{ id: "nap", step: "nap" }] });
    const runIds: string[] = [];
    for (let i = 0; i < 200; i++) {
      runIds.push((await orch().submit(graph, { workflow: "small" })).runId);
    }
    let running = 0;
    let peak = 0;
    const worker = await orch().startWorker({
      workflows: {
        small: {
          nap: async () => {
            running++;
            peak = Math.max(peak, running);
            await new Promise((r) => setTimeout(r, 2));
            running--;
            return null;
          },
        },
      },
      concurrency: 5,
    });
    try {
      const left = async () =>
        (
          await orch().db.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM htdag.runs WHERE id = ANY ($1::uuid[]) AND status <> 'completed'",
            [runIds],
          )
        ).rows[0]!.n;
      await waitFor(async () => (await left()) === 0, 20_000, "every run completed");
      expect(peak).toBeLessThanOrEqual(5);
    } finally {
      await worker.stop();
    }
  });

  it("runAt delays the run's first claim", async () => {
    const started: number[] = [];
    const worker = await orch().startWorker({
      workflows: {
        later: {
          go: async () => {
            started.push(Date.now());
            return null;
          },
        },
      },
      pollIntervalMs: 50,
    });
    try {
      const runAt = new Date(Date.now() + 400);
      const { runId } = await orch().submit(validateGraph({ goal: "later", tasks: [{ id: "go" }] }), {
        workflow: "later",
        runAt,
      });
      expect((await orch().waitForRun(runId, { timeoutMs: 10_000 })).status).toBe("completed");
      expect(started[0]).toBeGreaterThanOrEqual(runAt.getTime() - 5);
    } finally {
      await worker.stop();
    }
  });

  it("reaps the expired lease of a dead worker, counts the lost attempt, and rejects its late completion", async () => {
    const db = orch().db;
    const { runId } = await orch().submit(validateGraph({ goal: "orphan", tasks: [{ id: "solo", step: "inc" }] }), {
      workflow: "orphans",
    });
    const tasks = createTaskQueries(db, "htdag");
    // A worker that claims and then dies (never heartbeats, never settles).
    const {
      claimed: [claimed],
    } = await tasks.claim(runId, null, "dead-worker", 1, 200, null);
    expect(claimed?.taskId).toBe("solo");
    const worker = await orch().startWorker({ workflows: { orphans: inc }, reapIntervalMs: 100 });
    try {
      const result = await orch().waitForRun(runId, { timeoutMs: 20_000 });
      expect(result.status).toBe("completed");
      expect(result.tasks[0]?.attempts).toBe(2);
      const { rows } = await db.query(
        `SELECT attempt, status, error_class FROM htdag.attempts WHERE run_id = $1 ORDER BY attempt`,
        [runId],
      );
      expect(rows).toEqual([
        { attempt: 1, status: "lost", error_class: "LeaseExpired" },
        { attempt: 2, status: "completed", error_class: null },
      ]);
      const late = await tasks.settleMany(
        runId,
        [{ runId, taskId: "solo", attempt: 1, outcome: "completed", output: 999 }],
        "dead-worker",
        0,
        1000,
        null,
      );
      expect(late.results[0]?.settled).toBe(false);
      expect((await orch().getRun(runId)).outputs.solo).toBe(1);
      const rejected = await db.query(
        `SELECT worker_id, attempt, reason FROM htdag.rejected_completions WHERE run_id = $1`,
        [runId],
      );
      expect(rejected.rows).toEqual([
        { worker_id: "dead-worker", attempt: 1, reason: "task is completed at attempt 2" },
      ]);
    } finally {
      await worker.stop();
    }
  });

  it("stop() lets a running step finish within stopTimeoutMs, else hands its task back uncharged", async () => {
    let calls = 0;
    const slow: Steps = {
      nap: async (ctx) => {
        calls++;
        if (calls === 1) {
          await new Promise((r) => ctx.signal.addEventListener("abort", r));
        }
        return calls;
      },
    };
    const first = await orch().startWorker({ workflows: { naps: slow }, stopTimeoutMs: 100 });
    const { runId } = await orch().submit(validateGraph({ goal: "naps", tasks: [{ id: "nap" }] }), {
      workflow: "naps",
      maxAttempts: 1,
    });
    await waitFor(() => calls === 1, 10_000, "the first attempt to start");
    await first.stop();
    const { rows } = await orch().db.query(`SELECT status, max_attempts FROM htdag.tasks WHERE run_id = $1`, [runId]);
    expect(rows).toEqual([{ status: "ready", max_attempts: 2 }]);
    const second = await orch().startWorker({ workflows: { naps: slow } });
    try {
      const result = await orch().waitForRun(runId, { timeoutMs: 10_000 });
      expect(result.status).toBe("completed");
      expect(result.outputs.nap).toBe(2);
    } finally {
      await second.stop();
    }
  });

  it("names bad worker and submit options; waitForRun names an unknown run and a timeout", async () => {
    await expect(orch().startWorker({ workflows: {} })).rejects.toThrow(/`workflows`/);
    await expect(orch().startWorker({ workflows: { w: inc }, concurrency: 0 })).rejects.toThrow(
      /`concurrency`.*positive integer/,
    );
    await expect(orch().submit(chain(1), {} as never)).rejects.toThrow(/`workflow`/);
    await expect(orch().waitForRun("00000000-0000-4000-8000-000000000000")).rejects.toThrow(/no run with id/);
    const { runId } = await orch().submit(chain(1), { workflow: "nobody_runs_this" });
    await expect(orch().waitForRun(runId, { timeoutMs: 50 })).rejects.toThrow(/still running after 50 ms/);
  });
});

describe("workers sharing one Postgres", () => {
  let url: string;
  let drop: () => Promise<void>;
  const orchs: Orchestrator[] = [];
  beforeAll(async () => ({ url, drop } = await createTestDatabase()));
  afterAll(async () => {
    await Promise.all(orchs.map((o) => o.close()));
    await drop();
  });
  const open = async () => {
    const o = await createOrchestrator({ database: url, migrate: false });
    orchs.push(o);
    return o;
  };

  it("two workers on one queue with limit 3 never run more than 3 at once, together", async () => {
    const [a, b, submitter] = await Promise.all([open(), open(), open()]);
    let running = 0;
    let peak = 0;
    // Each call holds its slot until 3 run at once (or 1 s passes), so reaching the limit does not
    // depend on timing; a broken limit would let a 4th start meanwhile.
    const steps: Steps = {
      call: async () => {
        running++;
        peak = Math.max(peak, running);
        await waitFor(() => running >= 3, 1000).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return null;
      },
    };
    // Each worker runs at most 2: reaching the limit of 3 takes both, so the limit is held across them.
    const wa = await a.startWorker({ workflows: { limited: steps }, concurrency: 2, queues: { api: 3 } });
    const wb = await b.startWorker({ workflows: { limited: steps }, concurrency: 2 });
    const graph = validateGraph({
      goal: "limited",
      tasks: Array.from({ length: 16 }, (_, i) => ({ id: `c${i}`, step: "call", queue: "api" })),
    });
    const { runId } = await submitter.submit(graph, { workflow: "limited", maxParallel: 10 });
    const result = await submitter.waitForRun(runId, { timeoutMs: 20_000 });
    await Promise.all([wa.stop(), wb.stop()]);
    expect(result.status).toBe("completed");
    expect(peak).toBe(3);
    const { rows } = await submitter.db.query<{ workers: number }>(
      `SELECT count(DISTINCT worker_id)::int AS workers FROM htdag.attempts WHERE run_id = $1`,
      [runId],
    );
    expect(rows[0]?.workers).toBe(2);
  });

  it("a claim that finds the run held by another transaction claims again once it is free", async () => {
    // A settle holds its run's row while it commits, and claims only for the slots it frees. A
    // worker's claim that met it skipped the run and gave up until the next wake-up: slots stayed
    // empty (a worker on one run at batchSize 1 ran about one task at a time).
    const [submitter, runner] = await Promise.all([open(), open()]);
    const started: string[] = [];
    const worker = await runner.startWorker({
      workflows: { held: { go: async () => void started.push("a") } },
      pollIntervalMs: 600_000,
    });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      const graph = validateGraph({ goal: "held", tasks: [{ id: "a", step: "go" }] });
      const runAt = new Date(Date.now() + 200);
      const { runId } = await submitter.submit(graph, { workflow: "held", runAt });
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM htdag.runs WHERE id = $1 FOR UPDATE", [runId]);
      await new Promise((r) => setTimeout(r, runAt.getTime() - Date.now() + 20));
      // A wake-up while the run is held: the worker's claim meets the lock.
      await submitter.db.query(
        "SELECT pg_notify('htdag_events', json_build_object('type', 'execution:started', 'runId', $1::text, 'workflow', 'held')::text)",
        [runId],
      );
      await new Promise((r) => setTimeout(r, 100));
      expect(started).toEqual([]);
      await holder.query("COMMIT");
      const result = await submitter.waitForRun(runId, { timeoutMs: 5_000 });
      expect(result.status).toBe("completed");
      expect(started).toEqual(["a"]);
    } finally {
      await holder.end();
      await worker.stop();
    }
  });

  it("two submitters with one idempotency key at once get one run", async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const graph = chain(3);
    const [x, y] = await Promise.all([
      a.submit(graph, { workflow: "dedup", idempotencyKey: "nightly-2026-11-23" }),
      b.submit(graph, { workflow: "dedup", idempotencyKey: "nightly-2026-11-23" }),
    ]);
    expect(x.runId).toBe(y.runId);
    expect((await a.listRuns({ workflow: "dedup" })).length).toBe(1);
  });
});
