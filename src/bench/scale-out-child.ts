/**
 * A worker process of W8 for htdag: `node scale-out-child.js <url> <concurrency> <stepMs>` runs the
 * steps of workflow "bench-scale" (each sleeps `stepMs`) until SIGTERM (processes.ts).
 */
import { createOrchestrator } from "../create-orchestrator.js";
import { countRoundTrips, serveUntilTerminated } from "./processes.js";

const [url = "", concurrency = "10", stepMs = "20"] = process.argv.slice(2);
countRoundTrips();
const orch = await createOrchestrator({
  database: url,
  migrate: false,
  onError: (error) => console.error("htdag (bench worker process):", error),
});
const worker = await orch.startWorker({
  workflows: {
    "bench-scale": {
      nap: async () => {
        await new Promise((resolve) => setTimeout(resolve, Number(stepMs)));
        return null;
      },
    },
  },
  concurrency: Number(concurrency),
});
serveUntilTerminated(url, async () => {
  await worker.stop();
  await orch.close();
});
