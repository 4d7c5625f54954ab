/**
 * Wait tasks and signals (docs/waits-and-flow-control.md, issue 22): a signal delivered to a waiting task
 * or kept for one not waiting yet, a wait holding no slot, signals no wait takes, forMs and until,
 * a signal's timeout with its retry and runIf, the events, and the payload through the codec.
 */
import { describe, expect, it } from "vitest";
import {
  aesGcmCodec,
  SignalError,
  SignalTimeoutError,
  type Orchestrator,
  type RunResult,
  type Steps,
  type TaskGraphInput,
} from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";
import { historyViolations, stateViolations } from "../helpers/invariants.js";

const steps: Steps = {
  echo: (ctx) => ctx.input ?? null,
  work: () => "done",
};

/** Runs `graph` in this process under `workflow` and returns the pending result and, once recorded, the run id. */
async function start(
  orch: Orchestrator,
  graph: TaskGraphInput,
  workflow: string,
  options: Record<string, unknown> = {},
  stepsOf: Steps = steps,
): Promise<{ result: Promise<RunResult>; runId: string }> {
  const result = orch.composeFromTaskGraph(validateGraph(graph), stepsOf, { workflow, ...options });
  let runId: string | undefined;
  await waitFor(
    async () => {
      runId = (await orch.listRuns({ workflow, limit: 1 }))[0]?.runId;
      return runId !== undefined;
    },
    10_000,
    `a run of ${workflow}`,
  );
  return { result, runId: runId! };
}

/** The run's events of `types`, in the order they were written, as `type taskId` with their payloads. */
async function eventsOf(orch: Orchestrator, runId: string, types: string[]) {
  const { rows } = await orch.db.query<{ type: string; task_id: string | null; payload: Record<string, unknown> }>(
    "SELECT type, task_id, payload FROM htdag.events WHERE run_id = $1 AND type = ANY ($2) ORDER BY id",
    [runId, types],
  );
  return rows;
}

async function waitingEvent(orch: Orchestrator, runId: string, taskId: string, attempt = 1): Promise<void> {
  await waitFor(
    async () =>
      (await eventsOf(orch, runId, ["task:waiting"])).some(
        (e) => e.task_id === taskId && e.payload.attempt === attempt,
      ),
    10_000,
    `task:waiting of ${taskId}`,
  );
}

async function expectSound(orch: Orchestrator, runId: string): Promise<void> {
  expect(await stateViolations(orch, runId)).toEqual([]);
  expect(await historyViolations(orch, runId)).toEqual([]);
}

