/** The composition root: `createOrchestrator()` builds and wires every collaborator. */
import type { PayloadCodec } from "../composer/codec.js";
import type { Steps } from "../composer/steps.js";
import type { TaskGraph } from "../decomposers/task-graph.js";
import type { Decomposer } from "../decomposers/types.js";
import { InvalidOptionError } from "../errors.js";
import type { Db } from "../store/db.js";
import { openDb } from "../store/connect.js";
import { createEventQueries } from "../store/events.js";
import { createGraphQueries } from "../store/graphs.js";
import { migrate } from "../store/migrator.js";
import { createRunControlQueries } from "../store/run-control.js";
import { createRunQueries, type RunRow } from "../store/runs.js";
import { createTaskQueries } from "../store/tasks.js";
import { decomposeGoal, type DecomposeOptions } from "./decompose.js";
import { composeMultiple, type MultipleOptions, type MultipleResult, type WorkflowGoal } from "./multiple.js";
import { resolveOrchestratorOptions, type OrchestratorOptions, type ResolvedOrchestratorOptions } from "./options.js";
import type { RunOptions } from "./run-options.js";
import type { RunResult } from "./run-result.js";
import { RunService, type ListRunsOptions, type SubmitOptions } from "./runs.js";
import { RunWaiter } from "./waiter.js";
import { recordPattern } from "../decomposers/patterns.js";
import { startWorker } from "./workers.js";
import type { Worker, WorkerOptions } from "../composer/worker.js";
import { RunNotFoundError } from "../errors.js";
import { createLiveEmitter, type EmitterEvent, type EmitterEventName } from "../notifications/emitter.js";
import { createNotifications, type Notifications } from "../notifications/service.js";
import { createMetricsQueries } from "../store/metrics.js";
import { createOptimizer, type Optimizer } from "../optimizer/service.js";
import { createTuningQueries } from "../store/optimizer-tunings.js";
import { slugify } from "./slug.js";
import { startDashboard, type Dashboard } from "../dashboard/server.js";
import type { DashboardOptions } from "../dashboard/options.js";

/** Options of composeFromGoal: a run's options plus how to decompose. */
export interface ComposeFromGoalOptions extends RunOptions {
  /** Options passed to decomposeGoal. @default {} */
  decompose?: Omit<DecomposeOptions, "steps">;
}

/** The orchestrator: the one object users hold. */
export interface Orchestrator {
  /** The database driver in use (`postgres` or `pglite`). */
  readonly db: Db;
  /** The options after validation and defaults. */
  readonly options: ResolvedOrchestratorOptions;
  /** Turns a goal into a validated, recorded task graph. */
  decomposeGoal(goal: string, decomposer: Decomposer, options?: DecomposeOptions): Promise<TaskGraph>;
  /** Binds a graph to steps and runs it to a final status. */
  composeFromTaskGraph(graph: TaskGraph, steps: Steps, options?: RunOptions & { decomposer?: Decomposer }): Promise<RunResult>;
  /** Decomposes a goal with the steps as catalogue, then runs the graph. */
  composeFromGoal(goal: string, decomposer: Decomposer, steps: Steps, options?: ComposeFromGoalOptions): Promise<RunResult>;
  /** Runs several goals as workflows; one may depend on others and sees their outputs. */
  composeMultipleWorkflows(goals: (string | WorkflowGoal)[], decomposer: Decomposer, stepsByWorkflow: Record<string, Steps>,
    options?: MultipleOptions): Promise<MultipleResult>;
  cancelRun(runId: string, reason?: string): Promise<void>;
  pauseRun(runId: string, reason?: string): Promise<void>;
  resumeRun(runId: string): Promise<void>;
  retryRun(runId: string, options?: { fromTask?: string; steps?: Steps }): Promise<RunResult>;
  getRun(runId: string): Promise<RunResult>;
  listRuns(options?: ListRunsOptions): Promise<RunRow[]>;
  /** Records a run for workers and returns its id at once (the same id again for a repeated idempotencyKey). */
  submit(graph: TaskGraph, options: SubmitOptions): Promise<{ runId: string }>;
  /** Starts a worker in this process for the given workflows; `worker.stop()` stops it gracefully. */
  startWorker(options: WorkerOptions): Promise<Worker>;
  /** Waits until the run is final and returns its result. */
  waitForRun(runId: string, options?: { timeoutMs?: number }): Promise<RunResult>;
  /** Live events: subscriptions (LISTEN with catch-up), recent events, custom events, retention. */
  readonly notifications: Notifications;
  /** Tunes graphs from the history of their workflow: `optimizeWorkflow`, `getRecommendations` (docs/optimizer.md). */
  readonly optimizer: Optimizer;
  /** Calls `listener` with every event of `type` (`"*"`: all), in this process, on either store. */
  on<K extends EmitterEventName>(type: K, listener: (event: EmitterEvent<K>) => unknown): Orchestrator;
  /** Calls `listener` with the next event of `type` only. */
  once<K extends EmitterEventName>(type: K, listener: (event: EmitterEvent<K>) => unknown): Orchestrator;
  /** Removes a listener (every listener of `type` if none is given). */
  off<K extends EmitterEventName>(type: K, listener?: (event: EmitterEvent<K>) => unknown): Orchestrator;
  /** Serves the live web dashboard (docs/dashboard.md); `orch.close()` stops it too. */
  dashboard(options?: DashboardOptions): Promise<Dashboard>;
  /** Waits for runs executing in this process, then closes the connections the orchestrator opened. */
  close(): Promise<void>;
}

