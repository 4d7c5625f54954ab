/**
 * htdag under test, through its public API only (so executor changes show up in the figures):
 * graphs run with `composeFromTaskGraph` in this process (W2, W3, W4, W6); independent tasks and
 * single tasks go through `submit` to a worker (`startWorker`) in this process (W1, W5, W7), or to
 * worker processes (W8, scale-out-child.ts).
 */
import { createRequire } from "node:module";
import type { StepContext } from "../composer/steps.js";
import { createOrchestrator } from "../create-orchestrator.js";
import type { TaskGraph, TaskSpec } from "../graph/task-graph.js";
import { validateGraph } from "../graph/validate.js";
import type { Orchestrator } from "../orchestrator/orchestrator.js";
import { manyRuns, scaleOut } from "./htdag-scale.js";
import { layeredId } from "./sizes.js";
import {
  attemptsAsPlanned,
  chainFigures,
  faultFigures,
  fanFigures,
  latencyFigures,
  layeredFigures,
  Timeline,
} from "./timeline.js";
import type { BenchSystem, FaultPlan, HarnessTools, LayeredDag, SystemSession, WorkloadResult } from "./types.js";
import { openWatcher } from "./watcher.js";

const version = (createRequire(import.meta.url)("../../package.json") as { version: string }).version;
const LIMITS = { limits: { maxTasks: 100_000 } };
/** BENCH_NOTIFY=on-demand measures htdag with realTimeNotifications "on-demand" (docs/events.md). */
const ON_DEMAND = process.env.BENCH_NOTIFY === "on-demand";

/** htdag on Postgres: every workload. */
export const htdagPostgres: BenchSystem = {
  name: "htdag",
  version,
  store: "postgres",
  notes: [
    "graphs run in-process with composeFromTaskGraph (maxParallel 10); W1 and W5 go through submit() to a worker " +
      "(concurrency 10; batched: batchSize 50, which htdag caps at the free slots)",
    "W7: one submit() per run, 50 at a time, to one worker (concurrency 10); W8: one submitted run of " +
      "independent tasks (maxParallel 10 per process) drained by worker processes (startWorker, concurrency 10 each)",
    ON_DEMAND
      ? 'realTimeNotifications "on-demand" (BENCH_NOTIFY): wake-ups NOTIFYed, other events only when wanted'
      : "realTimeNotifications true (the default): every event NOTIFYed",
  ],
  open: (url, _sizes, harness) => openHtdag(url ?? "memory://", harness),
};

/** htdag on embedded PGlite (in memory): W2 and W3, for the ratio to Postgres. */
export const htdagPglite: BenchSystem = {
  name: "htdag-pglite",
  version,
  store: "embedded",
  notes: ["embedded PGlite in memory; W2 and W3 only; round trips counted by htdag's driver"],
  open: () => openHtdag("memory://"),
};

/** Every workload on Postgres (`harness` given); W2 and W3 only on PGlite. */
async function openHtdag(database: string, harness?: HarnessTools): Promise<SystemSession> {
  const orch = await createOrchestrator({
    database,
    maxTasks: 100_000,
    ...(ON_DEMAND ? { realTimeNotifications: "on-demand" as const } : {}),
    onError: (error) => console.error("htdag (bench):", error),
  });
  const session: SystemSession = {
    chain: (steps) => chain(orch, steps),
    fan: (width) => fan(orch, width),
    roundTrips: orch.db.kind === "pglite" ? () => orch.db.stats.roundTrips : undefined,
    close: () => orch.close(),
  };
  if (!harness) {
    return session;
  }
  const watcher = await openWatcher(database, harness);
  return {
    ...session,
    manyRuns: (runs, concurrency) => manyRuns(orch, watcher, runs, concurrency),
    scaleOut: (plan) => scaleOut(orch, database, plan),
    close: async () => {
      await watcher.close();
      await orch.close();
    },
    layered: (dag) => layered(orch, dag),
    faults: (plan) => faults(orch, plan),
    flat: (tasks, concurrency, batchSize) => flat(orch, tasks, concurrency, batchSize),
    idleLatency: (count) => idleLatency(orch, count),
    idleQueries: (watch) => idle(orch, watch),
  };
}

/** Runs `graph` with the `noop` step noting each task in `timeline`; throws unless it completes. */
async function runGraph(orch: Orchestrator, graph: TaskGraph, timeline: Timeline): Promise<number> {
  const noop = async (ctx: StepContext) => {
    timeline.start(ctx.task.id);
    timeline.finish(ctx.task.id);
    return null;
  };
  const startedAt = performance.now();
  const result = await orch.composeFromTaskGraph(graph, { noop }, { maxParallel: 10 });
  if (result.status !== "completed") {
    throw new Error(
      `htdag run ${result.runId} ended ${result.status}: ${result.error?.message ?? "no error recorded"}`,
    );
  }
  return performance.now() - startedAt;
}

async function chain(orch: Orchestrator, steps: number): Promise<WorkloadResult> {
  const tasks = Array.from({ length: steps }, (_, i) => ({
    id: `c${i}`,
    step: "noop",
    dependsOn: i === 0 ? [] : [`c${i - 1}`],
  }));
  const timeline = new Timeline();
  const wallMs = await runGraph(orch, validateGraph({ goal: `bench chain of ${steps}`, tasks }, LIMITS), timeline);
  return { tasks: steps, metrics: chainFigures(timeline, steps, (i) => `c${i}`, wallMs) };
}

