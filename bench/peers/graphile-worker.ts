/**
 * graphile-worker 0.17.3 under test, written the way its users write these workloads: a chain adds
 * the next job from inside the task; fan-in and DAG edges use a counter row per join that each
 * parent decrements, adding the child when it reaches zero. A runner (concurrency 10, LISTEN/NOTIFY
 * on, pollInterval 2 s by default) is started for each workload run, outside the timed window.
 */
import { createRequire } from "node:module";
import {
  Logger,
  makeWorkerUtils,
  run,
  runMigrations,
  type JobHelpers,
  type Runner,
  type TaskList,
  type WorkerUtils,
} from "graphile-worker";
import pg from "pg";
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

const version = (createRequire(import.meta.url)("graphile-worker/package.json") as { version: string }).version;
const silent = new Logger(() => () => undefined);
const PENDING = "SELECT count(*)::int AS n FROM graphile_worker.jobs";

export const graphileWorker: BenchSystem = {
  name: "graphile-worker",
  version,
  store: "postgres",
  notes: [
    "chain: the task adds the next job (helpers.addJob); fan-in and DAG: a counter row per join, decremented by each parent, which adds the child at zero",
    "W1 batched: preset.worker.localQueue.size 50; no job timeout exists, so W6's hanging tasks race an AbortSignal.timeout(200) in the task, and its retries wait graphile-worker's fixed backoff (exp(1) ≈ 2.7 s) plus the 2 s poll",
    "W7: one addJob() per run, 50 at a time, to one runner (concurrency 10); W8: addJobs() of every task, drained by runner processes (run(), concurrency 10 each)",
  ],
  open: async (url, _sizes, harness) => openGraphile(url!, harness),
};

async function openGraphile(url: string, harness: HarnessTools): Promise<SystemSession> {
  await runMigrations({ connectionString: url, logger: silent });
  const pool = new pg.Pool({ connectionString: url, max: 12 });
  // graphile-worker asks for error handlers on the pool and its clients; quietClose ignores the
  // disconnects of the harness's DROP DATABASE … WITH (FORCE) and reports anything else.
  pool.on("error", reportUnlessDropped("graphile-worker pool"));
  pool.on("connect", (client) => client.on("error", reportUnlessDropped("graphile-worker client")));
  await pool.query(`CREATE TABLE IF NOT EXISTS bench_join (id text PRIMARY KEY, remaining integer NOT NULL)`);
  const watcher = await openWatcher(url, harness);
  const utils = await makeWorkerUtils({ pgPool: pool, logger: silent });
  let runs = 0;
  /** Starts a runner for one workload run, waits for `done`, then for the jobs' completions to commit. */
  const withRunner = async <T>(
    taskList: TaskList,
    body: (runner: Runner) => Promise<T>,
    options: { localQueue?: number } = {},
  ): Promise<T> => {
    const runner = await run({
      pgPool: pool,
      concurrency: 10,
      noHandleSignals: true,
      logger: silent,
      taskList,
      ...(options.localQueue ? { preset: { worker: { localQueue: { size: options.localQueue } } } } : {}),
    });
    try {
      return await body(runner);
    } finally {
      await runner.stop();
    }
  };
  const timed = async (start: (utils: WorkerUtils) => Promise<unknown>, done: Promise<unknown>): Promise<number> => {
    const startedAt = performance.now();
    await start(utils);
    await done;
    await watcher.waitUntilZero(PENDING);
    return performance.now() - startedAt;
  };
  return {
    flat: (tasks, _concurrency, batchSize) => flat(withRunner, timed, tasks, batchSize),
    chain: (steps) => chain(withRunner, timed, steps),
    fan: (width) => fan(withRunner, timed, pool, width, ++runs),
    layered: (dag) => layered(withRunner, timed, pool, dag, ++runs),
    idleLatency: (count) => idleLatency(withRunner, watcher, count),
    idleQueries: (watch) =>
      withRunner({ noop: async () => undefined }, () => watch()).then(() => ({ tasks: 0, metrics: {} })),
    faults: (plan) => faults(withRunner, timed, plan),
    manyRuns: (count) => manyRuns(withRunner, timed, count),
    scaleOut: (plan) => scaleOut(utils, watcher, url, plan),
    close: async () => {
      await utils.release();
      await watcher.close();
      await pool.end();
    },
  };
}

type WithRunner = <T>(
  taskList: TaskList,
  body: (runner: Runner) => Promise<T>,
  options?: { localQueue?: number },
) => Promise<T>;
type Timed = (start: (utils: WorkerUtils) => Promise<unknown>, done: Promise<unknown>) => Promise<number>;

