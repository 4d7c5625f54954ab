/**
 * A person's answers in the dashboard (docs/waits-and-flow-control.md), in chromium against real Postgres:
 * the signal form of a waiting task (its payload checked before it is sent) completes the task; a plan
 * awaiting approval is approved as planned, approved with edits (an invalid edit shows its problems in
 * place), and rejected with a reason. The three actions follow the token, origin and body rules of the
 * other actions, and a signal no wait takes is a 409 with its code.
 */
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOrchestrator,
  type Dashboard,
  type Orchestrator,
  type RunResult,
  type TaskSpec,
} from "../../src/index.js";
import type { RunResponse } from "../../src/dashboard/types.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { waitFor } from "../helpers/wait.js";
import { launchChromium, rawRequest, SCREENSHOTS } from "./helpers.js";

const TOKEN = "test-token-waits-0123456789";

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

/** Errors the page reported (script errors, console errors). */
const pageErrors = new WeakMap<Page, string[]>();

async function openRun(runId: string, base = dashboard.url): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${base}#/runs/${runId}`);
  return page;
}

/** The id of the latest run of `workflow` (in `status`), once there is one. */
async function latestRun(workflow: string, status?: "awaiting_approval"): Promise<string> {
  let runId = "";
  await waitFor(async () => {
    runId = (await orch.listRuns({ workflow, limit: 1, ...(status ? { status } : {}) }))[0]?.runId ?? "";
    return runId !== "";
  });
  return runId;
}

describe("a waiting task in the dashboard", () => {
  it("shows a signal form with the signal's name; a payload that is not JSON is refused before sending", async () => {
    const result = orch.composeFromTaskGraph(
      validateGraph({
        goal: "ship after sign-off",
        tasks: [
          { id: "build" },
          { id: "sign_off", dependsOn: ["build"], wait: { signal: "sign-off", timeoutMs: 60_000 } },
          { id: "ship", dependsOn: ["sign_off"] },
        ],
      }),
      { build: () => "built", ship: () => "shipped" },
      { workflow: "dash_signal" },
    );
    const runId = await latestRun("dash_signal");
    const page = await openRun(runId);
    const node = page.locator(`g.node[data-task-id="sign_off"][data-status="waiting"]`);
    await node.waitFor();
    await node.click();
    const form = page.locator("form.signal-form");
    await form.waitFor();
    await expect(page.getByLabel("signal name").inputValue()).resolves.toBe("sign-off");
    await expect(page.locator("[data-waiting-for]").innerText()).resolves.toMatch(/^signal sign-off, until /);

    await page.getByLabel("signal payload").fill("{approved: yes}");
    await form.getByRole("button", { name: "Send signal" }).click();
    await expect(form.locator('[data-invalid="payload"]').innerText()).resolves.toMatch(/^the payload is not JSON: /);
    // Nothing was sent: the task still waits.
    expect((await orch.getRun(runId)).tasks.find((t) => t.id === "sign_off")?.status).toBe("waiting");

    await page.getByLabel("signal payload").fill('{"approved": true, "by": "ana"}');
    await page.screenshot({ path: join(SCREENSHOTS, "task-signal-form.png"), fullPage: true });
    await form.getByRole("button", { name: "Send signal" }).click();
    await expect(page.locator(".signal-result").innerText()).resolves.toBe(
      "Delivered to task sign_off: it completed with this payload as its output.",
    );
    await page.locator(`g.node[data-task-id="ship"][data-status="completed"]`).waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "run-signalled.png"), fullPage: true });
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs.sign_off).toEqual({ approved: true, by: "ana" });
    expect(pageErrors.get(page)).toEqual([]);
    await page.close();
  }, 20_000);
});