async function fan(orch: Orchestrator, width: number): Promise<WorkloadResult> {
  const children = Array.from({ length: width }, (_, i) => ({ id: `child${i}`, step: "noop", dependsOn: ["root"] }));
  const graph = validateGraph(
    {
      goal: `bench fan 1 to ${width} to 1`,
      tasks: [
        { id: "root", step: "noop" },
        ...children,
        { id: "join", step: "noop", dependsOn: children.map((c) => c.id) },
      ],
    },
    LIMITS,
  );
  const timeline = new Timeline();
  const wallMs = await runGraph(orch, graph, timeline);
  return { tasks: width + 2, metrics: fanFigures(timeline, width, (i) => `child${i}`, "join", wallMs) };
}

async function layered(orch: Orchestrator, dag: LayeredDag): Promise<WorkloadResult> {
  const tasks = dag.parentsOf.flatMap((nodes, layer) =>
    nodes.map((parents, node) => ({
      id: layeredId(layer, node),
      step: "noop",
      dependsOn: parents.map((p) => layeredId(layer - 1, p)),
    })),
  );
  const timeline = new Timeline();
  const wallMs = await runGraph(orch, validateGraph({ goal: "bench layered dag", tasks }, LIMITS), timeline);
  return { tasks: tasks.length, metrics: layeredFigures(timeline, dag, wallMs) };
}

/** W6: independent tasks, some throw once, some hang until their 200 ms timeout aborts them. */
async function faults(orch: Orchestrator, plan: FaultPlan): Promise<WorkloadResult> {
  const attempts = new Map<number, number>();
  const lags: number[] = [];
  const fault = async (ctx: StepContext) => {
    const i = Number(ctx.task.id.slice(1));
    attempts.set(i, (attempts.get(i) ?? 0) + 1);
    if (ctx.attempt > 1) {
      return null;
    }
    if (plan.throwsOnce.has(i)) {
      throw new Error(`planned failure of task ${i}`);
    }
    if (plan.hangsOnce.has(i)) {
      const deadline = performance.now() + plan.timeoutMs;
      await new Promise<void>((resolve) => {
        ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        setTimeout(resolve, plan.timeoutMs * 10).unref();
      });
      lags.push(performance.now() - deadline);
    }
    return null;
  };
  const tasks = Array.from({ length: plan.tasks }, (_, i) => ({ id: `f${i}`, step: "fault" }));
  const graph = validateGraph({ goal: "bench faults", tasks }, LIMITS);
  const startedAt = performance.now();
  const result = await orch.composeFromTaskGraph(
    graph,
    { fault },
    {
      maxParallel: 10,
      maxAttempts: 3,
      taskTimeoutMs: plan.timeoutMs,
      backoff: { kind: "constant", baseMs: plan.retryDelayMs, jitter: 0 },
      failFast: false,
    },
  );
  const wallMs = performance.now() - startedAt;
  if (result.status !== "completed") {
    throw new Error(`htdag faults run ${result.runId} ended ${result.status}`);
  }
  const planned = attemptsAsPlanned(attempts, plan.tasks, (i) => plan.throwsOnce.has(i) || plan.hangsOnce.has(i));
  return { tasks: plan.tasks, metrics: faultFigures(lags, wallMs, planned) };
}

/**
 * W1: `tasks` independent no-ops submitted at once to an idle worker; time until the run is final.
 * `flow` puts a rate limit or a concurrency key on every task (bench/flow-control.ts).
 */
export async function flat(
  orch: Orchestrator,
  tasks: number,
  concurrency: number,
  batchSize: number,
  flow: Pick<TaskSpec, "rateLimit" | "concurrency"> = {},
): Promise<WorkloadResult> {
  const worker = await orch.startWorker({
    workflows: { "bench-flat": { noop: async () => null } },
    concurrency,
    batchSize,
  });
  try {
    const graph = validateGraph(
      { goal: "bench flat", tasks: Array.from({ length: tasks }, (_, i) => ({ id: `t${i}`, step: "noop", ...flow })) },
      LIMITS,
    );
    const startedAt = performance.now();
    const { runId } = await orch.submit(graph, { workflow: "bench-flat", maxParallel: concurrency });
    const result = await orch.waitForRun(runId, { timeoutMs: 600_000 });
    const wallMs = performance.now() - startedAt;
    if (result.status !== "completed") {
      throw new Error(`htdag flat run ${runId} ended ${result.status}`);
    }
    return { tasks, metrics: { "tasks per s": (tasks / wallMs) * 1000 } };
  } finally {
    await worker.stop();
  }
}

/**
 * W5: one single-task run at a time to an idle worker; submit → step start. Between tasks it waits
 * in-process for the worker to have settled the task (not with waitForRun, whose reads would count
 * as the system's round trips where the peers' completions are watched for free).
 */
async function idleLatency(orch: Orchestrator, count: number): Promise<WorkloadResult> {
  let started: (at: number) => void = () => undefined;
  const worker = await orch.startWorker({
    workflows: {
      "bench-single": {
        noop: async () => {
          started(performance.now());
          return null;
        },
      },
    },
  });
  try {
    const graph = validateGraph({ goal: "bench single", tasks: [{ id: "only", step: "noop" }] });
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const start = new Promise<number>((resolve) => (started = resolve));
      const sentAt = performance.now();
      await orch.submit(graph, { workflow: "bench-single" });
      latencies.push((await start) - sentAt);
      while (worker.active > 0) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    return { tasks: count, metrics: latencyFigures(latencies) };
  } finally {
    await worker.stop();
  }
}

/** W5 idle: a started worker (default options) with nothing to do, while the harness watches. */
async function idle(orch: Orchestrator, watch: () => Promise<void>): Promise<WorkloadResult> {
  const worker = await orch.startWorker({ workflows: { "bench-idle": { noop: async () => null } } });
  try {
    await watch();
    return { tasks: 0, metrics: {} };
  } finally {
    await worker.stop();
  }
}
