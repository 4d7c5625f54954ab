/**
 * Issue 17's bugs in the executor's settle/claim core (cases 3, 4, 5, 6 and 13g), reproduced before
 * the core was rebuilt (each failed then, marked `it.fails`) and passing since (migrations/
 * 0001_baseline.sql: finish_wave, cascade_tasks, settle_locked, stop_run, retry_run). Each test
 * asserts the behaviour the docs (composing.md, execution.md) and the issue ask for.
 *
 * Every interleaving is forced with gates and waits on stored state, never with sleeps.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOrchestrator,
  defineStep,
  IllegalTransitionError,
  NonRetryableError,
  validateGraph,
  type Orchestrator,
  type Steps,
  type TaskGraph,
  type TaskSpec,
} from "../../src/index.js";
import { stateViolations } from "../helpers/invariants.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

const FINAL = new Set(["completed", "failed", "timed_out", "cancelled", "skipped"]);
const graphOf = (goal: string, tasks: TaskSpec[]): TaskGraph => validateGraph({ goal, tasks });

async function taskStatus(orch: Orchestrator, runId: string, taskId: string): Promise<string | undefined> {
  return (await orch.getRun(runId)).tasks.find((t) => t.id === taskId)?.status;
}

/** The final events (completed, failed, cancelled, skipped) of each of `taskIds` written after event `afterId`. */
async function finalEvents(
  orch: Orchestrator,
  runId: string,
  taskIds: readonly string[],
  afterId: string,
): Promise<Record<string, string[]>> {
  const { rows } = await orch.db.query<{ task_id: string; type: string }>(
    `SELECT task_id, type FROM htdag.events
      WHERE run_id = $1 AND id > $2::bigint
        AND type IN ('task:completed', 'task:failed', 'task:cancelled', 'task:skipped')
      ORDER BY id`,
    [runId, afterId],
  );
  const events: Record<string, string[]> = Object.fromEntries(taskIds.map((id) => [id, []]));
  for (const row of rows) {
    events[row.task_id]?.push(row.type);
  }
  return events;
}

/** The one final event a task in `status` gets. */
function finalEventOf(status: string): string[] {
  if (!FINAL.has(status)) {
    return [];
  }
  return [`task:${status === "timed_out" ? "failed" : status}`];
}

async function lastEventId(orch: Orchestrator, runId: string): Promise<string> {
  const { rows } = await orch.db.query<{ id: string }>(
    `SELECT coalesce(max(id), 0)::text AS id FROM htdag.events WHERE run_id = $1`,
    [runId],
  );
  return rows[0]!.id;
}

