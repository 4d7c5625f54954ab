/**
 * The dashboard's JSON API, event stream and actions over HTTP against real Postgres: filters,
 * run and task detail, workflow percentiles and recommendations, SSE resume with Last-Event-ID,
 * pause / resume / retry, and the Host and Origin checks of a dashboard without a token.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createOrchestrator,
  NonRetryableError,
  type Dashboard,
  type Orchestrator,
  type Steps,
} from "../../src/index.js";
import type {
  EventView,
  RunResponse,
  RunsResponse,
  TaskResponse,
  WorkflowResponse,
} from "../../src/dashboard/types.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { gate, waitFor } from "../helpers/wait.js";
import { beginLateEvent } from "../helpers/events.js";
import { openStream, rawRequest, type OpenStream } from "./helpers.js";

let database: { url: string; drop: () => Promise<void> };
let orch: Orchestrator;
let dashboard: Dashboard;
const runIds: string[] = [];

const url = (path: string) => new URL(path, dashboard.url).toString();
async function getJson<T>(path: string, status = 200): Promise<T> {
  const response = await fetch(url(path));
  const body = (await response.json()) as T;
  expect(response.status, JSON.stringify(body)).toBe(status);
  return body;
}
async function post(
  path: string,
  body: unknown = {},
): Promise<{ status: number; body: { status?: string; error?: { code: string; message: string } } }> {
  const response = await fetch(url(path), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as never };
}

const pipeline = validateGraph({
  goal: "Fetch and parse the feed",
  tasks: [{ id: "fetch" }, { id: "parse", dependsOn: ["fetch"] }, { id: "side" }],
});
const pipelineSteps: Steps = {
  fetch: async (ctx) => {
    ctx.log("fetched", { bytes: 10 });
    return { items: [1, 2] };
  },
  parse: async () => ({ parsed: 2 }),
  side: async () => "side",
};

beforeAll(async () => {
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url });
  dashboard = await orch.dashboard({ port: 0 });
  for (let i = 0; i < 5; i++) {
    runIds.push((await orch.composeFromTaskGraph(pipeline, pipelineSteps, { workflow: "feed" })).runId);
  }
});

afterAll(async () => {
  await orch?.close();
  await database?.drop();
});

describe("the dashboard API", () => {
  it("lists runs with filters, and a run with its tasks, attempts and logs", async () => {
    const all = await getJson<RunsResponse>("api/runs?workflow=feed&status=completed");
    expect(all.runs.map((r) => r.id).sort()).toEqual([...runIds].sort());
    expect(all.workflows).toContain("feed");
    expect(all.runs[0]).toMatchObject({
      workflow: "feed",
      goal: "Fetch and parse the feed",
      status: "completed",
      totalTasks: 3,
      finishedTasks: 3,
    });
    expect((await getJson<RunsResponse>("api/runs?status=failed")).runs).toEqual([]);
    expect((await getJson<RunsResponse>("api/runs?limit=2")).runs).toHaveLength(2);
    const badStatus = await getJson<{ error: { code: string; message: string } }>("api/runs?status=done", 400);
    expect(badStatus.error.message).toMatch(/status.*pending, awaiting_approval, running/);

    const run = await getJson<RunResponse>(`api/runs/${runIds[0]}`);
    expect(run.run.durationMs).toBeGreaterThanOrEqual(0);
    expect(run.tasks.map((t) => [t.id, t.status, t.dependsOn])).toEqual([
      ["fetch", "completed", []],
      ["parse", "completed", ["fetch"]],
      ["side", "completed", []],
    ]);
    expect(run.tasks.every((t) => t.merged.length === 0)).toBe(true);
    const merged = await orch.composeFromTaskGraph(
      validateGraph({ goal: "Fetch and parse in one attempt", tasks: [{ id: "parse", merged: [{ id: "fetch" }] }] }),
      pipelineSteps,
      { workflow: "feed-merged" },
    );
    expect((await getJson<RunResponse>(`api/runs/${merged.runId}`)).tasks.map((t) => [t.id, t.merged])).toEqual([
      ["parse", ["fetch"]],
    ]);
    const task = await getJson<TaskResponse>(`api/runs/${runIds[0]}/tasks/fetch`);
    expect(task.attempts).toHaveLength(1);
    expect(task.attempts[0]).toMatchObject({ attempt: 1, status: "completed" });
    expect(task.logs.map((l) => [l.message, l.data])).toEqual([["fetched", { bytes: 10 }]]);
    expect(
      (await getJson<{ attempts: unknown[] }>(`api/runs/${runIds[0]}/tasks/parse/attempts`)).attempts,
    ).toHaveLength(1);
    expect((await getJson<{ logs: unknown[] }>(`api/runs/${runIds[0]}/tasks/fetch/logs`)).logs).toHaveLength(1);
    expect((await getJson<{ error: { code: string } }>(`api/runs/${runIds[0]}/tasks/nope`, 404)).error.code).toBe(
      "TASK_NOT_FOUND",
    );
    expect(
      (await getJson<{ error: { code: string } }>("api/runs/00000000-0000-4000-8000-000000000000", 404)).error.code,
    ).toBe("RUN_NOT_FOUND");
    expect((await getJson<{ error: { code: string } }>("api/nothing", 404)).error.code).toBe("NOT_FOUND");
  });

  it("gives a workflow's duration percentiles and the optimizer's recommendations", async () => {
    const workflow = await getJson<WorkflowResponse>("api/workflows/feed");
    expect(workflow.statusCounts).toEqual({ completed: 5 });
    const d = workflow.runDurations;
    expect(d.samples).toBe(5);
    expect(d.p50Ms!).toBeGreaterThan(0);
    expect(d.p50Ms!).toBeLessThanOrEqual(d.p95Ms!);
    expect(d.p95Ms!).toBeLessThanOrEqual(d.p99Ms!);
    expect(d.p99Ms!).toBeLessThanOrEqual(d.maxMs!);
    expect(workflow.tasks.map((t) => [t.key, t.runs, t.successes])).toEqual([
      ["fetch", 5, 5],
      ["parse", 5, 5],
      ["side", 5, 5],
    ]);
    expect(workflow.recommendationsError).toBeNull();
    expect(workflow.recommendations?.parallelizablePairs).toEqual(
      expect.arrayContaining([
        ["fetch", "side"],
        ["parse", "side"],
      ]),
    );
    expect(workflow.recommendations?.parallelizablePairs).not.toContainEqual(["fetch", "parse"]);
    expect(Array.isArray(workflow.recommendations?.changes)).toBe(true);
    expect((await getJson<{ workflows: { name: string; runs: number }[] }>("api/workflows")).workflows).toContainEqual(
      expect.objectContaining({ name: "feed", runs: 5 }),
    );
    expect((await getJson<{ error: { code: string } }>("api/workflows/nope", 404)).error.code).toBe(
      "WORKFLOW_NOT_FOUND",
    );
  });

  it("streams events, resuming after Last-Event-ID, then live ones", async () => {
    const { events } = await getJson<{ events: EventView[] }>(`api/runs/${runIds[1]}/events`);
    expect(events.length).toBeGreaterThan(4);
    const from = events[1]!.id;
    const stream = await openStream(url(`api/stream?runId=${runIds[1]}`), { "Last-Event-ID": from });
    try {
      expect(stream.status).toBe(200);
      expect(stream.contentType).toMatch(/^text\/event-stream/);
      const expected = events.slice(2).map((e) => e.id);
      await stream.until(
        (messages) =>
          messages.filter((m) => m.id).length >= expected.length && messages.some((m) => m.event === "ready"),
      );
      const sent = stream.messages.filter((m) => m.id).map((m) => JSON.parse(m.data) as EventView);
      expect(sent.map((e) => e.id)).toEqual(expected);
      expect(sent[0]).toMatchObject({ id: expected[0], runId: runIds[1] });
      // The message id is the event's cursor, which the browser sends back as Last-Event-ID.
      expect(stream.messages.filter((m) => m.id).map((m) => m.id)).toEqual(sent.map((e) => e.cursor));
      const id = await orch.notifications.sendWithNotify(orch.options.channel, {
        type: "custom:deployed",
        runId: runIds[1]!,
        payload: { to: "<b>prod</b>" },
      });
      const live = () => stream.messages.find((m) => m.id && (JSON.parse(m.data) as EventView).id === id);
      await stream.until(() => live() !== undefined);
      expect(JSON.parse(live()!.data)).toMatchObject({
        type: "custom:deployed",
        payload: { to: "<b>prod</b>" },
      });
    } finally {
      stream.close();
    }
    expect((await rawRequest(url("api/stream?runId=not-a-run"))).status).toBe(400);
    expect((await rawRequest(url("api/stream"), { headers: { "Last-Event-ID": "x1" } })).status).toBe(400);
  });

  it("resumes a stream from Last-Event-ID without skipping an event that committed after a later id", async () => {
    const types = "custom:sse-late,custom:sse";
    const dataIds = (stream: OpenStream) =>
      stream.messages.filter((m) => m.id).map((m) => (JSON.parse(m.data) as EventView).id);
    const send = () => orch.notifications.sendWithNotify(orch.options.channel, { type: "custom:sse" });
    const first = await openStream(url(`api/stream?types=${types}`));
    const late = await beginLateEvent(database.url, "custom:sse-late");
    try {
      await first.until((messages) => messages.some((m) => m.event === "ready"));
      const early = await send();
      expect(BigInt(early)).toBeGreaterThan(BigInt(late.id));
      await first.until((messages) => messages.some((m) => m.id));
      first.close();
      expect(dataIds(first)).toEqual([early]);
      const lastEventId = first.messages.find((m) => m.id)!.id!;
      expect(lastEventId).toMatch(/^c1\./);
      await late.commit();

      const byCursor = await openStream(url(`api/stream?types=${types}`), { "Last-Event-ID": lastEventId });
      const byId = await openStream(url(`api/stream?types=${types}`), { "Last-Event-ID": early });
      try {
        await byCursor.until((messages) => messages.some((m) => m.event === "ready"));
        await byId.until((messages) => messages.some((m) => m.event === "ready"));
        const marker = await send();
        await byCursor.until(() => dataIds(byCursor).includes(marker));
        await byId.until(() => dataIds(byId).includes(marker));
        expect(dataIds(byCursor)).toEqual([late.id, marker]);
        // A plain event id (what streams sent before cursors) skips the late row.
        expect(dataIds(byId)).toEqual([marker]);
      } finally {
        byCursor.close();
        byId.close();
      }
      const page = await getJson<{ events: EventView[] }>(
        `api/events?types=${types}&after=${encodeURIComponent(lastEventId)}`,
      );
      expect(page.events.map((e) => e.id)).toEqual([late.id, expect.any(String)]);
    } finally {
      first.close();
      await late.end();
    }
  });

  it("pauses, resumes and cancels a running run, and retries a failed one from a task", async () => {
    const started = gate();
    const release = gate();
    const steps: Steps = {
      slow: async () => {
        started.open();
        await release.promise;
        return 1;
      },
      after: async () => 2,
    };
    const running = orch.composeFromTaskGraph(
      validateGraph({ goal: "Pause me", tasks: [{ id: "slow" }, { id: "after", dependsOn: ["slow"] }] }),
      steps,
      { workflow: "pausable" },
    );
    await started.promise;
    const runId = (await orch.listRuns({ workflow: "pausable", limit: 1 }))[0]!.runId;
    expect(await post(`api/runs/${runId}/pause`, { reason: "lunch" })).toEqual({
      status: 200,
      body: { runId, action: "pause", status: "paused" },
    });
    expect((await getJson<RunResponse>(`api/runs/${runId}`)).run.pauseReason).toBe("lunch");
    expect((await post(`api/runs/${runId}/pause`)).status).toBe(409);
    expect((await post(`api/runs/${runId}/resume`)).body.status).toBe("running");
    release.open();
    expect((await running).status).toBe("completed");
    const conflict = await post(`api/runs/${runId}/cancel`);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error?.message).toMatch(/already final/);
    expect((await post(`api/runs/${runId}/pause`, { reason: 42 })).status).toBe(400);
    expect((await fetch(url(`api/runs/${runId}/cancel`))).status).toBe(405);

    let failPlan = true;
    const retrySteps: Steps = {
      research: async () => "facts",
      plan: async () => {
        if (failPlan) {
          throw new NonRetryableError("planner down");
        }
        return "plan";
      },
    };
    const failed = await orch.composeFromTaskGraph(
      validateGraph({ goal: "Retry me", tasks: [{ id: "research" }, { id: "plan", dependsOn: ["research"] }] }),
      retrySteps,
      { workflow: "retryable" },
    );
    expect(failed.status).toBe("failed");
    failPlan = false;
    expect((await post(`api/runs/${failed.runId}/retry`, { fromTask: "nope" })).status).toBe(400);
    const retried = await post(`api/runs/${failed.runId}/retry`, { fromTask: "plan" });
    expect(retried.status).toBe(200);
    expect(["running", "completed"]).toContain(retried.body.status);
    const result = await orch.waitForRun(failed.runId, { timeoutMs: 10_000 });
    expect(result.status).toBe("completed");
    expect(result.outputs).toEqual({ research: "facts", plan: "plan" });
    await waitFor(async () => (await getJson<RunResponse>(`api/runs/${failed.runId}`)).run.status === "completed");
  });

  it("without a token, answers only to loopback names and takes actions from its own origin only", async () => {
    const runId = runIds[0]!;
    const rebound = await rawRequest(url("api/runs"), { headers: { Host: `attacker.example:${dashboard.port}` } });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error.code).toBe("FORBIDDEN_HOST");
    expect((await rawRequest(url("api/runs"), { headers: { Host: `localhost:${dashboard.port}` } })).status).toBe(200);
    const crossSite = await rawRequest(url(`api/runs/${runId}/retry`), {
      method: "POST",
      headers: { "Content-Type": "application/json", Origin: "https://attacker.example" },
      body: "{}",
    });
    expect(crossSite.status).toBe(403);
    expect(JSON.parse(crossSite.body).error.code).toBe("FORBIDDEN_ORIGIN");
    const form = await rawRequest(url(`api/runs/${runId}/retry`), {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    expect(form.status).toBe(415);
    expect((await rawRequest(url("assets/..%2F..%2Fpackage.json"))).status).toBe(404);
    const page = await rawRequest(dashboard.url);
    expect(page.headers["content-security-policy"]).toMatch(/script-src 'self'/);
    expect(page.body).toMatch(/<div id="root">/);
  });
});
