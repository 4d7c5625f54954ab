/**
 * pg-boss 10.3.3 under test (the last release for Node 20), written the way its users write these
 * workloads. pg-boss 10 has no `flow()` (dependencies came in a later major) and no LISTEN/NOTIFY:
 * workers poll, every 0.5 s here (its minimum; the default is 2 s), and re-fetch at once after a
 * full batch. Concurrency 10 is ten `work()` workers per queue (v10 dropped teamSize). A chain sends
 * the next job from the handler and wakes this process's workers with `notifyWorker()` (the nearest
 * thing to NOTIFY, same process only);
 * fan-in and DAG edges use a counter row per join, as its maintainer advises ("a home for the state").
 */
import { createRequire } from "node:module";
import PgBoss from "pg-boss";
import { drainWithProcesses } from "../../src/bench/processes.js";
import { childrenOf, layeredId, scaleOutFigures } from "../../src/bench/sizes.js";
import {
  attemptsAsPlanned,
  chainFigures,
  faultFigures,
  fanFigures,
  latencyFigures,
  layeredFigures,
  Timeline,
} from "../../src/bench/timeline.js";
import type {
  BenchSystem,
  FaultPlan,
  HarnessTools,
  LayeredDag,
  ScaleOutPlan,
  SystemSession,
  WorkloadResult,
} from "../../src/bench/types.js";
import { deferred, openWatcher, reportUnlessDropped } from "./common.js";

const version = (createRequire(import.meta.url)("pg-boss/package.json") as { version: string }).version;
const POLLING_SECONDS = 0.5;
const WORKERS = 10;
/** W5 at pg-boss's poll costs about 0.45 s per sample: 60 samples keep a run under 30 s. */
const MAX_SINGLE_TASKS = 60;

export const pgBoss: BenchSystem = {
  name: "pg-boss",
  version,
  store: "postgres",
  notes: [
    "v10: no flow() and no LISTEN/NOTIFY; 10 work() workers per queue polling every 0.5 s (its minimum), each fetching again at once after a full batch (notifyWorker on itself); a chain sends the next job from the handler and wakes its workers with notifyWorker(); fan-in and DAG: a counter row per join",
    "W5 sends at most 60 single tasks (each waits for a poll); W6: expireInSeconds cannot go below 1 s and the handler gets no signal, so the lag is measured to the retry's start",
    "W7: one send() per run, 50 at a time, to the 10 workers; W8: insert() of every task, drained by processes of 10 work() workers each",
  ],
  open: async (url, _sizes, harness) => openBoss(url!, harness),
};

type Handler = (job: PgBoss.Job<Record<string, number>>) => Promise<void>;

async function openBoss(url: string, harness: HarnessTools): Promise<SystemSession> {
  const boss = new PgBoss({ connectionString: url, max: 12 });
  boss.on("error", reportUnlessDropped("pg-boss"));
  await boss.start();
  const db = boss.getDb();
  await db.executeSql("CREATE TABLE IF NOT EXISTS bench_join (id text PRIMARY KEY, remaining integer NOT NULL)", []);
  const watcher = await openWatcher(url, harness);
  let runs = 0;
  /**
   * A fresh queue with ten workers running `handler`. A worker that got a full batch fetches again at
   * once (`notifyWorker` on itself, the "burst" pg-boss users add); otherwise it waits for its next
   * poll. `wake()` ends every worker's wait; `stop()` removes them.
   */
  const queue = async (kind: string, handler: Handler, batchSize = 1) => {
    const name = `${kind}_${++runs}`;
    await boss.createQueue(name);
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, k) => {
        ids[k] = await boss.work<Record<string, number>>(
          name,
          { batchSize, pollingIntervalSeconds: POLLING_SECONDS },
          async (jobs) => {
            await Promise.all(jobs.map(handler));
            const id = ids[k];
            if (jobs.length === batchSize && id) {
              boss.notifyWorker(id);
            }
          },
        );
      }),
    );
    return {
      name,
      wake: () => ids.forEach((id) => boss.notifyWorker(id)),
      stop: () => boss.offWork(name),
      /** pg-boss completes a job without awaiting it: wait until no job of the queue is still pending. */
      settled: () =>
        watcher.waitUntilZero("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state <= 'active'", [
          name,
        ]),
    };
  };
  const decrement = async (ids: string[]): Promise<string[]> => {
    const { rows } = await db.executeSql(
      "UPDATE bench_join SET remaining = remaining - 1 WHERE id = ANY($1::text[]) RETURNING id, remaining",
      [ids],
    );
    return (rows as { id: string; remaining: number }[]).filter((r) => r.remaining === 0).map((r) => r.id);
  };
  const ctx: BossContext = { boss, queue, decrement, run: () => ++runs };
  return {
    flat: (tasks, _concurrency, batchSize) => flat(ctx, tasks, batchSize),
    chain: (steps) => chain(ctx, steps),
    fan: (width) => fan(ctx, width),
    layered: (dag) => layered(ctx, dag),
    idleLatency: (count) => idleLatency(ctx, Math.min(count, MAX_SINGLE_TASKS)),
    idleQueries: async (watch) => {
      const q = await queue("idle", async () => undefined);
      await watch();
      await q.stop();
      return { tasks: 0, metrics: {} };
    },
    faults: (plan) => faults(ctx, plan),
    manyRuns: (count) => manyRuns(ctx, count),
    scaleOut: (plan) => scaleOut(ctx, watcher, url, plan),
    close: async () => {
      await watcher.close();
      await boss.stop({ graceful: false, wait: true });
    },
  };
}

