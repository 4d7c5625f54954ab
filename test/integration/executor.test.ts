import { describe, expect, it } from "vitest";
import { z } from "zod";
import { defineStep, NonRetryableError, type Steps, type TaskGraph } from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const graphOf = (goal: string, tasks: TaskSpec[]): TaskGraph => validateGraph({ goal, tasks });
const fast = { backoff: { baseMs: 5, maxMs: 20, jitter: 0 } };

describe.each(STORES)("executor on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("runs a chain in order and passes each dependency's output to its dependant", async () => {
    const starts: string[] = [];
    const steps: Steps = {
      fetch: async (ctx) => {
        starts.push(ctx.task.id);
        return { n: 1 };
      },
      double: async (ctx) => {
        starts.push(ctx.task.id);
        return { n: (ctx.deps.fetch as { n: number }).n * 2 };
      },
      report: async (ctx) => {
        starts.push(ctx.task.id);
        return { text: `n=${(ctx.deps.double as { n: number }).n}`, deps: Object.keys(ctx.deps) };
      },
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("chain", [
        { id: "fetch" },
        { id: "double", dependsOn: ["fetch"] },
        { id: "report", dependsOn: ["double"] },
      ]),
      steps,
    );
    expect(result.status).toBe("completed");
    expect(starts).toEqual(["fetch", "double", "report"]);
    expect(result.outputs).toEqual({ fetch: { n: 1 }, double: { n: 2 }, report: { text: "n=2", deps: ["double"] } });
    expect(result.tasks.map((t) => [t.id, t.status, t.attempts])).toEqual([
      ["fetch", "completed", 1],
      ["double", "completed", 1],
      ["report", "completed", 1],
    ]);
  });

  it("never runs more than maxParallel tasks at once", async () => {
    let running = 0;
    let peak = 0;
    const work = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 15));
      running--;
      return null;
    };
    const tasks = Array.from({ length: 20 }, (_, i) => ({ id: `t${i}`, step: "work" }));
    const result = await orch().composeFromTaskGraph(graphOf("wide", tasks), { work }, { maxParallel: 3 });
    expect(result.status).toBe("completed");
    expect(peak).toBe(3);
  });

  it("retries a failing step with backoff and records every attempt", async () => {
    let calls = 0;
    const steps: Steps = {
      flaky: async (ctx) => {
        calls++;
        if (ctx.attempt < 3) {
          throw new Error(`boom ${ctx.attempt}`);
        }
        return { ok: ctx.attempt };
      },
    };
    const result = await orch().composeFromTaskGraph(graphOf("flaky", [{ id: "flaky" }]), steps, {
      ...fast,
      maxAttempts: 3,
    });
    expect(result.status).toBe("completed");
    expect(calls).toBe(3);
    expect(result.outputs.flaky).toEqual({ ok: 3 });
    expect(result.tasks[0]?.attempts).toBe(3);
    const { rows } = await orch().db.query<{ attempt: number; status: string }>(
      `SELECT attempt, status FROM htdag.attempts WHERE run_id = $1 ORDER BY attempt`,
      [result.runId],
    );
    expect(rows).toEqual([
      { attempt: 1, status: "failed" },
      { attempt: 2, status: "failed" },
      { attempt: 3, status: "completed" },
    ]);
  });

  it("fails at once on NonRetryableError and cancels what had not started (failFast)", async () => {
    let later = 0;
    const steps: Steps = {
      bad: async () => {
        throw new NonRetryableError("bad input");
      },
      after: async () => {
        later++;
        return null;
      },
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("nonretry", [{ id: "bad" }, { id: "after", dependsOn: ["bad"] }]),
      steps,
      { maxAttempts: 5 },
    );
    expect(result.status).toBe("failed");
    expect(later).toBe(0);
    expect(result.tasks.map((t) => [t.id, t.status, t.attempts])).toEqual([
      ["bad", "failed", 1],
      ["after", "cancelled", 0],
    ]);
    expect(result.error?.message).toMatch(/bad/);
  });

  it("aborts the step's signal on timeout and retries per policy", async () => {
    const aborted: number[] = [];
    const steps: Steps = {
      slow: defineStep({
        timeoutMs: 50,
        maxAttempts: 2,
        run: async (ctx) => {
          if (ctx.attempt === 1) {
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
            aborted.push(ctx.attempt);
            return null;
          }
          return { attempt: ctx.attempt };
        },
      }),
    };
    const result = await orch().composeFromTaskGraph(graphOf("timeouts", [{ id: "slow" }]), steps, fast);
    expect(result.status).toBe("completed");
    expect(aborted).toEqual([1]);
    const { rows } = await orch().db.query<{ status: string; error_class: string }>(
      `SELECT status, error_class FROM htdag.attempts WHERE run_id = $1 ORDER BY attempt`,
      [result.runId],
    );
    expect(rows).toEqual([
      { status: "timed_out", error_class: "StepTimeoutError" },
      { status: "completed", error_class: null },
    ]);
  });

  it("reports every task that lacks a step before anything runs", async () => {
    const graph = graphOf("missing", [{ id: "a" }, { id: "b", step: "nope" }, { id: "c", dependsOn: ["a"] }]);
    const before = await orch().listRuns({ limit: 1000 });
    const error = await orch()
      .composeFromTaskGraph(graph, { a: async () => 1 })
      .catch((e) => e);
    expect(error.name).toBe("GraphValidationError");
    expect(error.issues.map((i: { path: string }) => i.path)).toEqual(["tasks[1].step", "tasks[2].id"]);
    expect((await orch().listRuns({ limit: 1000 })).length).toBe(before.length);
  });

  it("rejects output that is not JSON with a clear error", async () => {
    const result = await orch().composeFromTaskGraph(graphOf("nonjson", [{ id: "a" }]), {
      a: async () => ({ when: new Date(0) }),
    });
    expect(result.status).toBe("failed");
    expect(result.tasks[0]?.error?.message).toMatch(/not JSON \(output\.when is an instance of Date\)/);
    expect(result.tasks[0]?.attempts).toBe(1);
  });

  it("skips a task whose condition is false, and its dependants", async () => {
    const ran: string[] = [];
    const step = (out: unknown) => async (ctx: { task: { id: string } }) => {
      ran.push(ctx.task.id);
      return out;
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("conditions", [
        { id: "check", step: "check" },
        {
          id: "deploy",
          step: "noop",
          dependsOn: ["check"],
          when: { task: "check", path: "ok", op: "eq", value: true },
        },
        { id: "notify", step: "noop", dependsOn: ["deploy"] },
        { id: "cleanup", step: "noop", dependsOn: ["deploy"], runIf: "allDone" },
      ]),
      { check: step({ ok: false }), noop: step(null) } as Steps,
    );
    expect(result.status).toBe("completed");
    expect(ran).toEqual(["check", "cleanup"]);
    expect(Object.fromEntries(result.tasks.map((t) => [t.id, t.status]))).toEqual({
      check: "completed",
      deploy: "skipped",
      notify: "skipped",
      cleanup: "completed",
    });
  });

  it("fans out with forEach and collects outputs in item order", async () => {
    const steps: Steps = {
      list: async () => ({ files: ["a.ts", "bb.ts", "ccc.ts", "d.ts", "ee.ts"] }),
      count: async (ctx) => {
        const { item } = ctx.input as { item: string };
        await new Promise((r) => setTimeout(r, (5 - item.length) * 3));
        return item.length;
      },
      sum: async (ctx) => (ctx.deps.count as number[]).reduce((a, b) => a + b, 0),
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("fan", [
        { id: "list" },
        { id: "count", dependsOn: ["list"], forEach: { from: "list", path: "files" } },
        { id: "sum", dependsOn: ["count"] },
      ]),
      steps,
    );
    expect(result.outputs.count).toEqual([4, 5, 6, 4, 5]);
    expect(result.outputs.sum).toBe(24);
  });

  it("runs a composite's children after its dependencies and gives dependants all their outputs", async () => {
    const order: string[] = [];
    const rec = (out: unknown) => async (ctx: { task: { id: string } }) => {
      order.push(ctx.task.id);
      return out;
    };
    const result = await orch().composeFromTaskGraph(
      graphOf("hier", [
        { id: "setup", step: "s" },
        { id: "build", dependsOn: ["setup"] },
        { id: "compile", parentId: "build", step: "s" },
        { id: "bundle", parentId: "build", step: "s", dependsOn: ["compile"] },
        { id: "ship", dependsOn: ["build"], step: "ship" },
      ]),
      {
        s: rec("ok"),
        ship: async (ctx) => {
          order.push("ship");
          return ctx.deps;
        },
      } as Steps,
    );
    expect(result.status).toBe("completed");
    expect(order).toEqual(["setup", "compile", "bundle", "ship"]);
    expect(result.outputs.ship).toEqual({ build: { compile: "ok", bundle: "ok" } });
  });

  it("validates step input and output schemas", async () => {
    const steps: Steps = {
      typed: defineStep({
        input: z.object({ n: z.number() }),
        output: z.object({ m: z.number() }),
        run: async ({ input }) => ({ m: input.n + 1 }),
      }),
    };
    const ok = await orch().composeFromTaskGraph(graphOf("typed", [{ id: "typed", input: { n: 1 } }]), steps);
    expect(ok.outputs.typed).toEqual({ m: 2 });
    const bad = await orch().composeFromTaskGraph(graphOf("typed-bad", [{ id: "typed", input: { n: "x" } }]), steps);
    expect(bad.status).toBe("failed");
    expect(bad.tasks[0]?.error?.message).toBe(
      'input of task "typed" does not match its step\'s input schema: n: expected a number, received the string "x"',
    );
  });
});
