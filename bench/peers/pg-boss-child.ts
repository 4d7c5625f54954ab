/**
 * A worker process of W8 for pg-boss: `tsx pg-boss-child.ts <url> <concurrency> <stepMs> <queue>` runs
 * `concurrency` work() workers on `queue` (each sleeps `stepMs` per job, polls every 0.5 s and fetches
 * again at once after a full batch, as in pg-boss.ts), until SIGTERM (src/bench/processes.ts).
 */
import PgBoss from "pg-boss";
import { countRoundTrips, serveUntilTerminated } from "../../src/bench/processes.js";
import { reportUnlessDropped } from "./common.js";

const [url = "", concurrency = "10", stepMs = "20", queue = ""] = process.argv.slice(2);
countRoundTrips();
// The parent's instance migrates and maintains; this one only works.
const boss = new PgBoss({ connectionString: url, max: Number(concurrency) + 2, supervise: false, schedule: false });
boss.on("error", reportUnlessDropped("pg-boss (worker process)"));
await boss.start();
const ids: string[] = [];
await Promise.all(
  Array.from({ length: Number(concurrency) }, async (_, k) => {
    ids[k] = await boss.work(queue, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      await new Promise((resolve) => setTimeout(resolve, Number(stepMs)));
      const id = ids[k];
      if (jobs.length === 1 && id) {
        boss.notifyWorker(id);
      }
    });
  }),
);
serveUntilTerminated(url, () => boss.stop({ graceful: true, wait: true }));
