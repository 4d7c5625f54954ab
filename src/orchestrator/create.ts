/**
 * The composition root: `buildOrchestrator()` builds and wires every collaborator. The public
 * `createOrchestrator` (src/create-orchestrator.ts) calls it with the dashboard server, the one
 * collaborator that lives in a layer above this one.
 */
import type { Dashboard, StartDashboard } from "./dashboard-port.js";
import type { Worker } from "../composer/worker.js";
import type { Steps } from "../composer/steps.js";
import type { Decomposer } from "../graph/decomposer.js";
import { InvalidOptionError, RunNotFoundError } from "../errors.js";
import { recordPattern } from "../decomposers/patterns.js";
import { createLiveEmitter } from "../notifications/emitter.js";
import { createNotifications } from "../notifications/service.js";
import { createOptimizer } from "../optimizer/service.js";
import { openDb } from "../store/connect.js";
import { createEventQueries } from "../store/events.js";
import { createListenerRegistry } from "../store/listeners.js";
import { createGraphQueries } from "../store/graphs.js";
import { createMetricsQueries } from "../store/metrics.js";
import { migrate } from "../store/migrator.js";
import { createTuningQueries } from "../store/optimizer-tunings.js";
import { createRunControlQueries } from "../store/run-control.js";
import { createSignalQueries } from "../store/signals.js";
import { createPlanApprovalQueries } from "../store/plan-approval.js";
import { createUsageQueries } from "../store/usage.js";
import { createRunQueries } from "../store/runs.js";
import { createRedactor, knownSecrets } from "../store/redact.js";
import { createTaskQueries } from "../store/tasks.js";
import { createRevisionQueries } from "../store/revisions.js";
import { createScheduleQueries } from "../store/schedules.js";
import { createDecompositionQueries } from "../store/decomposition-cache.js";
import { composeStreamed, type StreamedRunDeps } from "./streamed-run.js";
import { checkGoal } from "./decompose-options.js";
import { createQueueWaitReader } from "../store/queue-waits.js";
import { createTelemetry } from "../telemetry/telemetry.js";
import { decomposeGoal } from "./decompose.js";
import { composeMultiple } from "./multiple.js";
import { resolveOrchestratorOptions, type OrchestratorOptions } from "./options.js";
import type { ComposeFromGoalOptions, Orchestrator, OrchestratorExtras } from "./orchestrator.js";
import { RunService, type DecompositionSpend } from "./runs.js";
import { PlanApproval } from "./plan-approval.js";
import { slugify } from "./slug.js";
import { sendSignal, type SignalDeps } from "./signals.js";
import { RunWaiter } from "./waiter.js";
import { startWorker } from "./workers.js";
import { SCHEDULE_RECHECK_MS, ScheduleFirer } from "./schedule-firer.js";
import { createScheduleService } from "./schedules.js";

/** The collaborators of layers above the orchestrator, passed in by createOrchestrator. */
export interface OrchestratorServices {
  /** Serves `orch.dashboard()`. */
  startDashboard: StartDashboard;
}

/**
 * Opens the store (embedded PGlite unless `database` names Postgres), migrates it unless
 * `migrate: false`, and returns the orchestrator wired with `services`.
 */
