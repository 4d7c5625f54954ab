/** The dashboard's pure parts: graph layout with collapsible composites, live event application, options and the token check. */
import { describe, expect, it } from "vitest";
import type { EventView, RunResponse, TaskView } from "../../src/dashboard/types.js";
import { DashboardTokenRequiredError } from "../../src/dashboard/errors.js";
import { sameSecret } from "../../src/dashboard/guard.js";
import { isLoopbackHost, resolveDashboardOptions } from "../../src/dashboard/options.js";
import { InvalidOptionError } from "../../src/errors.js";
import { estimateTextWidth, wrapText } from "../../web/src/graph/labels.js";
import { LINE_HEIGHT, MAX_NODE_WIDTH, NODE_HEIGHT, NODE_WIDTH, layoutGraph } from "../../web/src/graph/layout.js";
import { appendEvent, applyEvent } from "../../web/src/live.js";
import { launchChromium } from "./helpers.js";

function task(id: string, extra: Partial<TaskView> = {}): TaskView {
  return {
    id,
    parentId: null,
    kind: "atomic",
    step: id,
    description: "",
    status: "pending",
    dependsOn: [],
    merged: [],
    attempts: 0,
    maxAttempts: 3,
    timeoutMs: 30_000,
    queue: "default",
    priority: 0,
    error: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    usage: null,
    wait: null,
    waiting: null,
    ...extra,
  };
}

/** prepare → build { compile → link } → ship */
const tasks = [
  task("prepare"),
  task("build", { kind: "composite", step: null, dependsOn: ["prepare"] }),
  task("compile", { parentId: "build" }),
  task("link", { parentId: "build", dependsOn: ["compile"] }),
  task("ship", { dependsOn: ["build"] }),
];

const edges = (layout: ReturnType<typeof layoutGraph>) => layout.edges.map((e) => `${e.from}->${e.to}`).sort();

describe("layoutGraph", () => {
  it("draws an expanded composite as a box around its children, wiring edges to its first and last children", () => {
    const layout = layoutGraph(tasks, new Set());
    expect(layout.clusters.map((c) => c.task.id)).toEqual(["build"]);
    expect(layout.nodes.map((n) => n.task.id)).toEqual(["prepare", "compile", "link", "ship"]);
    expect(edges(layout)).toEqual(["compile->link", "link->ship", "prepare->compile"]);
    const box = layout.clusters[0]!;
    for (const id of ["compile", "link"]) {
      const node = layout.nodes.find((n) => n.task.id === id)!;
      expect(Math.abs(node.x - box.x)).toBeLessThan(box.width / 2);
      expect(Math.abs(node.y - box.y)).toBeLessThan(box.height / 2);
    }
    const x = (id: string) => layout.nodes.find((n) => n.task.id === id)!.x;
    expect(x("prepare")).toBeLessThan(x("compile"));
    expect(x("compile")).toBeLessThan(x("link"));
    expect(x("link")).toBeLessThan(x("ship"));
    expect(layout.width).toBeGreaterThan(0);
    for (const edge of layout.edges) {
      expect(edge.points.length).toBeGreaterThanOrEqual(2);
    }
  });

  it("draws a collapsed composite as one node standing for what it contains", () => {
    const layout = layoutGraph(tasks, new Set(["build"]));
    expect(layout.clusters).toEqual([]);
    expect(layout.nodes.map((n) => [n.task.id, n.collapsed, n.hidden])).toEqual([
      ["prepare", false, 0],
      ["build", true, 2],
      ["ship", false, 0],
    ]);
    expect(edges(layout)).toEqual(["build->ship", "prepare->build"]);
  });

  it("nests composites and keeps edges between tasks of a collapsed outer one out of the drawing", () => {
    const nested = [
      task("outer", { kind: "composite", step: null }),
      task("inner", { kind: "composite", step: null, parentId: "outer" }),
      task("a", { parentId: "inner" }),
      task("b", { parentId: "outer", dependsOn: ["inner"] }),
      task("after", { dependsOn: ["outer"] }),
    ];
    expect(edges(layoutGraph(nested, new Set()))).toEqual(["a->b", "b->after"]);
    expect(edges(layoutGraph(nested, new Set(["inner"])))).toEqual(["b->after", "inner->b"]);
    const collapsed = layoutGraph(nested, new Set(["outer"]));
    expect(collapsed.nodes.map((n) => [n.task.id, n.hidden])).toEqual([
      ["outer", 3],
      ["after", 0],
    ]);
    expect(edges(collapsed)).toEqual(["outer->after"]);
  });
});