describe.each(STORES)("issue 17 settle/claim core on %s", (kind) => {
  const orch = useOrchestrator(kind);

  // issue 17, case 3: failFast is skipped when the failure settles while the run is paused (failed before the core's rebuild, which fixed it).
  it("a task that fails for good while the run is paused cancels what has not started (failFast)", async () => {
    const aStarted = gate();
    const aFails = gate();
    let runId = "";
    let bRan = false;
    const steps: Steps = {
      a: async (ctx) => {
        runId = ctx.runId;
        aStarted.open();
        await aFails.promise;
        throw new Error("a failed while the run was paused");
      },
      b: async () => {
        bRan = true;
        return "b ran";
      },
    };
    // maxParallel 1 and a higher priority: a runs, b is ready and waits for the slot.
    const pending = orch().composeFromTaskGraph(
      graphOf("fail while paused", [{ id: "a", maxAttempts: 1, priority: 10 }, { id: "b" }]),
      steps,
      { workflow: "core_a_paused_fail_fast", maxParallel: 1 },
    );
    await aStarted.promise;
    await orch().pauseRun(runId, "maintenance");
    aFails.open();
    await waitFor(async () => (await taskStatus(orch(), runId, "a")) === "failed", 10_000, "a to fail");
    // Resume, unless the failure (its failFast) already finished the run, as a paused run may.
    await orch()
      .resumeRun(runId)
      .catch(async (error: unknown) => {
        if (!(error instanceof IllegalTransitionError) || !FINAL.has((await orch().getRun(runId)).status)) {
          throw error;
        }
      });
    const result = await pending;
    expect({ b: result.tasks.find((t) => t.id === "b")?.status, bRan, run: result.status }).toEqual({
      b: "cancelled",
      bRan: false,
      run: "failed",
    });
  });

  // issue 17, case 4: a batched settle finishes a composite twice (failFast from stale values) (failed before the core's rebuild, which fixed it).
  it("two composites failing by cascade in one batched settle: each finishes once, the run ends last", async () => {
    let phase: "first" | "retry" = "first";
    let runId = "";
    const entered = { join: 0, long: 0 };
    const together = gate();
    const longRelease = gate();
    const steps: Steps = {
      x: async (ctx) => {
        runId = ctx.runId;
        return "x";
      },
      fail: async (ctx) => {
        throw new NonRetryableError(`${ctx.task.id} fails for good`);
      },
      join: async (ctx) => {
        if (phase === "retry") {
          entered.join++;
          await together.promise;
        }
        return ctx.task.id;
      },
      long: async () => {
        if (phase === "retry") {
          entered.long++;
          // Ignores its signal: still running while the batch settles.
          await longRelease.promise;
        }
        return "r";
      },
      after: async (ctx) => ctx.task.id,
    };
    // c1 and c2 are composites, each with a child that fails for good (c1a, c2a) and one that waits
    // for x (c1b, c2b); d1 and d2 depend on them; r also waits for x and runs long.
    const graph = graphOf("two composites fail by cascade in one batch", [
      { id: "x" },
      { id: "c1", kind: "composite" },
      { id: "c1a", parentId: "c1", step: "fail" },
      { id: "c1b", parentId: "c1", step: "join", dependsOn: ["x"] },
      { id: "c2", kind: "composite" },
      { id: "c2a", parentId: "c2", step: "fail" },
      { id: "c2b", parentId: "c2", step: "join", dependsOn: ["x"] },
      { id: "d1", step: "after", dependsOn: ["c1"] },
      { id: "d2", step: "after", dependsOn: ["c2"] },
      { id: "r", step: "long", dependsOn: ["x"] },
    ]);
    const first = await orch().composeFromTaskGraph(graph, steps, { workflow: "core_a_batched_cascade" });
    expect(first.status).toBe("failed");
    // Re-run x and what is downstream of it: c1a and c2a stay failed, so c1 and c2 (pending again)
    // each wait for one child only, and fail by cascade when it completes; no failure has swept
    // this execution yet, so failFast has pending tasks to cancel.
    phase = "retry";
    const since = await lastEventId(orch(), runId);
    const retried = orch()
      .retryRun(runId, { fromTask: "x" })
      .then(
        (result) => ({ result, error: undefined }),
        (error: unknown) => ({ result: undefined, error }),
      );
    await waitFor(() => entered.join === 2 && entered.long === 1, 10_000, "c1b, c2b and r to run");
    // c1b and c2b end at the same moment: they settle together in one batch.
    together.open();
    await waitFor(
      async () => {
        const run = await orch().getRun(runId);
        return ["c1", "c2"].every((id) => FINAL.has(run.tasks.find((t) => t.id === id)?.status ?? ""));
      },
      10_000,
      "c1 and c2 to be final",
    );
    // r is still running (its step ignores the signal): the run is final only once r is, and the counters agree.
    expect(await stateViolations(orch(), runId)).toEqual([]);
    longRelease.open();
    const { error } = await retried;
    expect(error).toBeUndefined();
    expect(await stateViolations(orch(), runId)).toEqual([]);
    // Each task re-run by the retry reported its final status once (none twice, none silently).
    const reset = ["x", "c1", "c1b", "c2", "c2b", "d1", "d2", "r"];
    const statuses = new Map((await orch().getRun(runId)).tasks.map((t) => [t.id, t.status as string]));
    expect(await finalEvents(orch(), runId, reset, since)).toEqual(
      Object.fromEntries(reset.map((id) => [id, finalEventOf(statuses.get(id) ?? "")])),
    );
  });

  // issue 17, case 4: a composite failing by cascade in a lone (single) settle skips failFast, which the batched path applies (failed before the core's rebuild, which fixed it).
  it("a composite failing by cascade in a lone settle cancels what has not started (failFast)", async () => {
    let phase: "first" | "retry" = "first";
    let runId = "";
    let wRan = false;
    const longRelease = gate();
    const steps: Steps = {
      x: async (ctx) => {
        runId = ctx.runId;
        return "x";
      },
      fail: async (ctx) => {
        throw new NonRetryableError(`${ctx.task.id} fails for good`);
      },
      join: async (ctx) => ctx.task.id,
      long: async () => {
        if (phase === "retry") {
          await longRelease.promise;
        }
        return "r";
      },
      after: async (ctx) => ctx.task.id,
      waiting: async () => {
        if (phase === "retry") {
          wRan = true;
        }
        return "w";
      },
    };
    // As above with one composite; w waits for r, so it is pending (not started) when c1 fails.
    const graph = graphOf("a composite fails by cascade in a lone settle", [
      { id: "x" },
      { id: "c1", kind: "composite" },
      { id: "c1a", parentId: "c1", step: "fail" },
      { id: "c1b", parentId: "c1", step: "join", dependsOn: ["x"] },
      { id: "d1", step: "after", dependsOn: ["c1"] },
      { id: "r", step: "long", dependsOn: ["x"] },
      { id: "w", step: "waiting", dependsOn: ["r"] },
    ]);
    const first = await orch().composeFromTaskGraph(graph, steps, { workflow: "core_a_single_cascade" });
    expect(first.status).toBe("failed");
    phase = "retry";
    const retried = orch()
      .retryRun(runId, { fromTask: "x" })
      .catch((error: unknown) => error);
    // c1b completes alone (r still runs): its settle is a lone one, and c1 fails by cascade in it.
    await waitFor(async () => (await taskStatus(orch(), runId, "c1")) === "failed", 10_000, "c1 to fail");
    longRelease.open();
    await retried;
    const result = await orch().getRun(runId);
    expect({ w: result.tasks.find((t) => t.id === "w")?.status, wRan, run: result.status }).toEqual({
      w: "cancelled",
      wRan: false,
      run: "failed",
    });
  });

  describe("retryRun gives each reset task a fresh attempt budget", () => {
    const flaky = (calls: { n: number }) => async () => {
      calls.n++;
      if (calls.n <= 5) {
        throw new Error(`failure ${calls.n}`);
      }
      return { succeededOnCall: calls.n };
    };
    const backoff = { kind: "constant" as const, baseMs: 1, jitter: 0 };

    // issue 17, case 6: after retryRun a task with maxAttempts on the task gets one attempt, not a fresh budget (failed before the core's rebuild, which fixed it).
    it("maxAttempts on the task: three new attempts after retryRun", async () => {
      const calls = { n: 0 };
      const first = await orch().composeFromTaskGraph(
        graphOf("flaky task budget", [{ id: "flaky", maxAttempts: 3 }]),
        { flaky: flaky(calls) },
        { workflow: "core_a_budget_task", backoff },
      );
      expect({ status: first.status, calls: calls.n }).toEqual({ status: "failed", calls: 3 });
      const retried = await orch().retryRun(first.runId);
      expect({ status: retried.status, calls: calls.n }).toEqual({ status: "completed", calls: 6 });
    });

    // issue 17, case 6: after retryRun a task with maxAttempts on its defineStep gets one attempt, not a fresh budget (failed before the core's rebuild, which fixed it).
    it("maxAttempts on the step (defineStep): three new attempts after retryRun", async () => {
      const calls = { n: 0 };
      const first = await orch().composeFromTaskGraph(
        graphOf("flaky step budget", [{ id: "flaky" }]),
        { flaky: defineStep({ maxAttempts: 3, run: flaky(calls) }) },
        // The run's own default differs, so only the step's setting gives three attempts.
        { workflow: "core_a_budget_step", backoff, maxAttempts: 1 },
      );
      expect({ status: first.status, calls: calls.n }).toEqual({ status: "failed", calls: 3 });
      const retried = await orch().retryRun(first.runId);
      expect({ status: retried.status, calls: calls.n }).toEqual({ status: "completed", calls: 6 });
    });
  });

  // issue 17, case 13g: retry_run sets recovered = false, so a kept recovery no longer counts (failed before the core's rebuild, which fixed it).
  it("retryRun from a task keeps a completed recovers task's effect: the recovered run completes again", async () => {
    const graph = graphOf("deploy, roll back on failure, clean up", [
      { id: "smoke" },
      { id: "deploy", dependsOn: ["smoke"], maxAttempts: 1 },
      { id: "rollback", dependsOn: ["deploy"], runIf: "anyFailed", recovers: true },
      { id: "cleanup", dependsOn: ["deploy", "rollback"], runIf: "allDone" },
    ]);
    const steps: Steps = {
      smoke: async () => ({ healthy: true }),
      deploy: async () => {
        throw new Error("registry unreachable");
      },
      rollback: async () => ({ rolledBack: true }),
      cleanup: async () => "temporary files removed",
    };
    const first = await orch().composeFromTaskGraph(graph, steps, { workflow: "core_a_recovered" });
    expect(first.status).toBe("completed");
    // Only cleanup runs again; deploy stays failed and rollback stays completed, so it still recovers the run.
    const retried = await orch().retryRun(first.runId, { fromTask: "cleanup" });
    expect(Object.fromEntries(retried.tasks.map((t) => [t.id, t.status]))).toEqual({
      smoke: "completed",
      deploy: "failed",
      rollback: "completed",
      cleanup: "completed",
    });
    expect(retried.status).toBe("completed");
  });
});

