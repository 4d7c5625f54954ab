/**
 * Usage and budgets in the dashboard (design.md §14) against real Postgres: the API sends each run's
 * spend, budget and budget-exceeded state, each task's and attempt's spend, and the run's usage
 * records by source and model; in chromium the runs list shows the cost, and the run page its
 * usage, the budget bar, the budget-exceeded state and a task's spend. The spend is written with
 * SQL (test data): filling it is the orchestrator's part, tested with it.
 */
import { join } from "node:path";
import pg from "pg";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator, NonRetryableError, type Dashboard, type Orchestrator } from "../../src/index.js";
import type { RunResponse, RunsResponse, TaskResponse } from "../../src/dashboard/types.js";
import { validateGraph } from "../../src/graph/validate.js";
import { budgetLines, formatCost, formatTokens, formatUsage } from "../../web/src/format.js";
import { applyEvent } from "../../web/src/live.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { launchChromium, SCREENSHOTS } from "./helpers.js";

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
let dashboard: Dashboard;
let browser: Browser;
/** A completed run with a budget and a spend; a failed run stopped at its budget. */
let spentRun: string;
let stoppedRun: string;

async function sql(text: string, values: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(new URL(path, dashboard.url));
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

const graph = validateGraph({
  goal: "Summarise the feed",
  tasks: [{ id: "fetch" }, { id: "summarise", dependsOn: ["fetch"], maxAttempts: 2 }],
});

beforeAll(async () => {
  browser = await launchChromium();
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url });
  dashboard = await orch.dashboard({ port: 0 });
  const completed = await orch.composeFromTaskGraph(
    graph,
    {
      fetch: async () => null,
      summarise: async (ctx) => (ctx.attempt === 1 ? Promise.reject(new Error("429")) : "ok"),
    },
    { workflow: "usage", backoff: { kind: "constant", baseMs: 1, jitter: 0 } },
  );
  expect(completed.status).toBe("completed");
  spentRun = completed.runId;
  const failed = await orch.composeFromTaskGraph(
    graph,
    { fetch: async () => null, summarise: async () => Promise.reject(new NonRetryableError("stopped")) },
    { workflow: "usage" },
  );
  expect(failed.status).toBe("failed");
  stoppedRun = failed.runId;

  // Test data: what the orchestrator stores as the calls report their usage.
  await sql(
    `UPDATE htdag.runs SET llm_calls = 4, input_tokens = 120000, output_tokens = 30000, cost_usd = 0.0425,
            options = options || '{"budget": {"tokens": 200000, "costUsd": 1}}'::jsonb WHERE id = $1`,
    [spentRun],
  );
  await sql(
    `UPDATE htdag.attempts SET llm_calls = 1, input_tokens = 1000 * attempt, output_tokens = 500, cost_usd = 0.01 * attempt
      WHERE run_id = $1 AND task_id = 'summarise'`,
    [spentRun],
  );
  await sql(
    `INSERT INTO htdag.usage_records (run_id, task_id, attempt, source, model, llm_calls, input_tokens, output_tokens, cost_usd)
     VALUES ($1, NULL, NULL, 'decomposition', 'gpt-4.1-mini', 2, 117000, 29000, 0.0125),
            ($1, 'summarise', 1, 'step', 'gpt-4.1-mini', 1, 1000, 500, 0.01),
            ($1, 'summarise', 2, 'step', 'gpt-4.1-mini', 1, 2000, 500, 0.02),
            ($1, 'summarise', 2, 'step', 'local-model', 1, 10, 5, NULL)`,
    [spentRun],
  );
  await sql(
    `UPDATE htdag.runs SET llm_calls = 3, input_tokens = 1500, output_tokens = 600, cost_usd = 0,
            options = options || '{"budget": {"tokens": 2000}}'::jsonb,
            error = '{"name": "BudgetExceededError", "code": "BUDGET_EXCEEDED", "message": "run reached its budget (tokens 2100 of 2000)"}'::jsonb
      WHERE id = $1`,
    [stoppedRun],
  );
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await orch?.close();
  await database?.drop();
});

