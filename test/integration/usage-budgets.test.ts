/**
 * Usage and budgets (design.md §14, issue 21): ctx.usage stored against the attempt and the run,
 * pricing, budgets that stop a run part-way (no task starts after the limit, budget:exceeded
 * stored, the run failed with BudgetExceededError's message), checkBudget, and retryRun raising
 * the budget.
 */
import { describe, expect, it } from "vitest";
import { BudgetExceededError, type Steps, type TaskGraph } from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import type { DecomposerContext } from "../../src/graph/decomposer.js";
import type { ServicedContext } from "../../src/decomposers/services.js";

/** A chain of `n` tasks t0 → t1 → …, each running `step`. */
const chain = (goal: string, n: number, step = "call"): TaskGraph =>
  validateGraph({
    goal,
    tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, step, ...(i ? { dependsOn: [`t${i - 1}`] } : {}) })),
  });

const PRICING = { "test-model": { inputPerMTok: 2, outputPerMTok: 8 } };

describe.each(STORES)("usage and budgets on %s", (kind) => {
  const orch = useOrchestrator(kind, { pricing: PRICING });

  /** Steps whose each call reports 100 input and 50 output tokens of test-model, and records who started. */
  const reporting = (started: string[]): Steps => ({
    call: async (ctx) => {
      started.push(ctx.task.id);
      await ctx.checkBudget();
      await ctx.usage({ model: "test-model", inputTokens: 100, outputTokens: 50 });
      return ctx.task.id;
    },
  });

  it("sums the steps' usage on the run and on each task, priced per model", async () => {
    const started: string[] = [];
    const result = await orch().composeFromTaskGraph(chain("priced chain", 3), reporting(started));
    expect(result.status).toBe("completed");
    // 150 tokens a call: 100 × $2/M + 50 × $8/M = $0.0006.
    expect(result.usage).toEqual({ llmCalls: 3, inputTokens: 300, outputTokens: 150, costUsd: 0.0018 });
    expect(result.tasks.map((t) => t.usage)).toEqual(
      Array(3).fill({ llmCalls: 1, inputTokens: 100, outputTokens: 50, costUsd: 0.0006 }),
    );
    expect((await orch().getRun(result.runId)).usage).toEqual(result.usage);
    const [summary] = await orch().listRuns({ workflow: result.workflow, limit: 1 });
    expect(summary?.usage).toEqual(result.usage);
    const { rows } = await orch().db.query<{ source: string; model: string; task_id: string; attempt: number }>(
      "SELECT source, model, task_id, attempt FROM htdag.usage_records WHERE run_id = $1 ORDER BY id",
      [result.runId],
    );
    expect(rows).toEqual(
      ["t0", "t1", "t2"].map((id) => ({ source: "step", model: "test-model", task_id: id, attempt: 1 })),
    );
  });

  it("a token budget stops a run part-way: no task starts after the limit, budget:exceeded is stored", async () => {
    const started: string[] = [];
    // 150 tokens a task: the third reaches 450 ≥ 400.
    const result = await orch().composeFromTaskGraph(chain("token budget", 6), reporting(started), {
      budget: { tokens: 400 },
    });
    expect(result.status).toBe("failed");
    expect(started).toEqual(["t0", "t1", "t2"]);
    expect(result.usage).toMatchObject({ llmCalls: 3, inputTokens: 300, outputTokens: 150 });
    const expected = new BudgetExceededError(
      result.runId,
      { tokens: 450, costUsd: 0.0018, llmCalls: 3 },
      { tokens: 400 },
    );
    expect(result.error?.message).toBe(expected.message);
    expect(Object.fromEntries(result.tasks.map((t) => [t.id, t.status]))).toEqual({
      t0: "completed",
      t1: "completed",
      t2: "cancelled",
      t3: "cancelled",
      t4: "cancelled",
      t5: "cancelled",
    });
    const events = await orch().notifications.getRecentEvents({ runId: result.runId, types: ["budget:exceeded"] });
    expect(events.map((e) => e.payload)).toEqual([
      { spent: { tokens: 450, costUsd: 0.0018, llmCalls: 3 }, budget: { tokens: 400 } },
    ]);
    const { rows } = await orch().db.query<{ error: Record<string, unknown> }>(
      "SELECT error FROM htdag.runs WHERE id = $1",
      [result.runId],
    );
    expect(rows[0]!.error).toMatchObject({
      name: "BudgetExceededError",
      code: "BUDGET_EXCEEDED",
      budget: { tokens: 400 },
    });
  });

  it("ctx.usage rejects with BudgetExceededError once llmCalls or costUsd limits are reached", async () => {
    let rejected: unknown;
    const steps: Steps = {
      call: async (ctx) => {
        try {
          await ctx.usage({ model: "test-model", inputTokens: 10, outputTokens: 10, costUsd: 0.5 });
        } catch (error) {
          rejected = error;
          throw error;
        }
        return null;
      },
    };
    const byCost = await orch().composeFromTaskGraph(chain("cost budget", 4), steps, { budget: { costUsd: 1 } });
    expect(byCost.status).toBe("failed");
    expect(rejected).toBeInstanceOf(BudgetExceededError);
    expect((rejected as BudgetExceededError).spent).toEqual({ tokens: 40, costUsd: 1, llmCalls: 2 });
    expect(byCost.usage.llmCalls).toBe(2);

    const started: string[] = [];
    const byCalls = await orch().composeFromTaskGraph(chain("call budget", 5), reporting(started), {
      budget: { llmCalls: 2, costUsd: 100 },
    });
    expect(byCalls.status).toBe("failed");
    expect(started).toEqual(["t0", "t1"]);
    expect(byCalls.error?.message).toMatch(/reached its budget \(llmCalls 2 of 2\)/);
  });

  it("checkBudget rejects before a call once the budget is reached, and a revision's usage is charged", async () => {
    // A revision's decomposition (3 calls) is spend of the run: recorded with the revision.
    let asked = 0;
    const decomposer = async (_goal: string, ctx: DecomposerContext) => {
      asked++;
      const usage = (ctx as ServicedContext).services!.usage;
      usage.llmCalls += 3;
      usage.inputTokens += 1000;
      usage.outputTokens += 200;
      usage.model = "test-model";
      return [{ id: "fixed", step: "call" }];
    };
    const steps: Steps = {
      broken: async () => {
        throw new Error("broken for good");
      },
      call: async (ctx) => {
        await ctx.checkBudget();
        await ctx.usage({ model: "test-model", inputTokens: 100, outputTokens: 50 });
        return null;
      },
    };
    const result = await orch().composeFromTaskGraph(
      validateGraph({ goal: "revised", tasks: [{ id: "first", step: "broken", maxAttempts: 1 }] }),
      steps,
      { decomposer, replan: { onFailure: true, maxRevisions: 1 } },
    );
    expect(asked).toBe(1);
    expect(result.status).toBe("completed");
    // 1000 × 2 + 200 × 8 = $0.0036 for the revision, $0.0006 for the step.
    expect(result.usage).toEqual({ llmCalls: 4, inputTokens: 1100, outputTokens: 250, costUsd: 0.0042 });
    const { rows } = await orch().db.query<{ source: string }>(
      "SELECT source FROM htdag.usage_records WHERE run_id = $1 ORDER BY id",
      [result.runId],
    );
    expect(rows.map((r) => r.source)).toEqual(["revision", "step"]);
  });

  it("retryRun refuses a budget still reached, and raising it lets the run finish", async () => {
    const started: string[] = [];
    const failed = await orch().composeFromTaskGraph(chain("retry budget", 4), reporting(started), {
      budget: { tokens: 300 },
    });
    expect(failed.status).toBe("failed");
    expect(started).toEqual(["t0", "t1"]);
    await expect(orch().retryRun(failed.runId)).rejects.toBeInstanceOf(BudgetExceededError);
    expect((await orch().getRun(failed.runId)).status).toBe("failed");
    const retried = await orch().retryRun(failed.runId, { budget: { tokens: 10_000 } });
    expect(retried.status).toBe("completed");
    expect(started).toEqual(["t0", "t1", "t1", "t2", "t3"]);
    expect(retried.usage.llmCalls).toBe(5);
  });
});
