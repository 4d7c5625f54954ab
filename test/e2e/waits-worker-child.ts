/**
 * A worker process for the waits restart test (waits-restart.test.ts):
 * `node --import tsx test/e2e/waits-worker-child.ts <url> <log>`. Runs workflow `waits_restart`,
 * whose steps append `<step> <pid>` to the log. Prints "ready" once its worker runs.
 */
import { appendFileSync } from "node:fs";
import { createOrchestrator } from "../../src/index.js";

const [url, log] = process.argv.slice(2);

const step = (name: string) => () => {
  appendFileSync(log!, `${name} ${process.pid}\n`);
  return name;
};

const orch = await createOrchestrator({ database: url!, migrate: false, leaseMs: 1_000, onError: () => undefined });
const worker = await orch.startWorker({
  workflows: { waits_restart: { draft: step("draft"), publish: step("publish") } },
  concurrency: 2,
  reapIntervalMs: 250,
  pollIntervalMs: 100,
});
console.log("ready");
process.once("SIGTERM", () => {
  void worker
    .stop()
    .then(() => orch.close())
    .finally(() => process.exit(0));
});
