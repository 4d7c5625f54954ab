/**
 * A worker in its own process, for test/e2e/telemetry-worker.test.ts: registers its own in-memory
 * span exporter, runs the run RUN_ID of workflow "traced" to its end, and prints its finished spans
 * as JSON (one object per span) on stdout.
 */
import { registerTestTelemetry } from "../helpers/telemetry.js";
import { createOrchestrator } from "../../src/create-orchestrator.js";

const otel = registerTestTelemetry();
const orch = await createOrchestrator({ database: process.env.DATABASE_URL!, telemetry: true, migrate: false });
const worker = await orch.startWorker({
  workflows: { traced: { hello: () => ({ greeting: "hello" }), world: () => ({ done: true }) } },
  pollIntervalMs: 100,
});
await orch.waitForRun(process.env.RUN_ID!, { timeoutMs: 20_000 });
await worker.stop();
await orch.close();
const spans = otel.spans().map((span) => ({
  name: span.name,
  traceId: span.spanContext().traceId,
  spanId: span.spanContext().spanId,
  parentSpanId: span.parentSpanContext?.spanId ?? null,
  attributes: span.attributes,
}));
await otel.shutdown();
process.stdout.write(JSON.stringify(spans));