/** What createOrchestrator takes beyond the plain options. */
export interface OrchestratorExtras {
  /** Encrypts task inputs and outputs at rest, e.g. `aesGcmCodec(key)`. @default none */
  codec?: PayloadCodec;
  /** Receives errors that must not stop a run (a failed log write, a failed heartbeat). @default console.error */
  onError?: (error: unknown) => void;
}

/**
 * Opens the store (embedded PGlite unless `database` names Postgres), migrates it unless
 * `migrate: false`, and returns the orchestrator.
 * @example
 * const orch = await createOrchestrator({ database: process.env.DATABASE_URL });
 */
export async function createOrchestrator(options: OrchestratorOptions & OrchestratorExtras = {}): Promise<Orchestrator> {
  const { codec, onError, ...plain } = options ?? {};
  if (codec !== undefined && (typeof codec?.encode !== "function" || typeof codec?.decode !== "function")) {
    throw new InvalidOptionError("codec", "a payload codec such as aesGcmCodec(key)", codec, "createOrchestrator");
  }
  const resolved = resolveOrchestratorOptions(plain);
  const db = await openDb(resolved.database, { poolSize: resolved.poolSize });
  try {
    if (resolved.migrate) await migrate(db, resolved.schema);
  } catch (error) {
    await db.close();
    throw error;
  }
  // Executor calls always carry the channel; each run's realTimeNotifications decides on NOTIFY.
  const channel = resolved.channel;
  const runs = createRunQueries(db, resolved.schema);
  const events = createEventQueries(db, resolved.schema);
  const graphs = createGraphQueries(db, resolved.schema, codec);
  const tasks = createTaskQueries(db, resolved.schema);
  const control = createRunControlQueries(db, resolved.schema);
  const reportError = onError ?? ((error: unknown) => console.error("htdag:", error));
  const notifications = createNotifications({ db, schema: resolved.schema, channel: resolved.channel,
    realTimeNotifications: resolved.realTimeNotifications, onError: reportError });
  // Listeners added with orch.on() before a call must see that call's events: each entry point
  // first waits until the emitter's subscription is live (at once when nobody listens).
  const live = createLiveEmitter(notifications, { onError: reportError });
  const optimizer = createOptimizer({ metrics: createMetricsQueries(db, resolved.schema), workflowOf: (graph) => slugify(graph.goal),
    events, channel, tunings: createTuningQueries(db, resolved.schema, codec),
    defaults: { timeoutMs: resolved.defaults.timeoutMs, maxAttempts: resolved.defaults.maxAttempts,
      maxParallel: resolved.defaults.maxParallel, backoff: resolved.defaults.backoff } });
  const runService = new RunService({ db, runs, tasks, control, events, options: resolved, codec, onError: reportError, optimizer });
  const waiter = new RunWaiter(db, control, channel, reportError);
  const workers = new Set<Worker>();
  const dashboards = new Set<Dashboard>();
  const decomposeDeps = { graphs, events, channel, notify: resolved.realTimeNotifications, db, schema: resolved.schema, limits: { maxTasks: resolved.maxTasks, maxInputBytes: resolved.maxInputBytes }, codec };
  const composeFromGoal = async (goal: string, decomposer: Decomposer, steps: Steps, opts: ComposeFromGoalOptions = {}, upstream?: Record<string, unknown>) => {
    const { decompose, ...runOptions } = opts;
    const graph = await decomposeGoal(decomposeDeps, goal, decomposer, { ...decompose, steps, ...(upstream ? { upstream } : {}) });
    const input = upstream && Object.keys(upstream).length > 0 ? { workflows: upstream } : runOptions.input;
    const result = await runService.composeFromTaskGraph(graph, steps, { ...runOptions, decomposer, ...(input === undefined ? {} : { input: input as never }) });
    // Learning: the goal's graph and how its run ended feed the hybrid decomposer's patterns. The run's
    // result stands whether or not this write succeeds, so a failure is reported, not thrown.
    if (result.status === "completed" || result.status === "failed") {
      await recordPattern(db, resolved.schema, goal, graph, result.status === "completed", { workflow: result.workflow, runId: result.runId, codec })
        .catch(reportError);
    }
    return result;
  };
  const orch: Orchestrator = {
    db,
    options: resolved,
    notifications,
    optimizer,
    on: (type, listener) => (live.emitter.on(type, listener), orch),
    once: (type, listener) => (live.emitter.once(type, listener), orch),
    off: (type, listener) => (live.emitter.off(type, listener), orch),
    decomposeGoal: async (goal, decomposer, opts) => (await live.ready(), decomposeGoal(decomposeDeps, goal, decomposer, opts)),
    composeFromTaskGraph: async (graph, steps, opts) => (await live.ready(), runService.composeFromTaskGraph(graph, steps, opts)),
    composeFromGoal: async (goal, decomposer, steps, opts) => (await live.ready(), composeFromGoal(goal, decomposer, steps, opts)),
    composeMultipleWorkflows: async (goals, decomposer, stepsByWorkflow, opts = {}) => (await live.ready(),
      composeMultiple(goals, stepsByWorkflow, opts, (goal, steps, runOptions, upstream) => composeFromGoal(goal, decomposer, steps, runOptions, upstream))),
    cancelRun: (runId, reason) => runService.cancelRun(runId, reason),
    pauseRun: (runId, reason) => runService.pauseRun(runId, reason),
    resumeRun: (runId) => runService.resumeRun(runId),
    retryRun: async (runId, opts) => (await live.ready(), runService.retryRun(runId, opts)),
    getRun: (runId) => runService.getRun(runId),
    listRuns: (opts) => runService.listRuns(opts),
    submit: (graph, opts) => runService.submit(graph, opts),
    startWorker: async (opts) => {
      const worker = await startWorker(opts, { db, tasks, runs, runService, leaseMs: resolved.leaseMs, channel, onError: reportError });
      workers.add(worker);
      const stop = worker.stop.bind(worker);
      worker.stop = async () => {
        workers.delete(worker);
        await stop();
      };
      return worker;
    },
    waitForRun: async (runId, opts = {}) => {
      await waiter.wait(runId, opts.timeoutMs ?? 2_147_483_647, () => new RunNotFoundError(runId));
      return runService.result(runId);
    },
    dashboard: async (opts) => {
      const dashboard = await startDashboard(orch, opts);
      dashboards.add(dashboard);
      return dashboard;
    },
    close: async () => {
      await Promise.all([...dashboards].map((d) => d.close()));
      await Promise.all([...workers].map((w) => w.stop()));
      await runService.drain();
      await waiter.close();
      await live.close();
      await notifications.close();
      await db.close();
    },
  };
  return orch;
}