interface BossContext {
  boss: PgBoss;
  queue(
    kind: string,
    handler: Handler,
    batchSize?: number,
  ): Promise<{ name: string; wake(): void; stop(): Promise<void>; settled(): Promise<void> }>;
  decrement(ids: string[]): Promise<string[]>;
  run(): number;
}

/** Times `start` → `done` → every job of the queue committed as completed. */
async function timed(
  q: Awaited<ReturnType<BossContext["queue"]>>,
  start: () => Promise<unknown>,
  done: Promise<unknown>,
): Promise<number> {
  const startedAt = performance.now();
  try {
    await start();
    await done;
    await q.settled();
    return performance.now() - startedAt;
  } finally {
    await q.stop();
  }
}

async function flat(ctx: BossContext, tasks: number, batchSize: number): Promise<WorkloadResult> {
  const done = deferred();
  let finished = 0;
  const q = await ctx.queue("flat", async () => void (++finished === tasks && done.resolve()), batchSize);
  const jobs = Array.from({ length: tasks }, () => ({ name: q.name, data: {} }));
  const wallMs = await timed(q, () => ctx.boss.insert(jobs), done.promise);
  return { tasks, metrics: { "tasks per s": (tasks / wallMs) * 1000 } };
}

async function chain(ctx: BossContext, steps: number): Promise<WorkloadResult> {
  const done = deferred();
  const timeline = new Timeline();
  const q = await ctx.queue("chain", async (job) => {
    const i = job.data.i ?? 0;
    timeline.start(`c${i}`);
    timeline.finish(`c${i}`);
    if (i + 1 < steps) {
      await ctx.boss.send(q.name, { i: i + 1 });
      q.wake();
    } else {
      done.resolve();
    }
  });
  const wallMs = await timed(
    q,
    async () => {
      await ctx.boss.send(q.name, { i: 0 });
      q.wake();
    },
    done.promise,
  );
  return { tasks: steps, metrics: chainFigures(timeline, steps, (i) => `c${i}`, wallMs) };
}

const ROOT = 0,
  CHILD = 1,
  JOIN = 2;

async function fan(ctx: BossContext, width: number): Promise<WorkloadResult> {
  const done = deferred();
  const timeline = new Timeline();
  const joinId = `fan${ctx.run()}`;
  await ctx.boss.getDb().executeSql("INSERT INTO bench_join VALUES ($1, $2)", [joinId, width]);
  const q = await ctx.queue("fan", async (job) => {
    const { kind, i = 0 } = job.data;
    const key = kind === ROOT ? "root" : kind === JOIN ? "join" : `child${i}`;
    timeline.start(key);
    timeline.finish(key);
    if (kind === ROOT) {
      await ctx.boss.insert(Array.from({ length: width }, (_, c) => ({ name: q.name, data: { kind: CHILD, i: c } })));
      q.wake();
    } else if (kind === CHILD && (await ctx.decrement([joinId])).length > 0) {
      await ctx.boss.send(q.name, { kind: JOIN });
      q.wake();
    } else if (kind === JOIN) {
      done.resolve();
    }
  });
  const wallMs = await timed(
    q,
    async () => {
      await ctx.boss.send(q.name, { kind: ROOT });
      q.wake();
    },
    done.promise,
  );
  return { tasks: width + 2, metrics: fanFigures(timeline, width, (c) => `child${c}`, "join", wallMs) };
}

async function layered(ctx: BossContext, dag: LayeredDag): Promise<WorkloadResult> {
  const done = deferred();
  const timeline = new Timeline();
  const children = childrenOf(dag);
  const run = ctx.run();
  const key = (layer: number, node: number) => `dag${run}:${layeredId(layer, node)}`;
  const counters = dag.parentsOf.flatMap((nodes, layer) =>
    nodes.map((parents, node) => [key(layer, node), parents.length] as const),
  );
  await ctx.boss
    .getDb()
    .executeSql("INSERT INTO bench_join SELECT * FROM unnest($1::text[], $2::int[])", [
      counters.map((c) => c[0]),
      counters.map((c) => c[1]),
    ]);
  const total = dag.layers * dag.width;
  let finished = 0;
  const q = await ctx.queue("dag", async (job) => {
    const { layer = 0, node = 0 } = job.data;
    timeline.start(layeredId(layer, node));
    timeline.finish(layeredId(layer, node));
    const next = children[layer]?.[node] ?? [];
    if (next.length > 0) {
      const ready = await ctx.decrement(next.map((child) => key(layer + 1, child)));
      if (ready.length > 0) {
        await ctx.boss.insert(
          ready.map((id) => ({
            name: q.name,
            data: { layer: layer + 1, node: Number(id.slice(id.lastIndexOf("N") + 1)) },
          })),
        );
        q.wake();
      }
    }
    if (++finished === total) {
      done.resolve();
    }
  });
  const roots = Array.from({ length: dag.width }, (_, node) => ({ name: q.name, data: { layer: 0, node } }));
  const wallMs = await timed(
    q,
    async () => {
      await ctx.boss.insert(roots);
      q.wake();
    },
    done.promise,
  );
  return { tasks: total, metrics: layeredFigures(timeline, dag, wallMs) };
}