describe("task boxes and their names", () => {
  const long = "summarise-the-quarterly-statements-of-every-subsidiary_and_flag_anomalies";

  it("a short name keeps the narrowest box; a longer one widens it, then wraps, whole, into a taller box", () => {
    const layout = layoutGraph(
      [task("a"), task("render-the-monthly-report-pdf"), task(long, { status: "timed_out", attempts: 3 })],
      new Set(),
    );
    const node = (id: string) => layout.nodes.find((n) => n.task.id === id)!;
    expect(node("a")).toMatchObject({ width: NODE_WIDTH, height: NODE_HEIGHT, lines: ["a"], meta: "pending" });
    const wider = node("render-the-monthly-report-pdf");
    expect(wider.lines).toEqual(["render-the-monthly-report-pdf"]);
    expect(wider.width).toBe(29 * 9 + 20);
    const wrapped = node(long);
    expect(wrapped.lines).toEqual([
      "summarise-the-quarterly-statements-",
      "of-every-subsidiary_and_flag_",
      "anomalies",
    ]);
    expect(wrapped.lines.join("")).toBe(long);
    // As wide as its widest line (35 characters at the estimate's 9 px, plus padding), within the widest box.
    expect(wrapped.width).toBeLessThanOrEqual(MAX_NODE_WIDTH);
    expect(wrapped).toMatchObject({
      width: 35 * 9 + 20,
      height: NODE_HEIGHT + 2 * LINE_HEIGHT,
      meta: "timed out · 3 attempts",
    });
  });

  it("wraps a name without separators mid-word, and keeps every character", () => {
    const name = "x".repeat(100);
    const lines = wrapText(name, 180, estimateTextWidth);
    expect(lines).toEqual(["x".repeat(20), "x".repeat(20), "x".repeat(20), "x".repeat(20), "x".repeat(20)]);
    expect(wrapText("", 180, estimateTextWidth)).toEqual([""]);
  });
});

