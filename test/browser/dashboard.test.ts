/**
 * The dashboard in a real browser (Debian's chromium through playwright-core) against real
 * Postgres: a run executes while the page is open, its tasks change state without a reload, a
 * task's attempts and logs show in the panel, the run is cancelled from the page, and a dashboard
 * with a token refuses requests without it. Screenshots go to test-results/screenshots/.
 */
import { join } from "node:path";
import pg from "pg";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOrchestrator,
  DashboardTokenRequiredError,
  type Dashboard,
  type Orchestrator,
  type Steps,
} from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { gate, waitFor } from "../helpers/wait.js";
import { launchChromium, rawRequest, SCREENSHOTS } from "./helpers.js";

const TOKEN = "test-token-0123456789abcdef";
/** A log line that would run script if the page rendered it as HTML. */
const HOSTILE = `<img src=x onerror="window.__xss = 1">`;

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
let dashboard: Dashboard;
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url });
  dashboard = await orch.dashboard({ port: 0 });
});

afterAll(async () => {
  await browser?.close();
  await orch?.close();
  await database?.drop();
});

/** Resolves when `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));

async function statusInDatabase(runId: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ status: string }>("SELECT status FROM htdag.runs WHERE id = $1", [runId]);
    return rows[0]?.status;
  } finally {
    await client.end();
  }
}

/** Errors the page reported: script errors, and console errors such as Content-Security-Policy violations. */
const pageErrors = new WeakMap<Page, string[]>();

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") {
      errors.push(message.text());
    }
  });
  await page.goto(url);
  return page;
}

