/**
 * A worker in another process continues the run's trace: the run's trace context is stored with
 * the run, so the task spans that process exports have the run span's trace id and the run span
 * as their parent.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { registerTestTelemetry, type TestTelemetry } from "../helpers/telemetry.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
let otel: TestTelemetry;
let orch: Orchestrator;
let database: { url: string; drop: () => Promise<void> };
beforeAll(async () => {
  otel = registerTestTelemetry();
  database = await createTestDatabase();
  orch = await createOrchestrator({ database: database.url, telemetry: true });
});
afterAll(async () => {
  await orch.close();
  await database.drop();
  await otel.shutdown();
});

interface ChildSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  attributes: Record<string, unknown>;
}

describe("a worker in another process", () => {
  it("continues the run's trace: same trace id, its task spans children of the run span", async () => {
    const graph = validateGraph({ goal: "traced", tasks: [{ id: "hello" }, { id: "world", dependsOn: ["hello"] }] });
    const { runId } = await trace
      .getTracer("app")
      .startActiveSpan("app.submit", (span) => orch.submit(graph, { workflow: "traced" }).finally(() => span.end()));
    const run = otel.spans().find((s) => s.name === "htdag.run")!;
    expect(run.attributes).toMatchObject({ "htdag.run_id": runId, "htdag.submitted": true });
    const { stdout } = await promisify(execFile)("node", ["--import", "tsx", "test/e2e/telemetry-worker-child.ts"], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: database.url, RUN_ID: runId },
      timeout: 30_000,
    });
    const tasks = (JSON.parse(stdout) as ChildSpan[]).filter((s) => s.name === "htdag.task");
    expect(tasks.map((s) => [s.attributes["htdag.task_id"], s.attributes["htdag.status"]])).toEqual([
      ["hello", "completed"],
      ["world", "completed"],
    ]);
    for (const task of tasks) {
      expect(task.traceId).toBe(run.spanContext().traceId);
      expect(task.parentSpanId).toBe(run.spanContext().spanId);
      expect(task.attributes["htdag.run_id"]).toBe(runId);
    }
  });
});