describe("live updates", () => {
  const state: RunResponse = {
    run: {
      id: "r1",
      workflow: "w",
      goal: "g",
      status: "running",
      totalTasks: 2,
      finishedTasks: 0,
      failedTasks: 0,
      revision: 0,
      createdAt: "",
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      pauseReason: null,
      error: null,
      maxParallel: 10,
      usage: { llmCalls: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
      budget: null,
      budgetExceeded: false,
    },
    tasks: [task("a", { status: "running", attempts: 1 }), task("b")],
    revisions: [],
    usageBySource: [],
    plan: null,
  };
  const event = (
    id: string,
    type: string,
    taskId: string | null,
    payload: Record<string, unknown> = {},
    runId = "r1",
  ): EventView => ({ id, type, runId, taskId, workflow: "w", payload, createdAt: "" });

  it("moves tasks and the run to the state an event reports, and leaves other runs alone", () => {
    const failed = applyEvent(state, event("5", "task:failed", "a", { status: "timed_out" }))!;
    expect(failed.tasks.map((t) => t.status)).toEqual(["timed_out", "pending"]);
    expect(applyEvent(state, event("6", "task:started", "b", { attempt: 2 }))!.tasks[1]).toMatchObject({
      status: "running",
      attempts: 2,
    });
    expect(applyEvent(state, event("7", "execution:cancelled", null))!.run.status).toBe("cancelled");
    expect(applyEvent(state, event("8", "task:completed", "a", {}, "r2"))).toBe(state);
    expect(applyEvent(state, event("9", "custom:deployed", null))).toBe(state);
  });

  it("supersedes the tasks a plan:revised removed and makes the changed ones pending again", () => {
    const revised = applyEvent(
      state,
      event("10", "plan:revised", "a", {
        revision: 1,
        reason: "x",
        taskId: "a",
        added: ["a2"],
        removed: ["a"],
        changed: ["b"],
      }),
    )!;
    expect(revised.tasks.map((t) => [t.id, t.status])).toEqual([
      ["a", "superseded"],
      ["b", "pending"],
    ]);
    expect(revised.run.revision).toBe(1);
    expect(revised.revisions).toBe(state.revisions);
  });

  it("shows a wait task waiting, completes it when its signal is delivered, and follows a plan's approval", () => {
    const waiting = applyEvent(
      state,
      event("11", "task:waiting", "b", { attempt: 1, signal: "approval", until: "2026-12-06T00:00:00.000Z" }),
    )!;
    expect(waiting.tasks[1]).toMatchObject({
      status: "waiting",
      waiting: { signal: "approval", until: "2026-12-06T00:00:00.000Z" },
    });
    const kept = applyEvent(
      waiting,
      event("12", "signal:received", null, { name: "x", delivered: false, taskId: null }),
    );
    expect(kept).toBe(waiting);
    const delivered = applyEvent(
      waiting,
      event("13", "signal:received", "b", { name: "approval", delivered: true, taskId: "b" }),
    )!;
    expect(delivered.tasks[1]).toMatchObject({ status: "completed", waiting: null });

    const plan = { goal: "g", tasks: [{ id: "a" }], encryptedInputs: false };
    const awaiting = applyEvent({ ...state, plan }, event("14", "plan:awaiting_approval", null, { tasks: 1 }))!;
    expect(awaiting.run.status).toBe("awaiting_approval");
    expect(awaiting.plan).toBe(plan);
    const approved = applyEvent(awaiting, event("15", "plan:approved", null, { edited: false, tasks: 1 }))!;
    expect([approved.run.status, approved.plan]).toEqual(["running", null]);
    const rejected = applyEvent(awaiting, event("16", "plan:rejected", null, { reason: "no" }))!;
    expect([rejected.run.status, rejected.plan]).toEqual(["cancelled", null]);
  });

  it("keeps events unique and in id order, the latest ones only", () => {
    let events: EventView[] = [];
    for (const id of ["10", "9", "11", "10"]) {
      events = appendEvent(events, event(id, "task:progress", "a"), 2);
    }
    expect(events.map((e) => e.id)).toEqual(["10", "11"]);
  });
});

describe("dashboard options", () => {
  it("binds loopback by default and needs a token for any other host", () => {
    expect(resolveDashboardOptions({})).toMatchObject({ port: 4400, host: "127.0.0.1", token: null });
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    for (const host of ["0.0.0.0", "::", "192.168.1.10", "example.com"]) {
      expect(isLoopbackHost(host)).toBe(false);
    }
    expect(() => resolveDashboardOptions({ host: "0.0.0.0" })).toThrow(DashboardTokenRequiredError);
    expect(resolveDashboardOptions({ host: "0.0.0.0", token: "0123456789abcdef" }).token).toBe("0123456789abcdef");
    expect(() => resolveDashboardOptions({ token: "short" })).toThrow(
      /token.*at least 16 characters.*received the string "short"/,
    );
    expect(() => resolveDashboardOptions({ port: 70_000 })).toThrow(InvalidOptionError);
    expect(() => resolveDashboardOptions({ prot: 1 })).toThrow(/unknown: prot/);
    expect(() => resolveDashboardOptions({ steps: { a: 1 } })).toThrow(/steps\.a/);
  });

  it("compares tokens whatever their lengths", () => {
    expect(sameSecret("0123456789abcdef", "0123456789abcdef")).toBe(true);
    expect(sameSecret("0123456789abcdeX", "0123456789abcdef")).toBe(false);
    expect(sameSecret("", "0123456789abcdef")).toBe(false);
    expect(sameSecret("0123456789abcdef0", "0123456789abcdef")).toBe(false);
  });
});

describe("the browser tests' chromium", () => {
  it("fails with the fix, never skips, when chromium is missing", async () => {
    await expect(launchChromium("/nonexistent/chromium")).rejects.toThrow(
      /need Debian's chromium at \/nonexistent\/chromium: install it with `apt-get install -y chromium`/,
    );
  });
});
