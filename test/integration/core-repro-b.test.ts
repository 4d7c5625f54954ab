/**
 * Bugs of the executor's settle/claim core (issue 17, cases 7, 9, 13a, 13b and 13f), reproduced
 * before the core was rebuilt (each failed then, marked `it.fails`) and passing since (migrations/
 * 0001_baseline.sql: finish_wave, cascade_tasks, settle_locked, stop_run, expand_task,
 * release_tasks). Each test asserts the behaviour the issue and docs/composing.md ask for. Nothing
 * here waits on a sleep: steps wait on gates, the test waits on database state.
 */
import { describe, expect, it } from "vitest";
import { NonRetryableError, validateGraph, type Decomposer, type Steps } from "../../src/index.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

const graphOf = (goal: string, tasks: TaskSpec[]) => validateGraph({ goal, tasks });

/** The id of the running run of `workflow` (composeFromTaskGraph resolves only when the run is final). */
async function runningRunId(orch: Orchestrator, workflow: string): Promise<string> {
  let id: string | undefined;
  await waitFor(
    async () => {
      id = (await orch.listRuns({ workflow, status: "running", limit: 1 }))[0]?.runId;
      return id !== undefined;
    },
    10_000,
    `a running run of ${workflow}`,
  );
  return id!;
}

async function taskStatus(orch: Orchestrator, runId: string, taskId: string): Promise<string | undefined> {
  const { rows } = await orch.db.query<{ status: string }>(
    `SELECT status FROM htdag.tasks WHERE run_id = $1 AND id = $2`,
    [runId, taskId],
  );
  return rows[0]?.status;
}

/** The ids of the tasks of `runId` that a `task:cancelled` event reports, sorted. */
async function cancelledEvents(orch: Orchestrator, runId: string): Promise<string[]> {
  const { rows } = await orch.db.query<{ task_id: string }>(
    `SELECT task_id FROM htdag.events WHERE run_id = $1 AND type = 'task:cancelled' ORDER BY task_id`,
    [runId],
  );
  return rows.map((row) => row.task_id);
}

