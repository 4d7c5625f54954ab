/**
 * OpenTelemetry on both stores: the spans of a run (htdag.run under the caller's span, htdag.task
 * per attempt under it, the step's own spans under its task), the error of a failed attempt, the
 * decomposition's span, the metrics, and nothing at all when telemetry is off.
 */
import { SpanStatusCode, trace } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Steps, TaskGraph } from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import { parentOf, registerTestTelemetry, type Points, type TestTelemetry } from "../helpers/telemetry.js";
import { waitFor } from "../helpers/wait.js";

let otel: TestTelemetry;
beforeAll(() => void (otel = registerTestTelemetry()));
afterAll(async () => otel.shutdown());
beforeEach(() => otel.exporter.reset());

const graph: TaskGraph = validateGraph({
  goal: "traced",
  tasks: [{ id: "fetch" }, { id: "flaky", dependsOn: ["fetch"], maxAttempts: 2 }],
});
const fast = { backoff: { baseMs: 5, maxMs: 5, jitter: 0 } };

/** Steps: `fetch` starts a span of its own; `flaky` fails its first attempt. */
function tracedSteps(): Steps {
  let flakyAttempts = 0;
  return {
    fetch: () =>
      trace.getTracer("app").startActiveSpan("app.fetch", (span) => {
        span.end();
        return { n: 1 };
      }),
    flaky: () => {
      if (++flakyAttempts === 1) {
        throw new Error("first attempt fails");
      }
      return { ok: true };
    },
  };
}

const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const sumOf = (points: Points, attributes: Record<string, string>) =>
  points
    .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (typeof p.value === "number" ? p.value : p.value.count), 0);

describe.each(STORES)("telemetry on %s", (kind) => {
  const orch = useOrchestrator(kind, { telemetry: true });

  it("traces the run under the caller's span, each attempt under the run, and the step's spans under its attempt", async () => {
    const result = await trace.getTracer("app").startActiveSpan("app.request", async (caller) =>
      orch()
        .composeFromTaskGraph(graph, tracedSteps(), fast)
        .finally(() => caller.end()),
    );
    expect(result.status).toBe("completed");
    const spans = otel.spans();
    const [caller] = named(spans, "app.request");
    const [run] = named(spans, "htdag.run");
    expect(run).toBeDefined();
    expect(parentOf(run!)).toBe(caller!.spanContext().spanId);
    expect(run!.attributes).toMatchObject({
      "htdag.run_id": result.runId,
      "htdag.workflow": result.workflow,
      "htdag.status": "completed",
    });
    const tasks = named(spans, "htdag.task");
    expect(
      tasks.map((s) => [s.attributes["htdag.task_id"], s.attributes["htdag.attempt"], s.attributes["htdag.status"]]),
    ).toEqual([
      ["fetch", 1, "completed"],
      ["flaky", 1, "failed"],
      ["flaky", 2, "completed"],
    ]);
    for (const task of tasks) {
      expect(task.spanContext().traceId).toBe(run!.spanContext().traceId);
      expect(parentOf(task)).toBe(run!.spanContext().spanId);
      expect(task.attributes).toMatchObject({
        "htdag.run_id": result.runId,
        "htdag.step": task.attributes["htdag.task_id"],
      });
    }
    const failed = tasks[1]!;
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: "first attempt fails" });
    expect(failed.events.map((e) => [e.name, e.attributes?.["exception.message"]])).toEqual([
      ["exception", "first attempt fails"],
    ]);
    const [own] = named(spans, "app.fetch");
    expect(parentOf(own!)).toBe(tasks[0]!.spanContext().spanId);
  });

  it("counts and times attempts by workflow, step and status, and records their queue wait", async () => {
    const result = await orch().composeFromTaskGraph(graph, tracedSteps(), { ...fast, workflow: `metrics-${kind}` });
    expect(result.status).toBe("completed");
    const workflow = { "htdag.workflow": `metrics-${kind}` };
    expect(sumOf(await otel.points("htdag.tasks"), { ...workflow, "htdag.status": "completed" })).toBe(2);
    expect(
      sumOf(await otel.points("htdag.tasks"), { ...workflow, "htdag.step": "flaky", "htdag.status": "failed" }),
    ).toBe(1);
    expect(sumOf(await otel.points("htdag.task.duration"), workflow)).toBe(3);
    // Read while the step runs, recorded once it is known: it may arrive after the run ends.
    await waitFor(async () => sumOf(await otel.points("htdag.task.queue_wait"), workflow) === 3, 5000, "queue waits");
  });

  it("traces a lazy composite's expansion as its attempt, with the decomposition (and its own spans) under it", async () => {
    const lazy = validateGraph({
      goal: "lazy traced",
      tasks: [
        { id: "list" },
        { id: "process", kind: "composite", expand: "lazy", dependsOn: ["list"] },
        { id: "summary", dependsOn: ["process"] },
      ],
    });
    const steps: Steps = { list: () => ["a"], handle: (ctx) => ctx.input, summary: () => "done" };
    const planner = (_goal: string, ctx: { parent?: { depsOutputs: Record<string, unknown> } }) =>
      trace.getTracer("app").startActiveSpan("app.plan", (span) => {
        span.end();
        return (ctx.parent!.depsOutputs.list as string[]).map((file) => ({ id: `file_${file}`, step: "handle" }));
      });
    const result = await orch().composeFromTaskGraph(lazy, steps, { ...fast, decomposer: planner });
    expect(result.status).toBe("completed");
    const spans = otel.spans();
    const [run] = named(spans, "htdag.run");
    const tasks = named(spans, "htdag.task");
    expect(tasks.map((s) => [s.attributes["htdag.task_id"], s.attributes["htdag.status"]])).toEqual([
      ["list", "completed"],
      ["process", "expanded"],
      ["process/file_a", "completed"],
      ["summary", "completed"],
    ]);
    for (const task of tasks) {
      expect(parentOf(task)).toBe(run!.spanContext().spanId);
    }
    const [decompose] = named(spans, "htdag.decompose");
    expect(parentOf(decompose!)).toBe(tasks[1]!.spanContext().spanId);
    expect(decompose!.attributes).toMatchObject({ "htdag.decomposer": "planner" });
    expect(parentOf(named(spans, "app.plan")[0]!)).toBe(decompose!.spanContext().spanId);
  });

  it("traces a decomposition", async () => {
    const decomposer = { name: "two-steps", decompose: () => [{ id: "fetch" }, { id: "flaky", dependsOn: ["fetch"] }] };
    const decomposed = await orch().decomposeGoal("decompose me", decomposer, { steps: tracedSteps() });
    const [span] = named(otel.spans(), "htdag.decompose");
    expect(span!.attributes).toMatchObject({
      "htdag.goal": "decompose me",
      "htdag.decomposer": "two-steps",
      "htdag.graph_id": decomposed.id,
      "htdag.tasks": 2,
    });
  });
});

describe("telemetry off", () => {
  const orch = useOrchestrator("postgres");

  it("reports nothing, with an SDK registered", async () => {
    const result = await orch().composeFromTaskGraph(graph, tracedSteps(), { ...fast, workflow: "untraced" });
    expect(result.status).toBe("completed");
    expect(otel.spans().map((s) => s.name)).toEqual(["app.fetch"]);
    expect(sumOf(await otel.points("htdag.tasks"), { "htdag.workflow": "untraced" })).toBe(0);
  });
});