describe("usage in the dashboard API", () => {
  it("sends each run's spend and budget, each task's and attempt's spend, and the usage by source and model", async () => {
    const { runs } = await getJson<RunsResponse>("api/runs?workflow=usage");
    const spent = runs.find((r) => r.id === spentRun)!;
    expect(spent.usage).toEqual({ llmCalls: 4, inputTokens: 120_000, outputTokens: 30_000, costUsd: 0.0425 });
    expect(spent.budget).toEqual({ tokens: 200_000, costUsd: 1 });
    expect(spent.budgetExceeded).toBe(false);
    const stopped = runs.find((r) => r.id === stoppedRun)!;
    expect(stopped).toMatchObject({ status: "failed", budgetExceeded: true, budget: { tokens: 2000 } });

    const detail = await getJson<RunResponse>(`api/runs/${spentRun}`);
    expect(detail.run.usage.costUsd).toBe(0.0425);
    const byId = new Map(detail.tasks.map((t) => [t.id, t]));
    expect(byId.get("summarise")!.usage).toEqual({ llmCalls: 2, inputTokens: 3000, outputTokens: 1000, costUsd: 0.03 });
    expect(byId.get("fetch")!.usage).toBeNull();
    expect(detail.usageBySource).toEqual([
      {
        source: "decomposition",
        model: "gpt-4.1-mini",
        llmCalls: 2,
        inputTokens: 117_000,
        outputTokens: 29_000,
        costUsd: 0.0125,
        unpricedRecords: 0,
      },
      {
        source: "step",
        model: "gpt-4.1-mini",
        llmCalls: 2,
        inputTokens: 3000,
        outputTokens: 1000,
        costUsd: 0.03,
        unpricedRecords: 0,
      },
      {
        source: "step",
        model: "local-model",
        llmCalls: 1,
        inputTokens: 10,
        outputTokens: 5,
        costUsd: 0,
        unpricedRecords: 1,
      },
    ]);

    const task = await getJson<TaskResponse>(`api/runs/${spentRun}/tasks/summarise`);
    expect(task.attempts.map((a) => [a.attempt, a.status, a.usage])).toEqual([
      [1, "failed", { llmCalls: 1, inputTokens: 1000, outputTokens: 500, costUsd: 0.01 }],
      [2, "completed", { llmCalls: 1, inputTokens: 2000, outputTokens: 500, costUsd: 0.02 }],
    ]);

    const failed = await getJson<RunResponse>(`api/runs/${stoppedRun}`);
    expect(failed.run.error).toMatchObject({ code: "BUDGET_EXCEEDED" });
    expect(failed.usageBySource).toEqual([]);
  });

  it("formats spends compactly, and each budget limit against the spend", () => {
    expect([formatTokens(950), formatTokens(12_345), formatTokens(150_000), formatTokens(1_200_000)]).toEqual([
      "950",
      "12.3k",
      "150k",
      "1.2M",
    ]);
    expect([formatCost(0), formatCost(0.0042), formatCost(0.0425), formatCost(12)]).toEqual([
      "$0",
      "$0.0042",
      "$0.04",
      "$12.00",
    ]);
    expect(formatUsage({ llmCalls: 3, inputTokens: 10_000, outputTokens: 2300, costUsd: 0.04 })).toBe(
      "12.3k tok · $0.04",
    );
    expect(formatUsage({ llmCalls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 })).toBe("–");
    const lines = budgetLines(
      { llmCalls: 4, inputTokens: 120_000, outputTokens: 30_000, costUsd: 0.5 },
      { tokens: 200_000, llmCalls: 4 },
    );
    expect(lines.map((l) => [l.kind, l.text, l.share])).toEqual([
      ["tokens", "tokens 150k / 200k", 0.75],
      ["llmCalls", "LLM calls 4 / 4", 1],
    ]);
  });
});

describe("usage live", () => {
  it("shows budget exceeded as soon as the budget:exceeded event arrives, before the re-read", async () => {
    const state = await getJson<RunResponse>(`api/runs/${spentRun}`);
    const event = {
      id: "9",
      type: "budget:exceeded",
      runId: spentRun,
      taskId: null,
      workflow: "usage",
      payload: { spent: { tokens: 200_100, costUsd: 0.05, llmCalls: 5 }, budget: { tokens: 200_000 } },
      createdAt: new Date().toISOString(),
    };
    expect(state.run.budgetExceeded).toBe(false);
    expect(applyEvent(state, event)!.run.budgetExceeded).toBe(true);
    expect(applyEvent(state, { ...event, runId: stoppedRun })).toBe(state);
  });
});

describe("usage in chromium", () => {
  it("shows the cost in the runs list, and usage, the budget bar and budget exceeded on the run page", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    try {
      await page.goto(dashboard.url);
      const row = page.locator(`tr[data-run-id="${spentRun}"] td.usage`);
      await row.waitFor();
      await expect(row.innerText()).resolves.toBe("150k tok · $0.04");
      await page.locator(`tr[data-run-id="${stoppedRun}"] .badge.budget-exceeded`).waitFor();
      await page.screenshot({ path: join(SCREENSHOTS, "runs-usage.png"), fullPage: true });

      await page.goto(`${dashboard.url}#/runs/${spentRun}`);
      const bar = page.locator(`.budget-bar[data-budget="tokens"]`);
      await bar.waitFor();
      await expect(bar.innerText()).resolves.toContain("tokens 150k / 200k");
      await expect(bar.locator("progress").evaluate((p) => (p as unknown as { value: number }).value)).resolves.toBe(
        0.75,
      );
      await expect(page.locator(".usage-summary").innerText()).resolves.toContain("120k in · 30k out · 4 LLM calls");
      await expect(page.locator(".run-header .badge.budget-exceeded").count()).resolves.toBe(0);
      await page.locator(`g.node[data-task-id="summarise"]`, { hasText: "4k tok · $0.03" }).waitFor();
      await page.locator(`g.node[data-task-id="summarise"]`).click();
      const panel = page.locator("aside.task-panel");
      await panel.locator(`tr[data-attempt="2"] td.usage`, { hasText: "2.5k tok · $0.02" }).waitFor();
      await page.screenshot({ path: join(SCREENSHOTS, "run-usage.png"), fullPage: true });

      await page.goto(`${dashboard.url}#/runs/${stoppedRun}`);
      await page.locator(".run-header .badge.budget-exceeded").waitFor();
      await page.locator(".notice.budget-exceeded", { hasText: "Budget exceeded" }).waitFor();
      await page.locator(`.budget-bar.reached[data-budget="tokens"]`, { hasText: "2.1k / 2k" }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
