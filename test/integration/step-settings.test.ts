import { describe, expect, it } from "vitest";
import { defineStep, InvalidOptionError, type Steps } from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

describe.each(STORES)("step settings on %s", (kind) => {
  const orch = useOrchestrator(kind, {
    defaults: { maxAttempts: 2, timeoutMs: 20_000, queue: "general", priority: 1 },
  });

  it("resolves settings by precedence: task > step definition > run options > orchestrator defaults", async () => {
    const noop = async () => null;
    const steps: Steps = {
      plain: noop,
      tuned: defineStep({ maxAttempts: 7, timeoutMs: 7_000, queue: "step_q", priority: 7, run: noop }),
    };
    const graph = validateGraph({
      goal: "precedence",
      tasks: [
        { id: "by_task", step: "tuned", maxAttempts: 9, timeoutMs: 9_000, queue: "task_q", priority: 9 },
        { id: "by_step", step: "tuned" },
        { id: "by_run", step: "plain" },
      ],
    });
    const result = await orch().composeFromTaskGraph(graph, steps, {
      maxAttempts: 5,
      taskTimeoutMs: 5_000,
      queue: "run_q",
      priority: 5,
    });
    const { rows } = await orch().db.query(
      `SELECT id, max_attempts, timeout_ms, queue, priority FROM htdag.tasks WHERE run_id = $1 ORDER BY position`,
      [result.runId],
    );
    expect(rows).toEqual([
      { id: "by_task", max_attempts: 9, timeout_ms: 9_000, queue: "task_q", priority: 9 },
      { id: "by_step", max_attempts: 7, timeout_ms: 7_000, queue: "step_q", priority: 7 },
      { id: "by_run", max_attempts: 5, timeout_ms: 5_000, queue: "run_q", priority: 5 },
    ]);
    const defaults = await orch().composeFromTaskGraph(
      validateGraph({ goal: "defaults", tasks: [{ id: "plain" }] }),
      steps,
    );
    const { rows: fallback } = await orch().db.query(
      `SELECT max_attempts, timeout_ms, queue, priority FROM htdag.tasks WHERE run_id = $1`,
      [defaults.runId],
    );
    expect(fallback).toEqual([{ max_attempts: 2, timeout_ms: 20_000, queue: "general", priority: 1 }]);
  });

  it("forEach with batchSize calls the step once per batch and flattens outputs in order", async () => {
    const batches: unknown[][] = [];
    const steps: Steps = {
      list: async () => ({ items: [1, 2, 3, 4, 5, 6, 7] }),
      square: async (ctx) => {
        const { items } = ctx.input as { items: number[] };
        batches.push(items);
        return items.map((n) => n * n);
      },
    };
    const result = await orch().composeFromTaskGraph(
      validateGraph({
        goal: "batches",
        tasks: [
          { id: "list" },
          { id: "square", dependsOn: ["list"], forEach: { from: "list", path: "items", batchSize: 3 } },
        ],
      }),
      steps,
    );
    expect(result.outputs.square).toEqual([1, 4, 9, 16, 25, 36, 49]);
    expect(batches.map((b) => b.length).sort()).toEqual([1, 3, 3]);
  });

  it("stores ctx.log lines and ctx.progress events of the attempt", async () => {
    const steps: Steps = {
      work: async (ctx) => {
        ctx.log("starting", { files: 2 });
        ctx.progress(1, 2);
        ctx.progress(2, 2);
        return "done";
      },
    };
    const result = await orch().composeFromTaskGraph(
      validateGraph({ goal: "observable", tasks: [{ id: "work" }] }),
      steps,
    );
    const read = async () => {
      const logs = await orch().db.query(`SELECT attempt, message, data FROM htdag.task_logs WHERE run_id = $1`, [
        result.runId,
      ]);
      const progress = await orch().db.query<{ payload: unknown }>(
        `SELECT payload FROM htdag.events WHERE run_id = $1 AND type = 'task:progress' ORDER BY id`,
        [result.runId],
      );
      return { logs: logs.rows, progress: progress.rows.map((r) => r.payload) };
    };
    // log and progress writes are not awaited by the step; wait for them to land.
    let seen = await read();
    for (let i = 0; i < 200 && (seen.logs.length < 1 || seen.progress.length < 2); i++) {
      await new Promise((r) => setTimeout(r, 10));
      seen = await read();
    }
    expect(seen.logs).toEqual([{ attempt: 1, message: "starting", data: { files: 2 } }]);
    expect(seen.progress).toEqual([
      { attempt: 1, done: 1, total: 2 },
      { attempt: 1, done: 2, total: 2 },
    ]);
  });

  it("throttles task:progress to one event per 100 ms per attempt, always keeping the last", async () => {
    const steps: Steps = {
      many: async (ctx) => {
        for (let done = 1; done <= 200; done++) {
          ctx.progress(done, 200);
        }
        return null;
      },
    };
    const result = await orch().composeFromTaskGraph(validateGraph({ goal: "chatty", tasks: [{ id: "many" }] }), steps);
    const read = () =>
      orch().db.query<{ payload: { done: number } }>(
        `SELECT payload FROM htdag.events WHERE run_id = $1 AND type = 'task:progress' ORDER BY id`,
        [result.runId],
      );
    let rows = (await read()).rows;
    for (let i = 0; i < 200 && rows.at(-1)?.payload.done !== 200; i++) {
      await new Promise((r) => setTimeout(r, 10));
      rows = (await read()).rows;
    }
    expect(rows.map((r) => r.payload.done)).toEqual([1, 200]);
  });

  it("names a bad run option, what was expected and what was given; nothing is stored", async () => {
    const graph = validateGraph({ goal: "bad options", tasks: [{ id: "a" }] });
    const before = (await orch().listRuns({ limit: 1000 })).length;
    await expect(orch().composeFromTaskGraph(graph, { a: async () => 1 }, { maxParallel: 0 })).rejects.toThrow(
      "invalid option `maxParallel` in composeFromTaskGraph: expected an integer of at least 1, received number 0",
    );
    await expect(orch().composeFromTaskGraph(graph, { a: async () => 1 }, { maxParalel: 2 } as never)).rejects.toThrow(
      InvalidOptionError,
    );
    await expect(orch().composeFromTaskGraph(graph, { a: "not a function" } as never)).rejects.toThrow(
      /`steps\.a`.*a function or a defineStep/,
    );
    await expect(
      orch().composeFromTaskGraph(graph, { a: async () => 1 }, { optimizationLevel: "extreme" } as never),
    ).rejects.toThrow(/`optimizationLevel`/);
    expect((await orch().listRuns({ limit: 1000 })).length).toBe(before);
  });
});