describe("the dashboard in chromium", () => {
  it("follows a running run live, shows a task's attempts, and cancels the run from the page", async () => {
    const prepareStarted = gate();
    const releasePrepare = gate();
    const compileRetried = gate();
    const steps: Steps = {
      prepare: async () => {
        prepareStarted.open();
        await releasePrepare.promise;
        return { files: 3 };
      },
      compile: async (ctx) => {
        if (ctx.attempt === 1) {
          throw new Error("flaky compiler");
        }
        ctx.log(HOSTILE, { files: 3 });
        ctx.progress(1, 4);
        compileRetried.open();
        await aborted(ctx.signal);
        return null;
      },
      link: async () => null,
      ship: async () => null,
    };
    const graph = validateGraph({
      goal: "Build and ship the app",
      tasks: [
        { id: "prepare", description: "Fetch the sources" },
        { id: "build", description: "Build everything", kind: "composite", dependsOn: ["prepare"] },
        { id: "compile", parentId: "build", maxAttempts: 3 },
        { id: "link", parentId: "build", dependsOn: ["compile"] },
        { id: "ship", dependsOn: ["build"], merged: [{ id: "package", step: "link" }] },
      ],
    });
    const running = orch.composeFromTaskGraph(graph, steps, {
      workflow: "dash_live",
      backoff: { kind: "constant", baseMs: 20, jitter: 0 },
    });
    await prepareStarted.promise;
    const runId = (await orch.listRuns({ workflow: "dash_live", limit: 1 }))[0]!.runId;

    const page = await openPage(dashboard.url);
    await page.locator(`tr[data-run-id="${runId}"][data-status="running"]`).waitFor();
    await expect(page.locator(`tr[data-run-id="${runId}"]`).innerText()).resolves.toContain("dash_live");
    await page.screenshot({ path: join(SCREENSHOTS, "runs-list.png"), fullPage: true });

    await page.locator(`tr[data-run-id="${runId}"]`).click();
    await page.locator(`g.node[data-task-id="prepare"][data-status="running"]`).waitFor();
    // A marker on window survives only as long as the page is not reloaded.
    await page.evaluate(() => Object.assign(globalThis, { __sameDocument: true }));

    releasePrepare.open();
    await page.locator(`g.node[data-task-id="prepare"][data-status="completed"]`).waitFor();
    await compileRetried.promise;
    await page.locator(`g.node[data-task-id="compile"][data-status="running"]`).waitFor();
    await expect(page.locator(`g.node[data-task-id="link"]`).getAttribute("data-status")).resolves.toBe("pending");
    await expect(page.locator(`g.cluster[data-task-id="build"]`).count()).resolves.toBe(1);

    await page.locator(`g.node[data-task-id="compile"]`).click();
    const panel = page.locator("aside.task-panel");
    await panel.locator(`tr[data-attempt="1"][data-status="failed"]`).waitFor();
    await panel.locator(`tr[data-attempt="2"][data-status="running"]`).waitFor();
    await expect(panel.locator(`tr[data-attempt="1"]`).innerText()).resolves.toContain("flaky compiler");
    await panel.locator(".logs .message", { hasText: HOSTILE }).waitFor();
    await panel.locator(".progress", { hasText: "1 / 4" }).waitFor();
    // The payload was shown as text: no element was made of it, and its script never ran.
    await expect(panel.locator(".logs img").count()).resolves.toBe(0);
    await expect(page.evaluate(() => (globalThis as { __xss?: number }).__xss)).resolves.toBeUndefined();
    await page.locator(".events li", { hasText: "task:retried" }).first().waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "run-graph.png"), fullPage: true });
    // A task with tasks merged into it names them, in the order they run.
    await page.locator(`g.node[data-task-id="ship"]`).click();
    await expect(panel.locator("dl.facts").innerText()).resolves.toMatch(/Runs first \(merged\)\s+package/);

    // Collapsing the composite draws it as one node standing for its two children; expanding restores them.
    await page.locator(`[data-toggle="build"]`).click();
    await page.locator(`g.node[data-task-id="build"]`, { hasText: "2 inside" }).waitFor();
    await expect(page.locator(`g.node[data-task-id="compile"]`).count()).resolves.toBe(0);
    await page.locator(`[data-toggle="build"]`).click();
    await page.locator(`g.node[data-task-id="compile"]`).waitFor();

    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.locator(`.run-status [data-status="cancelled"]`).waitFor();
    await page.locator(`g.node[data-task-id="compile"][data-status="cancelled"]`).waitFor();
    await page.locator(".events li", { hasText: "execution:cancelled" }).waitFor();
    await expect(page.evaluate(() => (globalThis as { __sameDocument?: boolean }).__sameDocument)).resolves.toBe(true);
    expect(pageErrors.get(page)).toEqual([]);

    await expect(statusInDatabase(runId)).resolves.toBe("cancelled");
    const result = await running;
    expect(result.status).toBe("cancelled");
    expect(result.error?.message ?? "").toMatch(/cancelled from the dashboard/);
    await page.close();
  }, 90_000);

  it("shows a long task name whole, inside its box (was: cut to 24 characters)", async () => {
    const long = "summarise-the-quarterly-statements-of-every-subsidiary-and-flag-anomalies-for-review";
    const graph = validateGraph({
      goal: "Long names",
      tasks: [
        { id: "fetch" },
        { id: long, dependsOn: ["fetch"] },
        { id: "render-the-monthly-report", dependsOn: [long] },
      ],
    });
    const steps: Steps = {
      fetch: async () => null,
      [long]: async () => null,
      "render-the-monthly-report": async () => null,
    };
    const { runId } = await orch.composeFromTaskGraph(graph, steps, { workflow: "dash_long_names" });
    const page = await openPage(`${dashboard.url}#/runs/${runId}`);
    try {
      const boxes = new Map<string, { text: string; inside: boolean }>();
      for (const id of ["fetch", long, "render-the-monthly-report"]) {
        const node = page.locator(`g.node[data-task-id="${id}"][data-status="completed"]`);
        await node.waitFor();
        boxes.set(
          id,
          await node.evaluate((g) => {
            const box = g.querySelector("rect.node-box")!.getBoundingClientRect();
            const texts = [...g.querySelectorAll("text.node-label tspan, text.node-meta")].map((t) =>
              t.getBoundingClientRect(),
            );
            return {
              text: [...g.querySelectorAll("text.node-label tspan")].map((t) => t.textContent).join(""),
              inside: texts.every(
                (t) => t.left >= box.left && t.right <= box.right && t.top >= box.top && t.bottom <= box.bottom,
              ),
            };
          }),
        );
      }
      expect(Object.fromEntries(boxes)).toEqual({
        fetch: { text: "fetch", inside: true },
        [long]: { text: long, inside: true },
        "render-the-monthly-report": { text: "render-the-monthly-report", inside: true },
      });
      await page.screenshot({ path: join(SCREENSHOTS, "long-task-names.png"), fullPage: true });
      expect(pageErrors.get(page)).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("filters the runs list by status and workflow", async () => {
    await orch.composeFromTaskGraph(
      validateGraph({ goal: "Quick one", tasks: [{ id: "only" }] }),
      { only: async () => 1 },
      { workflow: "dash_quick" },
    );
    const page = await openPage(dashboard.url);
    await page.locator("table.runs tbody tr").first().waitFor();
    await page.getByLabel("workflow filter").selectOption("dash_quick");
    await waitFor(async () => (await page.locator("table.runs tbody tr").count()) === 1, 10_000, "one dash_quick run");
    await expect(page.locator("table.runs tbody tr").first().getAttribute("data-status")).resolves.toBe("completed");
    await page.getByLabel("workflow filter").selectOption("");
    await page.getByLabel("status filter").selectOption("cancelled");
    await waitFor(
      async () => {
        const statuses = await page
          .locator("table.runs tbody tr")
          .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-status")));
        return statuses.length > 0 && statuses.every((s) => s === "cancelled");
      },
      10_000,
      "only cancelled runs",
    );
    await page.goto(`${dashboard.url}#/workflows/dash_quick`);
    await page.locator("table.durations tbody td").first().waitFor();
    await expect(page.locator("table.durations tbody td").first().innerText()).resolves.toBe("1");
    await page.close();
  }, 60_000);

  it("shows a workflow's duration percentiles and the optimizer's recommendations with their evidence", async () => {
    // Every first attempt of `call` fails and the second succeeds: a transient failure the optimizer
    // answers with more attempts, citing the failure rate over the runs it saw.
    const steps: Steps = {
      call: async (ctx) => {
        if (ctx.attempt === 1) {
          throw new Error("flaky upstream");
        }
        return "ok";
      },
      report: async () => "done",
    };
    const graph = validateGraph({
      goal: "Call the flaky service",
      tasks: [{ id: "call" }, { id: "report", dependsOn: ["call"] }],
    });
    for (let i = 0; i < 5; i++) {
      const result = await orch.composeFromTaskGraph(graph, steps, {
        workflow: "dash_flaky",
        backoff: { kind: "constant", baseMs: 0, jitter: 0 },
      });
      expect(result.status).toBe("completed");
    }
    const page = await openPage(`${dashboard.url}#/workflows/dash_flaky`);
    await page.locator("table.durations tbody td").first().waitFor();
    await expect(page.locator("table.durations tbody td").first().innerText()).resolves.toBe("5");
    await expect(page.locator(`table.task-metrics tr[data-task-id="call"]`).innerText()).resolves.toMatch(
      /call\s+5\s+10\s+5 \(5 transient\)/,
    );
    const change = page.locator("table.changes tbody tr", { hasText: "maxAttempts" });
    await change.waitFor();
    await expect(change.innerText()).resolves.toMatch(
      /^call\s+maxAttempts\s+3 → \d+\s+.*transient.*\s+transientFailureRate = 0\.5 over 5 samples\s+83%$/s,
    );
    await page.screenshot({ path: join(SCREENSHOTS, "workflow.png"), fullPage: true });
    await page.close();
  }, 60_000);

  it("with a token, refuses every API, stream and action request without it, and the page takes it from ?token=", async () => {
    await expect(orch.dashboard({ host: "0.0.0.0", port: 0 })).rejects.toThrow(DashboardTokenRequiredError);
    await expect(orch.dashboard({ host: "0.0.0.0", port: 0 })).rejects.toThrow(/HTDAG_DASHBOARD_TOKEN/);
    const guarded = await orch.dashboard({ port: 0, token: TOKEN });
    try {
      const runId = (await orch.listRuns({ limit: 1 }))[0]!.runId;
      const api = (path: string) => new URL(path, guarded.url).toString();
      const refused = await rawRequest(api("api/runs"));
      expect(refused.status).toBe(401);
      expect(refused.headers["www-authenticate"]).toMatch(/Bearer/);
      expect(JSON.parse(refused.body).error.code).toBe("UNAUTHORIZED");
      expect(
        (await rawRequest(api("api/runs"), { headers: { Authorization: "Bearer wrong-token-0123456789" } })).status,
      ).toBe(401);
      expect(
        (await rawRequest(api(`api/runs/${runId}`), { headers: { Authorization: `Bearer ${TOKEN}x` } })).status,
      ).toBe(401);
      expect((await rawRequest(api("api/stream"))).status).toBe(401);
      expect(
        (
          await rawRequest(api(`api/runs/${runId}/retry`), {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: "{}",
          })
        ).status,
      ).toBe(401);
      expect((await rawRequest(api("api/runs"), { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
      expect((await rawRequest(api(`api/runs?token=${TOKEN}`))).status).toBe(200);
      // The page itself holds no data and loads without the token.
      expect((await rawRequest(guarded.url)).status).toBe(200);

      const withoutToken = await openPage(guarded.url);
      await withoutToken.getByText("This dashboard needs its token.").waitFor();
      await withoutToken.close();

      const page = await openPage(`${guarded.url}?token=${TOKEN}`);
      await page.locator(`tr[data-run-id="${runId}"]`).waitFor();
      await page.locator(".live-live").waitFor();
      expect(page.url()).not.toContain(TOKEN);
      await page.screenshot({ path: join(SCREENSHOTS, "runs-list-all.png"), fullPage: true });
      await page.close();
    } finally {
      await guarded.close();
    }
  }, 60_000);
});