async function flat(withRunner: WithRunner, timed: Timed, tasks: number, batchSize: number): Promise<WorkloadResult> {
  const done = deferred();
  let finished = 0;
  const taskList: TaskList = { noop: async () => void (++finished === tasks && done.resolve()) };
  const specs = Array.from({ length: tasks }, () => ({ identifier: "noop", payload: {} }));
  const wallMs = await withRunner(
    taskList,
    () => timed((u) => u.addJobs(specs), done.promise),
    batchSize > 1 ? { localQueue: batchSize } : {},
  );
  return { tasks, metrics: { "tasks per s": (tasks / wallMs) * 1000 } };
}

async function chain(withRunner: WithRunner, timed: Timed, steps: number): Promise<WorkloadResult> {
  const done = deferred();
  const timeline = new Timeline();
  const taskList: TaskList = {
    step: async (payload, helpers) => {
      const { i } = payload as { i: number };
      timeline.start(`c${i}`);
      timeline.finish(`c${i}`);
      if (i + 1 < steps) {
        await helpers.addJob("step", { i: i + 1 });
      } else {
        done.resolve();
      }
    },
  };
  const wallMs = await withRunner(taskList, () => timed((u) => u.addJob("step", { i: 0 }), done.promise));
  return { tasks: steps, metrics: chainFigures(timeline, steps, (i) => `c${i}`, wallMs) };
}

/** Decrements the counter rows of `ids`; returns those that reached zero. */
async function decrement(helpers: JobHelpers, ids: string[]): Promise<string[]> {
  const { rows } = await helpers.query<{ id: string }>(
    "UPDATE bench_join SET remaining = remaining - 1 WHERE id = ANY($1::text[]) RETURNING id, remaining",
    [ids],
  );
  return rows.filter((r) => (r as unknown as { remaining: number }).remaining === 0).map((r) => r.id);
}

async function fan(
  withRunner: WithRunner,
  timed: Timed,
  pool: pg.Pool,
  width: number,
  run: number,
): Promise<WorkloadResult> {
  const done = deferred();
  const timeline = new Timeline();
  const joinId = `fan${run}`;
  await pool.query("INSERT INTO bench_join VALUES ($1, $2)", [joinId, width]);
  const taskList: TaskList = {
    root: async (_payload, helpers) => {
      timeline.start("root");
      timeline.finish("root");
      await helpers.addJobs(Array.from({ length: width }, (_, i) => ({ identifier: "child", payload: { i } })));
    },
    child: async (payload, helpers) => {
      const { i } = payload as { i: number };
      timeline.start(`child${i}`);
      timeline.finish(`child${i}`);
      if ((await decrement(helpers, [joinId])).length > 0) {
        await helpers.addJob("join", {});
      }
    },
    join: async () => {
      timeline.start("join");
      timeline.finish("join");
      done.resolve();
    },
  };
  const wallMs = await withRunner(taskList, () => timed((u) => u.addJob("root", {}), done.promise));
  return { tasks: width + 2, metrics: fanFigures(timeline, width, (i) => `child${i}`, "join", wallMs) };
}

async function layered(
  withRunner: WithRunner,
  timed: Timed,
  pool: pg.Pool,
  dag: LayeredDag,
  run: number,
): Promise<WorkloadResult> {
  const done = deferred();
  const timeline = new Timeline();
  const children = childrenOf(dag);
  const key = (layer: number, node: number) => `dag${run}:${layeredId(layer, node)}`;
  const counters = dag.parentsOf.flatMap((nodes, layer) =>
    nodes.map((parents, node) => [key(layer, node), parents.length] as const),
  );
  await pool.query("INSERT INTO bench_join SELECT * FROM unnest($1::text[], $2::int[])", [
    counters.map((c) => c[0]),
    counters.map((c) => c[1]),
  ]);
  let finished = 0;
  const total = dag.layers * dag.width;
  const taskList: TaskList = {
    node: async (payload, helpers) => {
      const { layer, node } = payload as { layer: number; node: number };
      timeline.start(layeredId(layer, node));
      timeline.finish(layeredId(layer, node));
      const next = children[layer]?.[node] ?? [];
      if (next.length > 0) {
        const ready = await decrement(
          helpers,
          next.map((child) => key(layer + 1, child)),
        );
        if (ready.length > 0) {
          await helpers.addJobs(
            ready.map((id) => ({
              identifier: "node",
              payload: { layer: layer + 1, node: Number(id.slice(id.lastIndexOf("N") + 1)) },
            })),
          );
        }
      }
      if (++finished === total) {
        done.resolve();
      }
    },
  };
  const roots = Array.from({ length: dag.width }, (_, node) => ({ identifier: "node", payload: { layer: 0, node } }));
  const wallMs = await withRunner(taskList, () => timed((u) => u.addJobs(roots), done.promise));
  return { tasks: total, metrics: layeredFigures(timeline, dag, wallMs) };
}

