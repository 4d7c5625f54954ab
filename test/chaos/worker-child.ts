/**
 * A chaos worker process: `node --import tsx test/chaos/worker-child.ts <url> <concurrency> <leaseMs>`.
 * Runs the chaos step (recorder.ts). Prints "ready" once its worker
 * runs; each error the worker reports goes to stderr as one line, `error <name> <message>`, so the
 * harness can count them. On SIGTERM it stops its worker and exits.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { createOrchestrator } from "../../src/index.js";
import { exitWithHarness, reportToHarness } from "./child.js";
import { recorderPool, recordingStep } from "./recorder.js";
import { CHAOS_STEP, CHAOS_WORKFLOW } from "./workload.js";

const [url, concurrency, leaseMs] = process.argv.slice(2);
const recorder = recorderPool(url!, Number(concurrency));
const work = recordingStep(recorder);

/** Starts the worker, again and again while the server is down (a replacement may start during a restart). */
async function start() {
  for (;;) {
    try {
      const orch = await createOrchestrator({
        database: url!,
        migrate: false,
        leaseMs: Number(leaseMs),
        onError: reportToHarness,
      });
      try {
        const worker = await orch.startWorker({
          workflows: { [CHAOS_WORKFLOW]: { [CHAOS_STEP]: work } },
          concurrency: Number(concurrency),
          reapIntervalMs: 250,
          pollIntervalMs: 1_000,
          stopTimeoutMs: 5_000,
        });
        return { orch, worker };
      } catch (error) {
        await orch.close().catch(reportToHarness);
        throw error;
      }
    } catch (error) {
      reportToHarness(error);
      await sleep(200);
    }
  }
}

const { orch, worker } = await start();
exitWithHarness();
console.log("ready");
process.once("SIGTERM", () => {
  void worker
    .stop()
    .then(() => orch.close())
    .then(() => recorder.end())
    .catch(reportToHarness)
    .finally(() => process.exit(0));
});
