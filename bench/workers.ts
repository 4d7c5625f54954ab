/**
 * Workers benchmark (issue 5): 2,000 independent no-op tasks drained by 1 and by 2 worker processes,
 * unbatched (one task per claim) and batched (50 per claim), concurrency 10 each; tasks/s, round trips
 * per task (driver counters of the workers), and the time for a killed worker's tasks to be picked up
 * again. One warm-up is discarded; medians of BENCH_REPEATS (default 3) with min and max.
 *
 *   npx tsx bench/workers.ts [--json]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createOrchestrator, validateGraph } from "../src/index.js";
import { createBenchDatabase } from "./lib/databases.js";
import { summarize, type Summary } from "./lib/stats.js";

const quick = process.env.BENCH_QUICK === "1";
const TASKS = quick ? 500 : 2000;
const REPEATS = Number(process.env.BENCH_REPEATS ?? (quick ? 1 : 3));

interface Child {
  process: ChildProcess;
  stats: Promise<{ roundTrips: number }>;
}

async function startChild(url: string, concurrency: number, batchSize: number, leaseMs = 30_000): Promise<Child> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "bench/worker-child.ts", url, String(concurrency), String(batchSize), String(leaseMs)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk) => {
      out += String(chunk);
      if (out.includes("ready")) {
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
  });
  const stats = new Promise<{ roundTrips: number }>((resolve) =>
    child.once("exit", () => {
      const line = out.split("\n").find((l) => l.startsWith("{"));
      resolve(line ? (JSON.parse(line) as { roundTrips: number }) : { roundTrips: Number.NaN });
    }),
  );
  await ready;
  return { process: child, stats };
}

const flatGraph = (n: number) =>
  validateGraph(
    { goal: "flat", tasks: Array.from({ length: n }, (_, i) => ({ id: `t${i}`, step: "noop" })) },
    { limits: { maxTasks: 100_000 } },
  );

/** One drain: submit N tasks with workers already idle, time until the run is final. */
async function drain(
  workers: number,
  batchSize: number,
): Promise<{ tasksPerSecond: number; roundTripsPerTask: number }> {
  const db = await createBenchDatabase();
  const orch = await createOrchestrator({ database: db.url, maxTasks: 100_000 });
  try {
    const children = await Promise.all(Array.from({ length: workers }, () => startChild(db.url, 10, batchSize)));
    const graph = flatGraph(TASKS);
    const started = performance.now();
    const { runId } = await orch.submit(graph, { workflow: "flat", maxParallel: 10 * workers });
    await orch.waitForRun(runId, { timeoutMs: 300_000 });
    const seconds = (performance.now() - started) / 1000;
    for (const c of children) {
      c.process.kill("SIGTERM");
    }
    const stats = await Promise.all(children.map((c) => c.stats));
    const roundTrips = stats.reduce((sum, s) => sum + s.roundTrips, 0);
    return { tasksPerSecond: TASKS / seconds, roundTripsPerTask: roundTrips / TASKS };
  } finally {
    await orch.close();
    await db.drop();
  }
}

/** Kills a worker with 10 running 300 ms tasks; a second worker picks them up after lease + reap. */
async function pickup(leaseMs: number): Promise<number> {
  const db = await createBenchDatabase();
  const orch = await createOrchestrator({ database: db.url });
  try {
    const first = await startChild(db.url, 10, 10, leaseMs);
    const graph = validateGraph({
      goal: "slow",
      tasks: Array.from({ length: 10 }, (_, i) => ({ id: `s${i}`, step: "nap" })),
    });
    const { runId } = await orch.submit(graph, { workflow: "slow" });
    for (;;) {
      const { rows } = await orch.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM htdag.tasks WHERE run_id = $1 AND status = 'running'`,
        [runId],
      );
      if ((rows[0]?.n ?? 0) === 10) {
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    first.process.kill("SIGKILL");
    const killedAt = Date.now();
    const second = await startChild(db.url, 10, 10, leaseMs);
    await orch.waitForRun(runId, { timeoutMs: 120_000 });
    const { rows } = await orch.db.query<{ last: Date }>(
      `SELECT max(started_at) AS last FROM htdag.attempts WHERE run_id = $1 AND attempt = 2`,
      [runId],
    );
    second.process.kill("SIGTERM");
    await second.stats;
    return rows[0]!.last.getTime() - killedAt;
  } finally {
    await orch.close();
    await db.drop();
  }
}

async function measure<T extends Record<string, number>>(fn: () => Promise<T>): Promise<Record<keyof T, Summary>> {
  await fn(); // warm-up, discarded
  const runs: T[] = [];
  for (let i = 0; i < REPEATS; i++) {
    runs.push(await fn());
  }
  const keys = Object.keys(runs[0]!) as (keyof T)[];
  return Object.fromEntries(keys.map((k) => [k, summarize(runs.map((r) => r[k]))])) as Record<keyof T, Summary>;
}

const fmt = (s: Summary, digits = 0) =>
  `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;

const results: Record<string, unknown> = {};
console.log(
  `workers benchmark: ${TASKS} independent no-op tasks, concurrency 10 per worker, medians of ${REPEATS} (min–max)`,
);
for (const workers of [1, 2]) {
  for (const batchSize of [1, 50]) {
    const r = await measure(() => drain(workers, batchSize));
    results[`w${workers}_b${batchSize}`] = r;
    console.log(
      `  ${workers} worker(s), ${batchSize === 1 ? "unbatched  " : "batch of 50"}: ${fmt(r.tasksPerSecond)} tasks/s, ${fmt(r.roundTripsPerTask, 2)} round trips/task`,
    );
  }
}
const lease = 2000;
const pick = await measure(async () => ({ ms: await pickup(lease) }));
results.pickup = { leaseMs: lease, reapIntervalMs: 250, ...pick };
console.log(`  killed worker's tasks picked up again after ${fmt(pick.ms)} ms (leaseMs ${lease}, reapIntervalMs 250)`);
if (process.argv.includes("--json")) {
  console.log(JSON.stringify(results));
}