describe("a plan awaiting approval in the dashboard", () => {
  const plan: TaskSpec[] = [
    { id: "research", description: "find the facts" },
    { id: "write", dependsOn: ["research"] },
  ];
  const steps = { research: () => "facts", write: () => "text", review: () => "reviewed" };

  /** Plans a goal for approval; resolves once the run awaits it, with the page open on it. */
  async function awaiting(workflow: string): Promise<{ runId: string; result: Promise<RunResult>; page: Page }> {
    const result = orch.composeFromGoal(`write about ${workflow}`, { name: "scripted", decompose: () => plan }, steps, {
      workflow,
      approvePlan: true,
    });
    const runId = await latestRun(workflow, "awaiting_approval");
    const page = await openRun(runId);
    await page.locator('section.plan-approval li[data-plan-task="write"]').waitFor();
    await page.locator('.run-status [data-status="awaiting_approval"]').waitFor();
    return { runId, result, page };
  }

  it("approves the plan as recorded", async () => {
    const { result, page } = await awaiting("dash_approve");
    await expect(page.locator('section.plan-approval li[data-plan-task="write"]').innerText()).resolves.toBe(
      "write after research",
    );
    await page.screenshot({ path: join(SCREENSHOTS, "run-awaiting-approval.png"), fullPage: true });
    await page.getByRole("button", { name: "Approve", exact: true }).click();
    await page.locator('.run-status [data-status="completed"]').waitFor();
    await expect(page.locator("section.plan-approval").count()).resolves.toBe(0);
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs).toMatchObject({ research: "facts", write: "text" });
    expect(pageErrors.get(page)).toEqual([]);
    await page.close();
  }, 20_000);

  it("approves an edited plan; an invalid edit shows its problems in place and answers nothing", async () => {
    const { runId, result, page } = await awaiting("dash_edit");
    await page.getByRole("button", { name: "Edit" }).click();
    const editor = page.getByLabel("plan graph");
    const graph = JSON.parse(await editor.inputValue()) as { goal: string; tasks: TaskSpec[] };
    expect(graph).toEqual({
      goal: "write about dash_edit",
      tasks: [
        { id: "research", description: "find the facts" },
        { id: "write", dependsOn: ["research"] },
      ],
    });

    await editor.fill(JSON.stringify({ ...graph, tasks: [...graph.tasks, { id: "review", dependsOn: ["nowhere"] }] }));
    await page.getByRole("button", { name: "Approve edited plan" }).click();
    const invalid = page.locator(".plan-invalid");
    await expect(invalid.innerText()).resolves.toMatch(
      /The edited graph has 1 problem:\s*tasks\[2\]\.dependsOn\[0\]: /,
    );
    await editor.fill("{ not json");
    await page.getByRole("button", { name: "Approve edited plan" }).click();
    await expect(invalid.innerText()).resolves.toMatch(/^the graph is not JSON: /);
    expect((await orch.getRun(runId)).status).toBe("awaiting_approval");

    await editor.fill(JSON.stringify({ ...graph, tasks: [...graph.tasks, { id: "review", dependsOn: ["write"] }] }));
    await page.getByRole("button", { name: "Approve edited plan" }).click();
    await page.locator(`g.node[data-task-id="review"][data-status="completed"]`).waitFor();
    const done = await result;
    expect(done.status).toBe("completed");
    expect(done.outputs).toMatchObject({ research: "facts", write: "text", review: "reviewed" });
    expect(pageErrors.get(page)).toEqual([]);
    await page.close();
  }, 20_000);

  it("rejects the plan with a reason: the run ends cancelled", async () => {
    const { runId, result, page } = await awaiting("dash_reject");
    await page.getByRole("button", { name: "Reject", exact: true }).click();
    const confirm = page.getByRole("button", { name: "Reject plan" });
    await expect(confirm.isDisabled()).resolves.toBe(true);
    await page.getByLabel("reject reason").fill("too risky");
    await confirm.click();
    await page.locator('.run-status [data-status="cancelled"]').waitFor();
    expect((await result).status).toBe("cancelled");
    const events = await orch.notifications.getRecentEvents({ runId, types: ["plan:rejected"], limit: 5 });
    expect(events.map((e) => e.payload)).toEqual([expect.objectContaining({ reason: "too risky" })]);
    expect(pageErrors.get(page)).toEqual([]);
    await page.close();
  }, 20_000);
});

