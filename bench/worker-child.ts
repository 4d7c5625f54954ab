/**
 * A worker process for bench/workers.ts: `tsx bench/worker-child.ts <url> <concurrency> <batchSize> [leaseMs]`.
 * Runs no-op steps of workflow "flat" (and 300 ms steps of "slow"); prints "ready" once started, and
 * on SIGTERM prints its driver's round-trip count as JSON, then exits.
 */
import { createOrchestrator } from "../src/index.js";

const [url, concurrency = "10", batchSize = "1", leaseMs = "30000"] = process.argv.slice(2);
const orch = await createOrchestrator({
  database: url!,
  migrate: false,
  leaseMs: Number(leaseMs),
  onError: () => undefined,
});
const worker = await orch.startWorker({
  workflows: {
    flat: { noop: async () => null },
    slow: {
      nap: async () => {
        await new Promise((r) => setTimeout(r, 300));
        return null;
      },
    },
  },
  concurrency: Number(concurrency),
  batchSize: Number(batchSize),
  reapIntervalMs: 250,
  pollIntervalMs: 2000,
});
console.log("ready");
process.once("SIGTERM", () => {
  void worker.stop().then(async () => {
    console.log(JSON.stringify({ roundTrips: orch.db.stats.roundTrips }));
    await orch.close();
    process.exit(0);
  });
});
