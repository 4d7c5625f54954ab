/**
 * A worker process of W8 for graphile-worker: `tsx graphile-worker-child.ts <url> <concurrency> <stepMs>`
 * runs a runner whose task "nap" sleeps `stepMs`, until SIGTERM (src/bench/processes.ts).
 */
import { Logger, run } from "graphile-worker";
import { countRoundTrips, serveUntilTerminated } from "../../src/bench/processes.js";

const [url = "", concurrency = "10", stepMs = "20"] = process.argv.slice(2);
countRoundTrips();
const runner = await run({
  connectionString: url,
  concurrency: Number(concurrency),
  noHandleSignals: true,
  logger: new Logger(() => () => undefined),
  taskList: { nap: () => new Promise<void>((resolve) => setTimeout(resolve, Number(stepMs))) },
});
serveUntilTerminated(url, () => runner.stop());