async function idleLatency(
  withRunner: WithRunner,
  watcher: Awaited<ReturnType<typeof openWatcher>>,
  count: number,
): Promise<WorkloadResult> {
  let started = deferred<number>();
  const taskList: TaskList = { single: async () => started.resolve(performance.now()) };
  return withRunner(taskList, async (runner) => {
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      started = deferred<number>();
      const sentAt = performance.now();
      await runner.addJob("single", {});
      latencies.push((await started.promise) - sentAt);
      await watcher.waitUntilZero(PENDING);
    }
    return { tasks: count, metrics: latencyFigures(latencies) };
  });
}

async function faults(withRunner: WithRunner, timed: Timed, plan: FaultPlan): Promise<WorkloadResult> {
  const done = deferred();
  const attempts = new Map<number, number>();
  const lags: number[] = [];
  let succeeded = 0;
  const taskList: TaskList = {
    fault: async (payload, helpers) => {
      const { i } = payload as { i: number };
      attempts.set(i, (attempts.get(i) ?? 0) + 1);
      if (helpers.job.attempts === 1 && plan.throwsOnce.has(i)) {
        throw new Error(`planned failure of task ${i}`);
      }
      if (helpers.job.attempts === 1 && plan.hangsOnce.has(i)) {
        // graphile-worker has no job timeout: users race the work against a timer of their own.
        const deadline = performance.now() + plan.timeoutMs;
        const signal = AbortSignal.timeout(plan.timeoutMs);
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        lags.push(performance.now() - deadline);
        throw new Error(`task ${i} timed out after ${plan.timeoutMs} ms`);
      }
      if (++succeeded === plan.tasks) {
        done.resolve();
      }
    },
  };
  const specs = Array.from({ length: plan.tasks }, (_, i) => ({ identifier: "fault", payload: { i }, maxAttempts: 3 }));
  const wallMs = await withRunner(taskList, () => timed((u) => u.addJobs(specs), done.promise));
  const planned = attemptsAsPlanned(attempts, plan.tasks, (i) => plan.throwsOnce.has(i) || plan.hangsOnce.has(i));
  return { tasks: plan.tasks, metrics: faultFigures(lags, wallMs, planned) };
}

/** W7: `count` jobs, each added by its own addJob (50 at a time), run by one runner. */
async function manyRuns(withRunner: WithRunner, timed: Timed, count: number): Promise<WorkloadResult> {
  const done = deferred();
  let finished = 0;
  const taskList: TaskList = { noop: async () => void (++finished === count && done.resolve()) };
  const addEach = async (utils: WorkerUtils) => {
    for (let first = 0; first < count; first += ADDS_IN_FLIGHT) {
      const chunk = Math.min(ADDS_IN_FLIGHT, count - first);
      await Promise.all(Array.from({ length: chunk }, () => utils.addJob("noop", {})));
    }
  };
  const wallMs = await withRunner(taskList, () => timed(addEach, done.promise));
  return { tasks: count, metrics: { "runs per s": (count / wallMs) * 1000 } };
}

/** W7: jobs added at once, as htdag's submits, without a pool of 2,000 connections. */
const ADDS_IN_FLIGHT = 50;

/** W8: for each count of runner processes, every task added at once and drained by them. */
async function scaleOut(
  utils: WorkerUtils,
  watcher: Awaited<ReturnType<typeof openWatcher>>,
  url: string,
  plan: ScaleOutPlan,
): Promise<WorkloadResult> {
  const script = new URL("./graphile-worker-child.ts", import.meta.url);
  const args = [url, String(plan.concurrency), String(plan.stepMs)];
  const specs = Array.from({ length: plan.tasks }, () => ({ identifier: "nap", payload: {} }));
  const drains = [];
  for (const processes of plan.processes) {
    drains.push(
      await drainWithProcesses(script, args, processes, async () => {
        const startedAt = performance.now();
        await utils.addJobs(specs);
        await watcher.waitUntilZero(PENDING);
        return performance.now() - startedAt;
      }),
    );
  }
  return { tasks: plan.tasks * plan.processes.length, metrics: scaleOutFigures(plan, drains), inChildProcesses: true };
}