/** W5: a producer sends one job at a time (no wake-up: producers usually live in another process). */
async function idleLatency(ctx: BossContext, count: number): Promise<WorkloadResult> {
  let started = deferred<number>();
  const q = await ctx.queue("single", async () => started.resolve(performance.now()));
  try {
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      started = deferred<number>();
      const sentAt = performance.now();
      await ctx.boss.send(q.name, {});
      latencies.push((await started.promise) - sentAt);
      await q.settled();
    }
    return { tasks: count, metrics: latencyFigures(latencies) };
  } finally {
    await q.stop();
  }
}

async function faults(ctx: BossContext, plan: FaultPlan): Promise<WorkloadResult> {
  const done = deferred();
  const attempts = new Map<number, number>();
  const deadlines = new Map<number, number>();
  const lags: number[] = [];
  let succeeded = 0;
  const q = await ctx.queue("faults", async (job) => {
    const i = job.data.i ?? 0;
    const attempt = (attempts.get(i) ?? 0) + 1;
    attempts.set(i, attempt);
    if (attempt === 1 && plan.throwsOnce.has(i)) {
      throw new Error(`planned failure of task ${i}`);
    }
    if (attempt === 1 && plan.hangsOnce.has(i)) {
      deadlines.set(i, performance.now() + plan.timeoutMs);
      // Hangs past pg-boss's expiry (1 s, its minimum); pg-boss gives up on the promise and fails the job.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      return;
    }
    const deadline = deadlines.get(i);
    if (deadline !== undefined) {
      lags.push(performance.now() - deadline);
    }
    if (++succeeded === plan.tasks) {
      done.resolve();
    }
  });
  const jobs = Array.from({ length: plan.tasks }, (_, i) => ({
    name: q.name,
    data: { i },
    retryLimit: 2,
    retryDelay: 0,
    expireInSeconds: 1,
  }));
  const wallMs = await timed(q, () => ctx.boss.insert(jobs), done.promise);
  const planned = attemptsAsPlanned(attempts, plan.tasks, (i) => plan.throwsOnce.has(i) || plan.hangsOnce.has(i));
  return { tasks: plan.tasks, metrics: faultFigures(lags, wallMs, planned) };
}

/** W7: sends at once, as htdag's submits, without a pool of 2,000 connections. */
const SENDS_IN_FLIGHT = 50;

/** W7: `count` jobs, each sent by its own send() (50 at a time), run by the queue's workers. */
async function manyRuns(ctx: BossContext, count: number): Promise<WorkloadResult> {
  const done = deferred();
  let finished = 0;
  const q = await ctx.queue("runs", async () => void (++finished === count && done.resolve()));
  const sendEach = async () => {
    for (let first = 0; first < count; first += SENDS_IN_FLIGHT) {
      const chunk = Math.min(SENDS_IN_FLIGHT, count - first);
      await Promise.all(Array.from({ length: chunk }, () => ctx.boss.send(q.name, {})));
    }
  };
  const wallMs = await timed(q, sendEach, done.promise);
  return { tasks: count, metrics: { "runs per s": (count / wallMs) * 1000 } };
}

/** W8: for each count of worker processes, a fresh queue, every task inserted at once and drained by them. */
async function scaleOut(
  ctx: BossContext,
  watcher: Awaited<ReturnType<typeof openWatcher>>,
  url: string,
  plan: ScaleOutPlan,
): Promise<WorkloadResult> {
  const script = new URL("./pg-boss-child.ts", import.meta.url);
  const drains = [];
  for (const processes of plan.processes) {
    const queue = `scale_${ctx.run()}`;
    await ctx.boss.createQueue(queue);
    const args = [url, String(plan.concurrency), String(plan.stepMs), queue];
    drains.push(
      await drainWithProcesses(script, args, processes, async () => {
        const startedAt = performance.now();
        await ctx.boss.insert(Array.from({ length: plan.tasks }, () => ({ name: queue, data: {} })));
        await watcher.waitUntilZero("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state <= 'active'", [
          queue,
        ]);
        return performance.now() - startedAt;
      }),
    );
  }
  return { tasks: plan.tasks * plan.processes.length, metrics: scaleOutFigures(plan, drains), inChildProcesses: true };
}