export async function buildOrchestrator(
  services: OrchestratorServices,
  options: OrchestratorOptions & OrchestratorExtras = {},
): Promise<Orchestrator> {
  const { codec, onError, ...plain } = options ?? {};
  if (codec !== undefined && (typeof codec?.encode !== "function" || typeof codec?.decode !== "function")) {
    throw new InvalidOptionError("codec", "a payload codec such as aesGcmCodec(key)", codec, "createOrchestrator");
  }
  const resolved = resolveOrchestratorOptions(plain);
  const reportError = onError ?? ((error: unknown) => console.error("htdag:", error));
  const db = await openDb(resolved.database, {
    poolSize: resolved.poolSize,
    // The shipped data dir is already migrated: a caller that migrates itself (migrate: false) gets an empty store.
    schema: resolved.migrate ? resolved.schema : undefined,
    onSeedError: reportError,
  });
  try {
    if (resolved.migrate) {
      await migrate(db, resolved.schema);
    }
  } catch (error) {
    await db.close();
    throw error;
  }
  // Executor calls always carry the channel; each run's realTimeNotifications decides on NOTIFY.
  const channel = resolved.channel;
  const runs = createRunQueries(db, resolved.schema);
  const events = createEventQueries(db, resolved.schema);
  const graphs = createGraphQueries(db, resolved.schema, codec);
  // What htdag stores of errors and logs goes through one redactor: the secrets it was given, and
  // anything shaped like a credential (docs/operations.md, "Secrets").
  const redactor = createRedactor(knownSecrets(resolved.database, process.env));
  const tasks = createTaskQueries(db, resolved.schema, redactor);
  const control = createRunControlQueries(db, resolved.schema);
  const usage = createUsageQueries(db, resolved.schema);
  const telemetry = resolved.telemetry ? createTelemetry() : undefined;
  const runTelemetry = telemetry && {
    telemetry,
    queueWaits: createQueueWaitReader(db, resolved.schema),
    redact: (text: string) => redactor.text(text),
  };
  const notifications = createNotifications({
    db,
    schema: resolved.schema,
    channel: resolved.channel,
    realTimeNotifications: resolved.realTimeNotifications,
    onError: reportError,
  });
  // Listeners added with orch.on() before a call must see that call's events: each entry point
  // first waits until the emitter's subscription is live (at once when nobody listens).
  const live = createLiveEmitter(notifications, { onError: reportError });
  const optimizer = createOptimizer({
    metrics: createMetricsQueries(db, resolved.schema),
    workflowOf: (graph) => slugify(graph.goal),
    events,
    channel,
    tunings: createTuningQueries(db, resolved.schema, codec),
    defaults: {
      timeoutMs: resolved.defaults.timeoutMs,
      maxAttempts: resolved.defaults.maxAttempts,
      maxParallel: resolved.defaults.maxParallel,
      backoff: resolved.defaults.backoff,
    },
  });
  const runService = new RunService({
    db,
    runs,
    tasks,
    revisions: createRevisionQueries(db, resolved.schema),
    control,
    usage,
    events,
    options: resolved,
    codec,
    onError: reportError,
    optimizer,
    ...(runTelemetry ? { telemetry: runTelemetry } : {}),
  });
  const signalDeps: SignalDeps = {
    signals: createSignalQueries(db, resolved.schema),
    codec,
    maxOutputBytes: resolved.maxOutputBytes,
    channel,
    runs: runService,
  };
  const planApproval = new PlanApproval({
    queries: createPlanApprovalQueries(db, resolved.schema),
    runs,
    runService,
    options: resolved,
    codec,
  });
  const waiter = new RunWaiter(db, control, createListenerRegistry(db, resolved.schema), channel, reportError);
  const workers = new Set<Worker>();
  // Each running worker fires due schedules (docs/waits-and-flow-control.md, "Schedules").
  const firers = new Set<ScheduleFirer>();
  const scheduleQueries = createScheduleQueries(db, resolved.schema, codec);
  const schedules = createScheduleService({
    schedules: scheduleQueries,
    options: resolved,
    onStored: () => firers.forEach((firer) => firer.wake()),
  });
  const dashboards = new Set<Dashboard>();
  const decomposeDeps = {
    graphs,
    events,
    channel,
    notify: resolved.realTimeNotifications !== false,
    db,
    schema: resolved.schema,
    limits: { maxTasks: resolved.maxTasks, maxInputBytes: resolved.maxInputBytes },
    codec,
    redactor,
    ...(telemetry ? { telemetry } : {}),
  };
  const streamDeps: StreamedRunDeps = {
    runService,
    revisions: createRevisionQueries(db, resolved.schema),
    control,
    graphs,
    decompositions: createDecompositionQueries(db, resolved.schema, codec),
    usage: createUsageQueries(db, resolved.schema),
    ...(resolved.pricing ? { pricing: resolved.pricing } : {}),
    events,
    channel,
    leaseMs: resolved.leaseMs,
    limits: { maxTasks: resolved.maxTasks, maxInputBytes: resolved.maxInputBytes },
    codec,
    ...(telemetry ? { telemetry } : {}),
    onError: reportError,
  };
  const composeFromGoal = async (
    goal: string,
    decomposer: Decomposer,
    steps: Steps,
    opts: ComposeFromGoalOptions = {},
    upstream?: Record<string, unknown>,
  ) => {
    const { decompose, streamPlan, ...runOptions } = opts;
    if (streamPlan === true) {
      checkGoal(goal);
      return composeStreamed(streamDeps, goal, decomposer, steps, runOptions);
    }
    let spend: DecompositionSpend | undefined;
    const graph = await decomposeGoal(
      decomposeDeps,
      goal,
      decomposer,
      { ...decompose, steps, ...(upstream ? { upstream } : {}) },
      (usage) => {
        spend = {
          model: usage.model,
          llmCalls: usage.llmCalls,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
        };
      },
    );
    const input = upstream && Object.keys(upstream).length > 0 ? { workflows: upstream } : runOptions.input;
    const result = await runService.composeFromTaskGraph(
      graph,
      steps,
      { ...runOptions, decomposer, ...(input === undefined ? {} : { input: input as never }) },
      spend,
    );
    // Learning: the goal's graph and how its run ended feed the hybrid decomposer's patterns. The run's
    // result stands whether or not this write succeeds, so a failure is reported, not thrown.
    if (result.status === "completed" || result.status === "failed") {
      await recordPattern(db, resolved.schema, goal, graph, result.status === "completed", {
        workflow: result.workflow,
        runId: result.runId,
        codec,
      }).catch(reportError);
    }
    return result;
  };
  const orch: Orchestrator = {
    db,
    options: resolved,
    notifications,
    optimizer,
    on: (type, listener) => {
      live.emitter.on(type, listener);
      return orch;
    },
    once: (type, listener) => {
      live.emitter.once(type, listener);
      return orch;
    },
    off: (type, listener) => {
      live.emitter.off(type, listener);
      return orch;
    },
    decomposeGoal: async (goal, decomposer, opts) => {
      await live.ready();
      return decomposeGoal(decomposeDeps, goal, decomposer, opts);
    },
    composeFromTaskGraph: async (graph, steps, opts) => {
      await live.ready();
      return runService.composeFromTaskGraph(graph, steps, opts);
    },
    composeFromGoal: async (goal, decomposer, steps, opts) => {
      await live.ready();
      return composeFromGoal(goal, decomposer, steps, opts);
    },
    composeMultipleWorkflows: async (goals, decomposer, stepsByWorkflow, opts = {}) => {
      await live.ready();
      return composeMultiple(goals, stepsByWorkflow, opts, (goal, steps, runOptions, upstream) =>
        composeFromGoal(goal, decomposer, steps, runOptions, upstream),
      );
    },
    cancelRun: (runId, reason) => runService.cancelRun(runId, reason),
    pauseRun: (runId, reason) => runService.pauseRun(runId, reason),
    resumeRun: (runId) => runService.resumeRun(runId),
    retryRun: async (runId, opts) => {
      await live.ready();
      return runService.retryRun(runId, opts);
    },
    getRun: (runId) => runService.getRun(runId),
    listRuns: (opts) => runService.listRuns(opts),
    submit: (graph, opts) => runService.submit(graph, opts),
    startWorker: async (opts) => {
      const worker = await startWorker(opts, {
        db,
        tasks,
        runs,
        runService,
        leaseMs: resolved.leaseMs,
        maxOutputBytes: resolved.maxOutputBytes,
        channel,
        onError: reportError,
      });
      const firer = new ScheduleFirer({
        schedules: scheduleQueries,
        submit: (graph, submitOptions) => runService.submit(graph, submitOptions),
        channel,
        recheckMs: opts.pollIntervalMs ?? SCHEDULE_RECHECK_MS,
        onError: reportError,
      });
      workers.add(worker);
      firers.add(firer);
      firer.start();
      const stop = worker.stop.bind(worker);
      worker.stop = async () => {
        workers.delete(worker);
        firers.delete(firer);
        await firer.stop();
        await stop();
      };
      return worker;
    },
    // Waits, plan approval and schedules (docs/waits-and-flow-control.md).
    signal: (runId, name, payload) => sendSignal(signalDeps, runId, name, payload),
    approvePlan: (runId, opts) => planApproval.approve(runId, opts),
    rejectPlan: (runId, reason) => planApproval.reject(runId, reason),
    schedule: (name, scheduleOptions) => schedules.schedule(name, scheduleOptions),
    unschedule: (name) => schedules.unschedule(name),
    listSchedules: () => schedules.listSchedules(),
    waitForRun: async (runId, opts = {}) => {
      await waiter.wait(runId, opts.timeoutMs ?? 2_147_483_647, () => new RunNotFoundError(runId));
      return runService.result(runId);
    },
    dashboard: async (opts) => {
      const dashboard = await services.startDashboard(orch, opts);
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
