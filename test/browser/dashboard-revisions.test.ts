/**
 * A run whose plan is revised (design.md §13) in the dashboard, against real Postgres: the run API
 * carries the revisions and the superseded task's status; in chromium, the open run page shows the
 * revision panel and draws the superseded task apart (greyed, dashed, under a legend) without a reload.
 */
import { join } from "node:path";
import type { Browser, Locator } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator, type Dashboard, type DecomposerContext, type Orchestrator } from "../../src/index.js";
import type { RunResponse, RunsResponse } from "../../src/dashboard/types.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { gate, waitFor } from "../helpers/wait.js";
import { launchChromium, SCREENSHOTS } from "./helpers.js";

/** First plan: fetch → parse_v1 → report; the revision routes around parse_v1 with parse_v2. */
const revisingDecomposer = {
  name: "scripted",
  decompose(_goal: string, ctx: DecomposerContext) {
    const parser = ctx.revision ? "parse_v2" : "parse_v1";
    return [
      { id: "fetch", dependsOn: [] },
      { id: parser, description: `parse with ${parser}`, dependsOn: ["fetch"] },
      { id: "report", dependsOn: [parser] },
    ];
  },
};

/** A computed style property of the element `locator` finds (the test compiles without the DOM lib). */
function styleOf(locator: Locator, property: "opacity" | "strokeDasharray"): Promise<string> {
  type Styles = { getComputedStyle(element: unknown): Record<typeof property, string> };
  return locator.evaluate(
    (element, name) => (globalThis as unknown as Styles).getComputedStyle(element)[name],
    property,
  );
}

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
let dashboard: Dashboard;
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url, defaults: { maxAttempts: 1 } });
  dashboard = await orch.dashboard({ port: 0 });
});

afterAll(async () => {
  await browser?.close();
  await orch?.close();
  await database?.drop();
});

describe("a revised plan in the dashboard", () => {
  it("shows the revision and the superseded task live in the run page, and serves both in the API", async () => {
    const failParse = gate();
    const running = orch.composeFromGoal(
      "parse the data",
      revisingDecomposer,
      {
        fetch: () => ({ rows: 3 }),
        parse_v1: async () => {
          await failParse.promise;
          throw new Error("v1 parser crashed");
        },
        parse_v2: () => ({ parsed: 3 }),
        report: () => "done",
      },
      { workflow: "dash_revised", replan: { onFailure: true, maxRevisions: 1 } },
    );
    let runId = "";
    await waitFor(async () => {
      runId = (await orch.listRuns({ workflow: "dash_revised", limit: 1 }))[0]?.runId ?? "";
      return runId !== "";
    });

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${dashboard.url}#/runs/${runId}`);
    await page.locator(`g.node[data-task-id="parse_v1"]`).waitFor();
    await expect(page.locator(".revisions").count()).resolves.toBe(0);
    failParse.open();

    // The stream brings plan:revised: the panel names the revision, the dropped task is drawn apart.
    const revision = page.locator(`.revisions li[data-revision="1"]`);
    await revision.waitFor();
    await expect(revision.innerText()).resolves.toMatch(
      /Revision 1[\s\S]*v1 parser crashed[\s\S]*asked by parse_v1[\s\S]*added parse_v2[\s\S]*removed parse_v1/,
    );
    const superseded = page.locator(`g.node[data-task-id="parse_v1"][data-status="superseded"]`);
    await superseded.waitFor();
    await expect(styleOf(superseded, "opacity")).resolves.toBe("0.55");
    await expect(styleOf(superseded.locator(".node-box"), "strokeDasharray")).resolves.toMatch(/^2(px)?,? 4(px)?$/);
    await expect(page.locator(".legend").innerText()).resolves.toContain("superseded");
    await page.locator(`g.node[data-task-id="report"][data-status="completed"]`).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "run-revised.png"), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
    expect((await running).status).toBe("completed");

    const response = await fetch(new URL(`api/runs/${runId}`, dashboard.url));
    const body = (await response.json()) as RunResponse;
    expect(body.revisions).toEqual([
      {
        revision: 1,
        reason: expect.stringContaining("v1 parser crashed") as string,
        taskId: "parse_v1",
        added: ["parse_v2"],
        removed: ["parse_v1"],
        changed: ["report"],
        at: expect.stringMatching(/Z$/) as string,
        cost: null,
      },
    ]);
    expect(Object.fromEntries(body.tasks.map((t) => [t.id, t.status]))).toEqual({
      fetch: "completed",
      parse_v1: "superseded",
      parse_v2: "completed",
      report: "completed",
    });
    expect(body.run.revision).toBe(1);
    const list = (await (await fetch(new URL("api/runs?workflow=dash_revised", dashboard.url))).json()) as RunsResponse;
    expect(list.runs.map((r) => r.revision)).toEqual([1]);
  }, 25_000);
});