/**
 * cancelRun and retryRun from another process than the one running the run (a dashboard, the CLI),
 * while the run's step ignores its signal and runs on. Two orchestrators on one database stand for
 * the two processes: Postgres only.
 *
 * The stop ends every task of the run at once, the running one included: its attempt is closed as
 * cancelled and its queue slot given back, so the run is final with only final tasks. retryRun then
 * starts a fresh attempt; the old step's late completion is rejected (and recorded) and changes
 * nothing. (Before the rebuild, the cancelled run kept its task `running`: retryRun reset it under
 * the old attempt, which stayed open, so the task ran twice at once, and with a queue limit of 1
 * the slot was never given back and the retried run hung.)
 */
describe("issue 17 cancelRun then retryRun while a step still runs elsewhere (postgres)", () => {
  let url = "";
  let drop: (() => Promise<void>) | undefined;
  let runner: Orchestrator | undefined;
  let controller: Orchestrator | undefined;
  beforeAll(async () => {
    ({ url, drop } = await createTestDatabase());
    runner = await createOrchestrator({ database: url });
    controller = await createOrchestrator({ database: url, migrate: false });
  });
  afterAll(async () => {
    await runner?.close();
    await controller?.close();
    await drop?.();
  });

  /** Starts the run in `runner` and cancels it from `controller` while its step waits on a gate. */
  async function startAndCancel(workflow: string, task: TaskSpec, queues?: Record<string, number>) {
    const firstRunning = gate();
    const release = gate();
    const seen = { runId: "", invocations: 0 };
    const steps: Steps = {
      t: async (ctx) => {
        seen.runId = ctx.runId;
        const invocation = ++seen.invocations;
        if (invocation === 1) {
          firstRunning.open();
          // Ignores its signal: the first attempt runs on after the cancel.
          await release.promise;
        }
        return { invocation };
      },
    };
    const running = runner!
      .composeFromTaskGraph(graphOf(`cancel then retry: ${workflow}`, [task]), steps, {
        workflow,
        ...(queues ? { queues } : {}),
      })
      .catch((error: unknown) => error);
    await firstRunning.promise;
    await controller!.cancelRun(seen.runId, "stopped from the dashboard");
    const cancelled = await controller!.getRun(seen.runId);
    expect({ run: cancelled.status, t: cancelled.tasks[0]?.status }).toEqual({ run: "cancelled", t: "cancelled" });
    expect(await attemptsOf(seen.runId)).toEqual([{ attempt: 1, status: "cancelled" }]);
    return { steps, seen, release, running };
  }

  async function attemptsOf(runId: string): Promise<{ attempt: number; status: string }[]> {
    const { rows } = await controller!.db.query<{ attempt: number; status: string }>(
      `SELECT attempt, status FROM htdag.attempts WHERE run_id = $1 ORDER BY attempt`,
      [runId],
    );
    return rows;
  }

  // issue 17, case 5: retryRun after cancelRun reset a task that still ran, under its open attempt.
  it("retryRun after cancelRun starts a fresh attempt; the cancelled one's late completion is rejected", async () => {
    const { steps, seen, release, running } = await startAndCancel("core_a_cancel_retry_overlap", {
      id: "t",
      maxAttempts: 1,
    });
    try {
      const retried = await controller!.retryRun(seen.runId, { steps });
      expect({ status: retried.status, output: retried.outputs.t }).toEqual({
        status: "completed",
        output: { invocation: 2 },
      });
    } finally {
      release.open();
      await running;
    }
    const { rows: order } = await controller!.db.query<{ closed_first: boolean }>(
      `SELECT (SELECT finished_at FROM htdag.attempts WHERE run_id = $1 AND attempt = 1) <=
              (SELECT started_at FROM htdag.attempts WHERE run_id = $1 AND attempt = 2) AS closed_first`,
      [seen.runId],
    );
    expect(order[0]?.closed_first).toBe(true);
    expect(await attemptsOf(seen.runId)).toEqual([
      { attempt: 1, status: "cancelled" },
      { attempt: 2, status: "completed" },
    ]);
    const { rows: rejected } = await controller!.db.query<{ attempt: number; outcome: string; reason: string }>(
      `SELECT attempt, outcome, reason FROM htdag.rejected_completions WHERE run_id = $1`,
      [seen.runId],
    );
    expect(rejected).toEqual([{ attempt: 1, outcome: "completed", reason: "task is completed at attempt 2" }]);
    expect((await controller!.getRun(seen.runId)).outputs.t).toEqual({ invocation: 2 });
  });

  // issue 17, case 5: with a queue limit of 1, the cancelled attempt kept the queue's slot and the retried run hung.
  it("with a queue limit of 1, cancelRun gives the slot back and the retried run completes", async () => {
    const { steps, seen, release, running } = await startAndCancel(
      "core_a_cancel_retry_queue",
      { id: "t", maxAttempts: 1, queue: "core_a_q" },
      { core_a_q: 1 },
    );
    try {
      const { rows } = await controller!.db.query<{ running: number }>(
        `SELECT running FROM htdag.queues WHERE name = 'core_a_q'`,
      );
      expect(rows[0]?.running).toBe(0);
      const retried = await controller!.retryRun(seen.runId, { steps });
      expect(retried.status).toBe("completed");
    } finally {
      release.open();
      await running;
    }
  });
});
