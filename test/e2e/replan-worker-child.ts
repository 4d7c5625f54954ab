/**
 * A worker process for the re-planning crash test (replan-crash.test.ts):
 * `node --import tsx test/e2e/replan-worker-child.ts <url> <log> <block|answer>`. Runs workflow
 * `replan_crash` (replan-crash-workload.ts) with its decomposer; with `block`, the decomposer
 * blocks forever once it has logged the revision (the parent kills the process there). Prints
 * "ready" once its worker runs; on SIGTERM it stops its worker and exits.
 */
import { createOrchestrator } from "../../src/index.js";
import { crashDecomposer, crashSteps } from "./replan-crash-workload.js";

const [url, log, mode] = process.argv.slice(2);

const orch = await createOrchestrator({ database: url!, migrate: false, leaseMs: 1_000, onError: () => undefined });
const worker = await orch.startWorker({
  workflows: { replan_crash: crashSteps(log!) },
  decomposers: { replan_crash: crashDecomposer(log!, mode === "block" ? "block" : "answer") },
  concurrency: 2,
  reapIntervalMs: 250,
  pollIntervalMs: 250,
});
console.log("ready");
process.once("SIGTERM", () => {
  void worker
    .stop()
    .then(() => orch.close())
    .finally(() => process.exit(0));
});