describe("the rules of the new actions", () => {
  it("need the token, come from the dashboard's own origin as JSON, stay under their body limit", async () => {
    const guarded = await orch.dashboard({ port: 0, token: TOKEN });
    try {
      const runId = (await orch.listRuns({ workflow: "dash_signal", limit: 1 }))[0]!.runId;
      const url = (action: string) => new URL(`api/runs/${runId}/${action}`, guarded.url).toString();
      const json = { "Content-Type": "application/json" };
      const auth = { ...json, Authorization: `Bearer ${TOKEN}` };
      const bodies = {
        signal: JSON.stringify({ name: "sign-off", payload: 1 }),
        approve: "{}",
        reject: JSON.stringify({ reason: "no" }),
      };
      for (const [action, body] of Object.entries(bodies)) {
        const anonymous = await rawRequest(url(action), { method: "POST", headers: json, body });
        expect([action, anonymous.status, JSON.parse(anonymous.body).error.code]).toEqual([
          action,
          401,
          "UNAUTHORIZED",
        ]);
        const foreign = await rawRequest(url(action), {
          method: "POST",
          headers: { ...auth, Origin: "https://attacker.example" },
          body,
        });
        expect([action, foreign.status, JSON.parse(foreign.body).error.code]).toEqual([
          action,
          403,
          "FORBIDDEN_ORIGIN",
        ]);
        const form = await rawRequest(url(action), {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Bearer ${TOKEN}` },
          body: "name=sign-off",
        });
        expect([action, form.status]).toEqual([action, 415]);
      }
      // The run is completed: its wait takes no signal (409 SIGNAL_NOT_AWAITED), and there is no plan to answer.
      const late = await rawRequest(url("signal"), { method: "POST", headers: auth, body: bodies.signal });
      expect(late.status).toBe(409);
      expect(JSON.parse(late.body).error).toMatchObject({
        code: "SIGNAL_NOT_AWAITED",
        message: expect.stringContaining(`signal "sign-off" to run ${runId} was not delivered`) as string,
      });
      expect((await rawRequest(url("approve"), { method: "POST", headers: auth, body: "{}" })).status).toBe(409);
      const badName = await rawRequest(url("signal"), { method: "POST", headers: auth, body: '{"name": "a b"}' });
      expect([badName.status, JSON.parse(badName.body).error.code]).toEqual([400, "INVALID_OPTION"]);
      const noReason = await rawRequest(url("reject"), { method: "POST", headers: auth, body: "{}" });
      expect([noReason.status, JSON.parse(noReason.body).error.code]).toEqual([400, "INVALID_OPTION"]);
      // A payload or a graph may reach 1 MiB; a reason stays under 16 KiB.
      const huge = JSON.stringify({ name: "sign-off", payload: "x".repeat(1024 * 1024) });
      const tooLarge = await rawRequest(url("signal"), { method: "POST", headers: auth, body: huge });
      expect([tooLarge.status, JSON.parse(tooLarge.body).error.code]).toEqual([413, "BODY_TOO_LARGE"]);
      const longReason = JSON.stringify({ reason: "x".repeat(20_000) });
      expect((await rawRequest(url("reject"), { method: "POST", headers: auth, body: longReason })).status).toBe(413);
      const bigPayload = JSON.stringify({ name: "sign-off", payload: "x".repeat(100_000) });
      expect((await rawRequest(url("signal"), { method: "POST", headers: auth, body: bigPayload })).status).toBe(409);

      const body = (await (
        await fetch(new URL(`api/runs/${runId}`, guarded.url), { headers: auth })
      ).json()) as RunResponse;
      expect(body.tasks.find((t) => t.id === "sign_off")).toMatchObject({
        status: "completed",
        wait: { signal: "sign-off", timeoutMs: 60_000 },
        waiting: null,
      });
      expect(body.plan).toBeNull();
      expect([body.run.status, body.run.finishedTasks, body.run.totalTasks]).toEqual(["completed", 3, 3]);
    } finally {
      await guarded.close();
    }
  }, 20_000);
});
