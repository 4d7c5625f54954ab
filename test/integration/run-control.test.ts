import { describe, expect, it } from "vitest";
import {
  IllegalTransitionError,
  RunNotFoundError,
  InvalidOptionError,
  type Steps,
  type TaskGraph,
} from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { gate, waitFor } from "../helpers/wait.js";

const graphOf = (goal: string, tasks: TaskSpec[]): TaskGraph => validateGraph({ goal, tasks });

async function runningRunId(orch: ReturnType<ReturnType<typeof useOrchestrator>>, workflow: string): Promise<string> {
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

describe.each(STORES)("run control on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("cancels a run: the running step's signal aborts and nothing else starts", async () => {
    const started = gate();
    let abortedWith: unknown;
    const steps: Steps = {
      long: async (ctx) => {
        started.open();
        await new Promise((r) => ctx.signal.addEventListener("abort", r));
        abortedWith = ctx.signal.reason;
        return null;
      },
      after: async () => {
        throw new Error("must not run");
      },
    };
    const pending = orch().composeFromTaskGraph(
      graphOf("cancel me", [{ id: "long" }, { id: "after", dependsOn: ["long"] }]),
      steps,
      { workflow: "cancel_me" },
    );
    await started.promise;
    const runId = await runningRunId(orch(), "cancel_me");
    await orch().cancelRun(runId, "user pressed stop");
    const result = await pending;
    expect(result.status).toBe("cancelled");
    expect(String(abortedWith)).toMatch(/user pressed stop/);
    expect(Object.fromEntries(result.tasks.map((t) => [t.id, t.status]))).toEqual({
      long: "cancelled",
      after: "cancelled",
    });
    await expect(orch().cancelRun(runId)).rejects.toThrow(IllegalTransitionError);
  });

  it("pauses (running steps finish, nothing new starts) and resumes", async () => {
    const first = gate();
    const release = gate();
    const starts: string[] = [];
    const steps: Steps = {
      a: async () => {
        starts.push("a");
        first.open();
        await release.promise;
        return 1;
      },
      b: async () => {
        starts.push("b");
        return 2;
      },
    };
    const pending = orch().composeFromTaskGraph(
      graphOf("pause me", [{ id: "a" }, { id: "b", dependsOn: ["a"] }]),
      steps,
      { workflow: "pause_me" },
    );
    await first.promise;
    const runId = await runningRunId(orch(), "pause_me");
    await orch().pauseRun(runId, "maintenance");
    release.open();
    await waitFor(async () => (await orch().getRun(runId)).tasks.find((t) => t.id === "a")?.status === "completed");
    expect(starts).toEqual(["a"]);
    expect((await orch().getRun(runId)).status).toBe("paused");
    await expect(orch().pauseRun(runId)).rejects.toThrow(/only a running run can be paused/);
    await orch().resumeRun(runId);
    const result = await pending;
    expect(result.status).toBe("completed");
    expect(starts).toEqual(["a", "b"]);
    await expect(orch().resumeRun(runId)).rejects.toThrow(IllegalTransitionError);
  });

  it("retries from a task: re-runs it and everything downstream, keeps other outputs", async () => {
    const calls: Record<string, number> = {};
    let failPlan = true;
    const count = (id: string) => (calls[id] = (calls[id] ?? 0) + 1);
    const steps: Steps = {
      research: async () => {
        count("research");
        return { facts: 3 };
      },
      plan: async () => {
        count("plan");
        if (failPlan) {
          throw new Error("planner down");
        }
        return { steps: 2 };
      },
      write: async (ctx) => {
        count("write");
        return { from: ctx.deps.plan };
      },
      side: async () => {
        count("side");
        return "side";
      },
    };
    const graph = graphOf("retry me", [
      { id: "research" },
      { id: "plan", dependsOn: ["research"] },
      { id: "write", dependsOn: ["plan"] },
      { id: "side" },
    ]);
    const failed = await orch().composeFromTaskGraph(graph, steps, { maxAttempts: 1, failFast: false });
    expect(failed.status).toBe("failed");
    expect(failed.outputs).toEqual({ research: { facts: 3 }, side: "side" });
    failPlan = false;
    const retried = await orch().retryRun(failed.runId, { fromTask: "plan" });
    expect(retried.status).toBe("completed");
    expect(retried.outputs).toEqual({
      research: { facts: 3 },
      plan: { steps: 2 },
      write: { from: { steps: 2 } },
      side: "side",
    });
    expect(calls).toEqual({ research: 1, plan: 2, write: 1, side: 1 });
    expect(retried.tasks.find((t) => t.id === "plan")?.attempts).toBe(2);
  });

  it("times out a whole run: running steps abort, the run is timed_out", async () => {
    const steps: Steps = {
      hang: async (ctx) => {
        await new Promise((r) => ctx.signal.addEventListener("abort", r));
        return null;
      },
      later: async () => null,
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("too slow", [{ id: "hang" }, { id: "later", dependsOn: ["hang"] }]),
      steps,
      { timeoutMs: 150 },
    );
    expect(result.status).toBe("timed_out");
    expect(result.tasks.map((t) => t.status)).toEqual(["cancelled", "cancelled"]);
  });

  it("names unknown runs and refuses illegal moves", async () => {
    await expect(orch().getRun("00000000-0000-4000-8000-000000000000")).rejects.toThrow(RunNotFoundError);
    await expect(orch().cancelRun("not-a-uuid")).rejects.toThrow(/no run with id "not-a-uuid"/);
    const done = await orch().composeFromTaskGraph(graphOf("done", [{ id: "x" }]), { x: async () => 1 });
    await expect(orch().resumeRun(done.runId)).rejects.toThrow(/cannot move run .* from completed to running/);
    await expect(orch().retryRun(done.runId)).rejects.toThrow(/every task completed/);
    await expect(orch().retryRun(done.runId, { fromTask: "nope" })).rejects.toThrow(InvalidOptionError);
  });

  it("runs higher-priority ready tasks first", async () => {
    const order: string[] = [];
    const step = async (ctx: { task: { id: string } }) => {
      order.push(ctx.task.id);
      return null;
    };
    const tasks = [
      { id: "low", step: "s", priority: -5 },
      { id: "mid", step: "s" },
      { id: "high", step: "s", priority: 9 },
    ];
    await orch().composeFromTaskGraph(graphOf("priorities", tasks), { s: step } as Steps, { maxParallel: 1 });
    expect(order).toEqual(["high", "mid", "low"]);
  });

  it("holds a queue's concurrency limit below maxParallel", async () => {
    let running = 0;
    let peak = 0;
    const llm = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
      return null;
    };
    const tasks = Array.from({ length: 8 }, (_, i) => ({ id: `call${i}`, step: "llm", queue: "llm_api" }));
    const result = await orch().composeFromTaskGraph(
      graphOf("queued", tasks),
      { llm },
      { maxParallel: 8, queues: { llm_api: 2 } },
    );
    expect(result.status).toBe("completed");
    expect(peak).toBe(2);
  });

  it("returns the existing run for a repeated idempotency key", async () => {
    let calls = 0;
    const steps: Steps = { once: async () => ++calls };
    const graph = graphOf("idempotent", [{ id: "once" }]);
    const key = `key-${kind}-${Date.now()}`;
    const first = await orch().composeFromTaskGraph(graph, steps, { idempotencyKey: key });
    const second = await orch().composeFromTaskGraph(graph, steps, { idempotencyKey: key });
    expect(second.runId).toBe(first.runId);
    expect(second.outputs).toEqual({ once: 1 });
    expect(calls).toBe(1);
  });

  it("with failFast false, independent branches finish and cleanup runs", async () => {
    const ran: string[] = [];
    const ok = async (ctx: { task: { id: string } }) => {
      ran.push(ctx.task.id);
      return null;
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("branches", [
        { id: "bad", step: "bad" },
        { id: "after_bad", step: "ok", dependsOn: ["bad"] },
        { id: "good", step: "ok" },
        { id: "after_good", step: "ok", dependsOn: ["good"] },
        { id: "compensate", step: "ok", dependsOn: ["bad"], runIf: "anyFailed" },
      ]),
      {
        ok,
        bad: async () => {
          throw new Error("nope");
        },
      } as Steps,
      { failFast: false, maxAttempts: 1 },
    );
    expect(result.status).toBe("failed");
    expect(ran.sort()).toEqual(["after_good", "compensate", "good"]);
    expect(Object.fromEntries(result.tasks.map((t) => [t.id, t.status]))).toEqual({
      bad: "failed",
      after_bad: "cancelled",
      good: "completed",
      after_good: "completed",
      compensate: "completed",
    });
  });
});