describe.each(STORES)("settle/claim core reproductions on %s", (kind) => {
  const orch = useOrchestrator(kind);

  // issue 17, case 7: a skip does not cross a composite (its children skipped, it completes with {}, and the task after it runs) (failed before the core's rebuild, which fixed it).
  it("a task after a composite whose dependency was skipped is skipped, not run", async () => {
    const starts: string[] = [];
    const steps: Steps = {
      probe: async () => ({ go: false }),
      s: async () => {
        starts.push("s");
        return "s";
      },
      part: async (ctx) => {
        starts.push(ctx.task.id);
        return ctx.task.id;
      },
      t: async () => {
        starts.push("t");
        return "t";
      },
    };
    const graph = graphOf("skip across a composite", [
      { id: "probe" },
      { id: "s", dependsOn: ["probe"], when: { task: "probe", path: "go", op: "eq", value: true } },
      { id: "c", kind: "composite", dependsOn: ["s"] },
      { id: "c1", parentId: "c", step: "part" },
      { id: "c2", parentId: "c", step: "part" },
      { id: "t", dependsOn: ["c"] },
    ]);
    const result = await orch().composeFromTaskGraph(graph, steps, { workflow: "skip_composite" });
    // docs/composing.md, Conditions: a task whose condition is false is skipped, "and so are its
    // dependants that wait for all dependencies to succeed" — c, through its children, and t.
    expect(Object.fromEntries(result.tasks.map((t) => [t.id, t.status]))).toEqual({
      probe: "completed",
      s: "skipped",
      c: "skipped",
      c1: "skipped",
      c2: "skipped",
      t: "skipped",
    });
    expect(starts).toEqual([]);
    expect(result.status).toBe("completed");
  });

  /** A lazy composite `l` whose decomposer waits for the test, beside a task `bad` that may fail. */
  function lazyBesideFailure(workflow: string) {
    const decomposerEntered = gate();
    const expansionMayEnd = gate();
    const badMayFail = gate();
    const childStarts: string[] = [];
    const decomposer: Decomposer = async (_goal, ctx) => {
      if (!ctx.parent) {
        throw new Error("this test binds its graph; only the lazy composite is decomposed");
      }
      decomposerEntered.open();
      await expansionMayEnd.promise;
      return [
        { id: "x", step: "child" },
        { id: "y", step: "child" },
      ];
    };
    const steps: Steps = {
      bad: async () => {
        await badMayFail.promise;
        throw new NonRetryableError("bad fails for good");
      },
      child: async (ctx) => {
        childStarts.push(ctx.task.id);
        return ctx.task.id;
      },
    };
    const graph = graphOf("lazy children after a stop", [
      { id: "bad", maxAttempts: 1 },
      { id: "l", kind: "composite", expand: "lazy", description: "expanded while the run stops" },
    ]);
    const pending = orch().composeFromTaskGraph(graph, steps, { workflow, decomposer, failFast: true });
    return { pending, decomposerEntered, expansionMayEnd, badMayFail, childStarts };
  }

  // issue 17, case 9: lazy children expanded after failFast still start (expand_task only checks that the run is running) (failed before the core's rebuild, which fixed it).
  it("a lazy composite expanded after a failFast failure starts none of its children", async () => {
    const run = lazyBesideFailure("lazy_fail_fast");
    await run.decomposerEntered.promise;
    const runId = await runningRunId(orch(), "lazy_fail_fast");
    run.badMayFail.open();
    await waitFor(async () => (await taskStatus(orch(), runId, "bad")) === "failed", 10_000, "bad to fail");
    run.expansionMayEnd.open();
    const result = await run.pending;
    expect(run.childStarts).toEqual([]);
    expect(result.status).toBe("failed");
    const statuses = Object.fromEntries(result.tasks.map((t) => [t.id, t.status]));
    expect(statuses.bad).toBe("failed");
    // The composite ends without completing (cancelled, or failed with its cancelled children).
    expect(["cancelled", "failed"]).toContain(statuses.l);
    // Children the expansion may have inserted are cancelled, never run.
    for (const task of result.tasks.filter((t) => t.parentId === "l")) {
      expect(task.status, task.id).toBe("cancelled");
    }
  });

  // issue 17, case 9 (cancelRun variant): the children do not start (expand_task refuses a run that is not running), but the composite is left 'running' in the cancelled run (failed before the core's rebuild, which fixed it).
  it("a lazy composite whose run is cancelled during its expansion starts none of its children and ends cancelled", async () => {
    const run = lazyBesideFailure("lazy_cancel");
    await run.decomposerEntered.promise;
    const runId = await runningRunId(orch(), "lazy_cancel");
    await orch().cancelRun(runId, "cancelled during the expansion");
    run.expansionMayEnd.open();
    const result = await run.pending;
    run.badMayFail.open();
    expect(run.childStarts).toEqual([]);
    expect(result.status).toBe("cancelled");
    const statuses = Object.fromEntries(result.tasks.map((t) => [t.id, t.status]));
    expect(statuses).toMatchObject({ l: "cancelled" });
    for (const task of result.tasks.filter((t) => t.parentId === "l")) {
      expect(task.status, task.id).toBe("cancelled");
    }
  });

  // issue 17, case 13a: failFast does not abort running steps in other branches, although docs/composing.md says it does (failed before the core's rebuild, which fixed it).
  it("failFast aborts a running step of another branch, which ends cancelled", async () => {
    const bStarted = gate();
    const bMayEnd = gate();
    let bAborted = false;
    const steps: Steps = {
      a: async () => {
        await bStarted.promise;
        throw new NonRetryableError("a fails for good");
      },
      b: async (ctx) => {
        const aborted = new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
        bStarted.open();
        await Promise.race([aborted, bMayEnd.promise]);
        bAborted = ctx.signal.aborted;
        return "b";
      },
    };
    const pending = orch().composeFromTaskGraph(
      graphOf("fail fast aborts other branches", [{ id: "a", maxAttempts: 1 }, { id: "b" }]),
      steps,
      { workflow: "fail_fast_abort", failFast: true },
    );
    // Generous: an abort is one settle away; 5 s without one means none is coming.
    const abortedInTime = await waitFor(() => bAborted, 5_000, "b's signal to abort").then(
      () => true,
      () => false,
    );
    // Lets b end either way, so the run finishes and the assertions below see its final state.
    bMayEnd.open();
    const result = await pending;
    expect(abortedInTime, "b's signal aborted within 5 s of a's failure").toBe(true);
    expect(result.status).toBe("failed");
    expect(Object.fromEntries(result.tasks.map((t) => [t.id, t.status]))).toEqual({ a: "failed", b: "cancelled" });
  });

  // issue 17, case 13b: tasks cancelled by failFast emit no task:cancelled (the old failFast UPDATE wrote no event) (failed before the core's rebuild, which fixed it).
  it("every task that failFast cancels has a task:cancelled event", async () => {
    const steps: Steps = {
      a: async () => {
        throw new NonRetryableError("a fails for good");
      },
      b: async () => "b",
      c: async () => "c",
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("fail fast events", [
        { id: "a", maxAttempts: 1 },
        { id: "b", dependsOn: ["a"] },
        { id: "c", dependsOn: ["b"] },
      ]),
      steps,
      { workflow: "fail_fast_events", failFast: true },
    );
    const cancelled = result.tasks.filter((t) => t.status === "cancelled").map((t) => t.id);
    expect(cancelled.sort()).toEqual(["b", "c"]);
    expect(await cancelledEvents(orch(), result.runId)).toEqual(["b", "c"]);
  });

  // issue 17, case 13b: tasks cancelled by stop_run (cancelRun) emit no task:cancelled; only the running one, settled after its abort, does (failed before the core's rebuild, which fixed it).
  it("every task that cancelRun cancels has a task:cancelled event", async () => {
    const longStarted = gate();
    const steps: Steps = {
      long: async (ctx) => {
        longStarted.open();
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return null;
      },
      after: async () => "after",
      waiting: async () => "waiting",
    };
    // maxParallel 1: `waiting` stays ready (no slot), `after` pending (its dependency runs).
    const pending = orch().composeFromTaskGraph(
      graphOf("cancel events", [{ id: "long", priority: 1 }, { id: "after", dependsOn: ["long"] }, { id: "waiting" }]),
      steps,
      { workflow: "cancel_events", maxParallel: 1 },
    );
    await longStarted.promise;
    const runId = await runningRunId(orch(), "cancel_events");
    await orch().cancelRun(runId, "user pressed stop");
    const result = await pending;
    expect(result.status).toBe("cancelled");
    const cancelled = result.tasks.filter((t) => t.status === "cancelled").map((t) => t.id);
    expect(cancelled.sort()).toEqual(["after", "long", "waiting"]);
    expect(await cancelledEvents(orch(), runId)).toEqual(["after", "long", "waiting"]);
  });

  // issue 17, case 13f: release_tasks neither locks nor reads the run, so a stopping worker hands a task of a cancelled run back to 'ready', where it stays (failed before the core's rebuild, which fixed it).
  it("a worker that stops after its run was cancelled leaves no task of the run unfinished", async () => {
    const longStarted = gate();
    const steps: Steps = {
      long: async (ctx) => {
        longStarted.open();
        // Ends only when the worker's stop runs out of time and aborts it.
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return null;
      },
    };
    // No NOTIFY for this run: the worker does not hear of the cancel, exactly as a stopping worker
    // that has closed its LISTEN connection does not.
    const { runId } = await orch().submit(graphOf("release after cancel", [{ id: "long" }]), {
      workflow: "release_after_cancel",
      realTimeNotifications: false,
    });
    const worker = await orch().startWorker({
      workflows: { release_after_cancel: steps },
      pollIntervalMs: 50,
      stopTimeoutMs: 100,
    });
    try {
      await longStarted.promise;
      await orch().cancelRun(runId, "cancelled while a worker runs its task");
    } finally {
      // Runs out of time, aborts the step and hands back what it holds (release_tasks).
      await worker.stop();
    }
    const run = await orch().getRun(runId);
    expect(run.status).toBe("cancelled");
    // A final run holds only final tasks: the released task is cancelled, not ready to run again.
    expect(Object.fromEntries(run.tasks.map((t) => [t.id, t.status]))).toEqual({ long: "cancelled" });
  });
});