describe.each(STORES)("wait tasks and signals on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("a signal sent while the task waits completes it with its payload, and its dependants run", async () => {
    const { result, runId } = await start(
      orch(),
      {
        goal: "approve then publish",
        tasks: [
          { id: "approve", wait: { signal: "approval" } },
          { id: "publish", step: "echo", dependsOn: ["approve"], input: { by: { $from: "approve", path: "by" } } },
        ],
      },
      "signal-after",
    );
    await waitingEvent(orch(), runId, "approve");
    const during = await orch().getRun(runId);
    const approve = during.tasks.find((t) => t.id === "approve");
    expect(approve).toMatchObject({ status: "waiting", attempts: 1, waiting: { signal: "approval", until: null } });
    expect(Date.parse(approve!.waiting!.since)).not.toBeNaN();

    const sent = await orch().signal(runId, "approval", { approved: true, by: "ana" });
    expect(sent).toEqual({ delivered: true, taskId: "approve" });
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs).toEqual({ approve: { approved: true, by: "ana" }, publish: { by: "ana" } });
    expect(done.tasks.map((t) => [t.id, t.status, t.attempts])).toEqual([
      ["approve", "completed", 1],
      ["publish", "completed", 1],
    ]);
    expect(await eventsOf(orch(), runId, ["task:waiting", "signal:received", "task:completed"])).toEqual([
      { type: "task:waiting", task_id: "approve", payload: { attempt: 1, signal: "approval", until: null } },
      {
        type: "signal:received",
        task_id: "approve",
        payload: { name: "approval", delivered: true, taskId: "approve" },
      },
      { type: "task:completed", task_id: "approve", payload: { status: "completed" } },
      { type: "task:completed", task_id: "publish", payload: { status: "completed" } },
    ]);
    const { rows: attempts } = await orch().db.query<{ status: string; step: string | null }>(
      "SELECT status, step FROM htdag.attempts WHERE run_id = $1 AND task_id = 'approve'",
      [runId],
    );
    expect(attempts).toEqual([{ status: "completed", step: null }]);
    await expectSound(orch(), runId);

    // A final run takes no signal, and stores nothing.
    const late = await orch()
      .signal(runId, "approval", { again: true })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(SignalError);
    expect(late).toMatchObject({ code: "SIGNAL_NOT_AWAITED", reason: "the run is completed" });
    const { rows } = await orch().db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM htdag.signals WHERE run_id = $1",
      [runId],
    );
    expect(rows[0]!.n).toBe(1);
  });

  it("a signal sent before its task waits is kept, and delivered when the wait starts", async () => {
    const first = gate();
    const { result, runId } = await start(
      orch(),
      {
        goal: "draft then approve",
        tasks: [
          { id: "draft", step: "slow" },
          { id: "approve", dependsOn: ["draft"], wait: { signal: "approval", timeoutMs: 60_000 } },
        ],
      },
      "signal-before",
      {},
      { slow: () => first.promise.then(() => "drafted") },
    );
    await waitFor(async () => (await orch().getRun(runId)).status === "running", 10_000, "the run to start");
    // A name no wait of the run has: refused, nothing stored.
    await expect(orch().signal(runId, "other", 1)).rejects.toMatchObject({
      code: "SIGNAL_NOT_AWAITED",
      reason: "no wait task of the run that is not final waits for it",
    });
    expect(await orch().signal(runId, "approval", "yes")).toEqual({ delivered: false, taskId: null });
    // One wait, one signal kept for it already: a second would never be delivered.
    await expect(orch().signal(runId, "approval", "twice")).rejects.toMatchObject({ code: "SIGNAL_NOT_AWAITED" });
    first.open();
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs.approve).toBe("yes");
    expect(await eventsOf(orch(), runId, ["task:waiting", "signal:received"])).toEqual([
      { type: "signal:received", task_id: null, payload: { name: "approval", delivered: false, taskId: null } },
    ]);
    const { rows } = await orch().db.query<{ name: string; task_id: string; delivered: boolean }>(
      "SELECT name, task_id, delivered_at IS NOT NULL AS delivered FROM htdag.signals WHERE run_id = $1",
      [runId],
    );
    expect(rows).toEqual([{ name: "approval", task_id: "approve", delivered: true }]);
    await expectSound(orch(), runId);
  });

  it("a waiting task holds no slot: with maxParallel 1 another task runs and completes meanwhile", async () => {
    const { result, runId } = await start(
      orch(),
      {
        goal: "wait beside work",
        tasks: [
          { id: "hold", wait: { signal: "go" } },
          { id: "busy", step: "busy" },
        ],
      },
      "no-slot",
      { maxParallel: 1 },
      {
        // Runs only once the wait has started: the run's one slot is free while it waits.
        busy: async (ctx) => {
          await waitingEvent(orch(), ctx.runId, "hold");
          return "busy done";
        },
      },
    );
    await waitFor(
      async () => (await eventsOf(orch(), runId, ["task:completed"])).some((e) => e.task_id === "busy"),
      10_000,
      "busy to complete",
    );
    expect((await orch().getRun(runId)).tasks.find((t) => t.id === "hold")?.status).toBe("waiting");
    await orch().signal(runId, "go", null);
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs).toEqual({ hold: null, busy: "busy done" });
    const order = (await eventsOf(orch(), runId, ["task:waiting", "task:started", "task:completed"])).map(
      (e) => `${e.type} ${e.task_id}`,
    );
    expect(order).toEqual(["task:waiting hold", "task:started busy", "task:completed busy", "task:completed hold"]);
    await expectSound(orch(), runId);
  });

  it("a forMs wait ends on time while a step takes the run's only slot", async () => {
    const { result, runId } = await start(
      orch(),
      {
        goal: "timer beside a long step",
        tasks: [
          { id: "cool", wait: { forMs: 100 } },
          { id: "long", step: "long" },
        ],
      },
      "timer-no-slot",
      { maxParallel: 1 },
      {
        // Ends only once the wait has completed: nothing settles meanwhile, so the executor must wake for it.
        long: async (ctx) => {
          await waitFor(
            async () => (await eventsOf(orch(), ctx.runId, ["task:completed"])).some((e) => e.task_id === "cool"),
            10_000,
            "cool to complete",
          );
          return "long done";
        },
      },
    );
    const done = await result;
    expect(done.status).toBe("completed");
    expect((await eventsOf(orch(), runId, ["task:completed"])).map((e) => e.task_id)).toEqual(["cool", "long"]);
    // Its first attempt saw the wait end: nothing waited for a slot to free.
    expect(done.tasks.map((t) => [t.id, t.attempts])).toEqual([
      ["cool", 1],
      ["long", 1],
    ]);
    await expectSound(orch(), runId);
  });

  it("a worker whose only slot a step takes still ends a due wait of its run", async () => {
    const workflow = `busy-worker-${kind}`;
    const worker = await orch().startWorker({
      workflows: {
        [workflow]: {
          // Ends only once the wait has completed: the worker has no free slot meanwhile.
          long: async (ctx) => {
            await waitFor(
              async () => (await eventsOf(orch(), ctx.runId, ["task:completed"])).some((e) => e.task_id === "cool"),
              10_000,
              "cool to complete",
            );
            return "long done";
          },
        },
      },
      concurrency: 1,
      pollIntervalMs: 50,
    });
    try {
      const graph = validateGraph({
        goal: "timer beside a long step, on a worker",
        tasks: [
          { id: "cool", wait: { forMs: 100 } },
          { id: "long", step: "long" },
        ],
      });
      const { runId } = await orch().submit(graph, { workflow });
      const done = await orch().waitForRun(runId, { timeoutMs: 15_000 });
      expect(done.status).toBe("completed");
      expect((await eventsOf(orch(), runId, ["task:completed"])).map((e) => e.task_id)).toEqual(["cool", "long"]);
      // Its first attempt saw the wait end: nothing waited for a slot to free.
      expect(done.tasks.map((t) => [t.id, t.attempts])).toEqual([
        ["cool", 1],
        ["long", 1],
      ]);
      await expectSound(orch(), runId);
    } finally {
      await worker.stop();
    }
  });

  it("forMs waits from its start and until waits for its moment; a past until completes at once", async () => {
    const until = new Date(Date.now() + 300).toISOString();
    const past = "2020-01-01T00:00:00.000Z";
    const { result, runId } = await start(
      orch(),
      {
        goal: "timers",
        tasks: [
          { id: "cool", wait: { forMs: 200 } },
          { id: "later", wait: { until } },
          { id: "gone", wait: { until: "2020-01-01T01:00:00+01:00" } },
          { id: "after", step: "work", dependsOn: ["cool", "later", "gone"] },
        ],
      },
      "timers",
    );
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs.later).toEqual({ waitedUntil: until });
    expect(done.outputs.gone).toEqual({ waitedUntil: past });
    const waiting = await eventsOf(orch(), runId, ["task:waiting"]);
    expect(waiting.map((e) => [e.task_id, e.payload.until])).toEqual([
      ["cool", (done.outputs.cool as { waitedUntil: string }).waitedUntil],
      ["later", until],
      ["gone", past],
    ]);
    const { rows } = await orch().db.query<{ task_id: string; started_at: Date; finished_at: Date }>(
      "SELECT task_id, started_at, finished_at FROM htdag.attempts WHERE run_id = $1 ORDER BY task_id",
      [runId],
    );
    const attempt = Object.fromEntries(rows.map((r) => [r.task_id, r]));
    const cool = Date.parse((done.outputs.cool as { waitedUntil: string }).waitedUntil);
    // Due forMs after the wait started, and ended no sooner.
    expect(cool - new Date(attempt.cool!.started_at).getTime()).toBeCloseTo(200, -1);
    expect(new Date(attempt.cool!.finished_at).getTime()).toBeGreaterThanOrEqual(cool - 1);
    expect(new Date(attempt.later!.finished_at).getTime()).toBeGreaterThanOrEqual(Date.parse(until) - 1);
    await expectSound(orch(), runId);
  });

  it("a signal not received within timeoutMs times out: retried, then timed_out, and runIf follows", async () => {
    const { result, runId } = await start(
      orch(),
      {
        goal: "approval that never comes",
        tasks: [
          {
            id: "approve",
            wait: { signal: "approval", timeoutMs: 150 },
            maxAttempts: 2,
            backoff: { kind: "constant", baseMs: 20, jitter: 0 },
          },
          { id: "publish", step: "work", dependsOn: ["approve"] },
          { id: "escalate", step: "work", dependsOn: ["approve"], runIf: "anyFailed" },
        ],
      },
      "timeout",
    );
    const done = await result;
    expect(done.status).toBe("failed");
    expect(done.tasks.map((t) => [t.id, t.status, t.attempts])).toEqual([
      ["approve", "timed_out", 2],
      ["publish", "cancelled", 0],
      ["escalate", "completed", 1],
    ]);
    const error = new SignalTimeoutError("approve", "approval", 150);
    expect(done.tasks[0]!.error).toMatchObject({ name: "SignalTimeoutError", message: error.message });
    expect(done.error).toMatchObject({ taskId: "approve" });
    const events = await eventsOf(orch(), runId, ["task:waiting", "task:retried", "task:failed"]);
    expect(events.map((e) => [e.type, e.task_id, e.payload.attempt ?? e.payload.status])).toEqual([
      ["task:waiting", "approve", 1],
      ["task:retried", "approve", 1],
      ["task:waiting", "approve", 2],
      ["task:failed", "approve", "timed_out"],
    ]);
    expect(events[1]!.payload).toMatchObject({ outcome: "timed_out", delayMs: 20 });
    const { rows } = await orch().db.query<{ attempt: number; status: string; error_class: string }>(
      "SELECT attempt, status, error_class FROM htdag.attempts WHERE run_id = $1 AND task_id = 'approve' ORDER BY attempt",
      [runId],
    );
    expect(rows).toEqual([
      { attempt: 1, status: "timed_out", error_class: "SignalTimeoutError" },
      { attempt: 2, status: "timed_out", error_class: "SignalTimeoutError" },
    ]);
    await expectSound(orch(), runId);
  });

  it("refuses a signal to an unknown run or with a name that is not a signal name", async () => {
    await expect(orch().signal("00000000-0000-4000-8000-000000000000", "approval")).rejects.toMatchObject({
      code: "SIGNAL_NOT_AWAITED",
      reason: "no run has this id",
    });
    await expect(orch().signal("00000000-0000-4000-8000-000000000000", "no spaces")).rejects.toMatchObject({
      code: "INVALID_OPTION",
    });
  });
});

// The codec is the store's business only in what it is given: one store is enough.
describe("a signal's payload with a codec", () => {
  const orch = useOrchestrator("postgres", { codec: aesGcmCodec("a passphrase for the wait tests") });

  it("is stored encrypted, as the task's output, and read back in clear", async () => {
    const { result, runId } = await start(
      orch(),
      { goal: "secret approval", tasks: [{ id: "approve", wait: { signal: "approval" } }] },
      "codec",
    );
    await waitingEvent(orch(), runId, "approve");
    await orch().signal(runId, "approval", { token: "s3cret" });
    const done = await result;
    expect(done.outputs.approve).toEqual({ token: "s3cret" });
    const { rows } = await orch().db.query<{ output: unknown; payload: unknown }>(
      `SELECT t.output, s.payload FROM htdag.tasks t JOIN htdag.signals s ON s.run_id = t.run_id AND s.task_id = t.id
        WHERE t.run_id = $1`,
      [runId],
    );
    expect(JSON.stringify(rows)).not.toContain("s3cret");
    expect(rows[0]!.output).toEqual(rows[0]!.payload);
  });
});
