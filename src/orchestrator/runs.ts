/**
 * The run service: composes graphs into runs, executes them in this process, and controls them
 * (cancel, pause, resume, retry, read). Keeps the executors of runs active in this process.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import {
  IllegalTransitionError,
  InvalidOptionError,
  RunDetachedError,
  RunNotFoundError,
  type Spend,
} from "../errors.js";
import type { TaskGraph } from "../graph/task-graph.js";
import { validateGraph } from "../graph/validate.js";
import { bindGraph, type TaskDefaults } from "../composer/bind.js";
import { sealTaskInputs, type PayloadCodec } from "../store/codec.js";
import { decode } from "../composer/attempt.js";
import { RunExecutor } from "../composer/executor.js";
import type { AttemptEnvironment } from "../composer/attempt.js";
import { planExpansion, type ExpansionContext } from "../composer/expand.js";
import type { Decomposer } from "../graph/decomposer.js";
import { catalogueOf, decomposerName } from "./decompose.js";
import { isFinalRunStatus, type RunStatus } from "../composer/state-machine.js";
import { toStepDefinition, type StepDefinition, type Steps } from "../composer/steps.js";
import type { Db } from "../store/db.js";
import type { EventQueries } from "../store/events.js";
import type { RunControlQueries } from "../store/run-control.js";
import type { RunQueries, RunRow, SubmittedRun } from "../store/runs.js";
import { toRunSummary, type RunSummary } from "./run-summary.js";
import type { TaskQueries } from "../store/tasks.js";
import type { RevisionQueries } from "../store/revisions.js";
import type { UsageQueries } from "../store/usage.js";
import { budgetError, costOf, parseUsageReport } from "./usage.js";
import { reviserFor } from "./revise.js";
import { parseOptions } from "../options.js";
import type { ResolvedOrchestratorOptions } from "./options.js";
import { toRunResult, type RunResult } from "./run-result.js";
import { runOptionsSchema, type ResolvedRunOptions, type RunOptions } from "./run-options.js";
import { listRunsOptionsSchema } from "./list-runs-options.js";
import { slugify } from "./slug.js";
import { KnownTunings } from "./known-tunings.js";
import type { Optimizer } from "../optimizer/service.js";
import {
  optimizationPayload,
  optimizeForRun,
  type AppliedOptimization,
  type OptimizationDeps,
} from "./run-optimization.js";
import { assertOptionsObject, assertRunId, assertStorableOptions, checkReason, checkSteps } from "./checks.js";
import { attemptTelemetryOf, traceRun, tracedDecomposer, type RunTelemetry } from "./run-tracing.js";
import type { StoredTraceContext } from "../telemetry/trace-context.js";

/** Submits of one run that may each find the workflow's stored tuning changed before one gives up. */
const MAX_TUNING_READS = 5;
/** Shortest gap between two task:progress events of one attempt, in ms. */
const PROGRESS_INTERVAL_MS = 100;

export interface RunServiceDeps {
  db: Db;
  runs: RunQueries;
  tasks: TaskQueries;
  /** The plans of runs and their revisions (docs/living-plans.md). */
  revisions: RevisionQueries;
  control: RunControlQueries;
  /** Usage records and the runs' budgets (docs/usage-and-budgets.md). */
  usage: UsageQueries;
  events: EventQueries;
  options: ResolvedOrchestratorOptions;
  codec: PayloadCodec | undefined;
  onError(error: unknown): void;
  /** Tunes graphs of runs with an optimizationLevel other than "none". */
  optimizer?: Optimizer;
  /** Traces runs and their attempts; absent when the orchestrator's `telemetry` is off. */
  telemetry?: RunTelemetry;
}

/** How a run is recorded: started or left pending, when workers may claim it, and its trace context. */
interface RecordHow {
  runAt: Date | null;
  start: boolean;
  trace?: StoredTraceContext | undefined;
  /** The plan is still being written (streamPlan): the run is marked so, for this long. */
  planningMs?: number;
}

/** What the decomposition that planned a run cost, recorded against the run once it is (composeFromGoal). */
export interface DecompositionSpend {
  model: string | undefined;
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
}

/** Options of submit: a run's options with a required workflow name, plus when to start. */
export interface SubmitOptions extends RunOptions {
  /** The workflow whose steps a worker runs (`startWorker({ workflows: { [workflow]: steps } })`). */
  workflow: string;
  /** Workers claim nothing of the run before this moment. @default now */
  runAt?: Date;
  /** The steps, when the submitter has them: checks every task has one, and applies step settings to queue and priority. @default none */
  steps?: Steps;
}

/** Filters of listRuns. */
export interface ListRunsOptions {
  /** Only runs in this status. @default every status */
  status?: RunStatus;
  /** Only runs of this workflow. @default every workflow */
  workflow?: string;
  /** Most runs returned, newest first; from 1 to 1000. @default 50 */
  limit?: number;
}

/** Most expired leases one reap of the in-process heartbeat returns to ready. */
const REAP_LIMIT = 100;

/** How often close() rechecks, while runs of this process finish, whether one waits for a person or for time. */
const DRAIN_RECHECK_MS = 250;

/** What a detached run waits for, in words (RunDetachedError). */
const PARKED_WORDS = {
  awaiting_approval: "awaits approval of its plan",
  paused: "is paused",
  waiting: "waits for a signal or a time with nothing else to run",
} as const;

export class RunService {
  /** Executors of runs running in this process, by run id. */
  private readonly active = new Map<string, { executor: RunExecutor; done: Promise<RunStatus> }>();
  private heartbeat: NodeJS.Timeout | undefined;
  /** Steps bound per workflow in this process, so retry and resume can find them. */
  private readonly stepsByWorkflow = new Map<string, Steps>();
  /** Decomposers per workflow in this process, for lazy composites. */
  private readonly decomposers = new Map<string, Decomposer>();
  readonly workerId = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

  /** Stored tunings as this process last read them (one read per workflow, checked by submit_run). */
  private readonly tunings: KnownTunings;

  constructor(private readonly deps: RunServiceDeps) {
    this.tunings = new KnownTunings(deps.optimizer);
  }

  /** Binds `graph` to `steps`, records the run and runs it to a final status. */
  async composeFromTaskGraph(
    graph: TaskGraph,
    steps: Steps,
    options: RunOptions & { decomposer?: Decomposer } = {},
    decomposition?: DecompositionSpend,
  ): Promise<RunResult> {
    assertOptionsObject(options, "composeFromTaskGraph");
    const { decomposer, ...plain } = options ?? {};
    const resolved = parseOptions(runOptionsSchema, plain, "composeFromTaskGraph");
    assertStorableOptions(resolved, "composeFromTaskGraph");
    checkSteps(steps);
    const validated = validateGraph(graph, {
      stepNames: Object.keys(steps),
      limits: {
        maxTasks: this.deps.options.maxTasks,
        maxInputBytes: this.deps.options.maxInputBytes,
        maxDepth: resolved.maxDepth,
      },
      defaults: { source: "function", decomposer: "manual" },
    });
    const workflow = resolved.workflow ?? slugify(validated.goal);
    return traceRun(this.deps.telemetry, { workflow, goal: validated.goal, submitted: false }, async (trace) => {
      const result = await this.recordAndExecute(
        workflow,
        validated,
        resolved,
        steps,
        decomposer,
        trace?.stored,
        decomposition,
      );
      trace?.identify(result.runId);
      trace?.finished(result.status, result.error);
      return result;
    });
  }

  /** Records the run (or finds the one of its idempotency key) and runs it to a final status. */
  private async recordAndExecute(
    workflow: string,
    validated: TaskGraph,
    resolved: ResolvedRunOptions,
    steps: Steps,
    decomposer: Decomposer | undefined,
    trace: StoredTraceContext | undefined,
    decomposition?: DecompositionSpend,
  ): Promise<RunResult> {
    if (resolved.idempotencyKey) {
      const existing = await this.deps.runs.findByIdempotencyKey(resolved.idempotencyKey);
      if (existing) {
        return this.continueExisting(existing, steps, decomposer);
      }
    }
    // Recorded pending: the executor starts the run and claims its first tasks in one call.
    const recorded = await this.tuneAndRecord(workflow, validated, resolved, steps, {
      runAt: null,
      start: false,
      trace,
    });
    if (recorded.existing) {
      // Another caller took the idempotency key since the check above.
      const raced = await this.deps.runs.getRun(recorded.runId);
      if (!raced) {
        throw new RunNotFoundError(recorded.runId);
      }
      return this.continueExisting(raced, steps, decomposer);
    }
    const runId = recorded.runId;
    if (decomposition && (decomposition.llmCalls > 0 || decomposition.inputTokens + decomposition.outputTokens > 0)) {
      // The plan was made before the run existed: its cost is the run's first spend (a budget it
      // reaches fails the run before any task starts).
      await this.recordDecomposition(runId, decomposition);
    }
    this.stepsByWorkflow.set(workflow, steps);
    if (decomposer) {
      this.decomposers.set(workflow, decomposer);
    }
    await this.execute(runId, steps);
    return this.result(runId);
  }

  private async recordDecomposition(runId: string, spend: DecompositionSpend): Promise<void> {
    const model = spend.model ?? "unknown";
    await this.deps.usage.record(
      {
        runId,
        taskId: null,
        attempt: null,
        source: "decomposition",
        model,
        llmCalls: spend.llmCalls,
        inputTokens: spend.inputTokens,
        outputTokens: spend.outputTokens,
        costUsd: costOf(this.deps.options.pricing, model, spend.inputTokens, spend.outputTokens),
      },
      this.deps.options.channel,
    );
  }

  /**
   * Records a run whose plan is still being written (streamPlan, docs/living-plans.md): pending,
   * with the tasks of `graph` so far (usually none), marked as planning for `planningMs`. The caller
   * adds the tasks as they arrive, executes the run, and closes the plan.
   */
  async recordStreamed(
    graph: TaskGraph,
    options: RunOptions,
    steps: Steps,
    decomposer: Decomposer,
    planningMs: number,
  ): Promise<{ runId: string; workflow: string; options: ResolvedRunOptions; existing: boolean }> {
    const resolved = parseOptions(runOptionsSchema, options, "composeFromGoal");
    assertStorableOptions(resolved, "composeFromGoal");
    checkSteps(steps);
    const workflow = resolved.workflow ?? slugify(graph.goal);
    const recorded = await this.tuneAndRecord(workflow, graph, { ...resolved, optimizationLevel: "none" }, steps, {
      runAt: null,
      start: false,
      planningMs,
    });
    this.stepsByWorkflow.set(workflow, steps);
    this.decomposers.set(workflow, decomposer);
    return { runId: recorded.runId, workflow, options: resolved, existing: recorded.existing };
  }

  /** Wakes the executor of `runId` in this process (tasks were added to its plan). */
  wake(runId: string): void {
    this.active.get(runId)?.executor.wake();
  }

  /** Tells the executor of `runId` in this process the run's status, as a call outside it learned it. */
  notice(runId: string, status: RunStatus): void {
    this.active.get(runId)?.executor.notice(status);
  }

  /** Aborts attempts of `runId` that the store ended (a revision superseded them). */
  abortEnded(runId: string, attempts: readonly { taskId: string; attempt: number }[]): void {
    this.active.get(runId)?.executor.abortEnded(attempts);
  }

  /** The steps this process bound for `workflow` (composeFromGoal, composeFromTaskGraph, retryRun), if any. */
  boundSteps(workflow: string): Steps | undefined {
    return this.stepsByWorkflow.get(workflow);
  }

  /** The per-task defaults a run of `options` resolves to (its bound rows use them). */
  defaultsFor(options: ResolvedRunOptions): TaskDefaults {
    return this.taskDefaults(options);
  }

  /**
   * Tunes the graph (the workflow's stored tuning, then the optimizer) and records the run; tunes
   * again, with the stored tuning read afresh, while submit_run finds another one stored meanwhile.
   */
  private async tuneAndRecord(
    workflow: string,
    graph: TaskGraph,
    options: ResolvedRunOptions,
    steps: Steps,
    how: RecordHow,
  ): Promise<SubmittedRun> {
    for (let attempt = 1; ; attempt++) {
      const tuned = await optimizeForRun(this.optimization(), graph, workflow, options, this.taskDefaults(options));
      const recorded = await this.record(workflow, tuned, graph.id, steps, how);
      if (!recorded.staleTuning) {
        return recorded;
      }
      this.tunings.forget(workflow);
      if (attempt === MAX_TUNING_READS) {
        throw new Error(
          `the stored tuning of workflow ${JSON.stringify(workflow)} changed ${attempt} times while submitting; ` +
            "stop storing tunings in a loop (htdag optimize --apply), then submit again",
        );
      }
    }
  }

  /**
   * Records the run with its graph, tasks, edges and first events, and starts it when `start`: one
   * round trip and one transaction (submit_run). An idempotency key already taken writes nothing and
   * returns the existing run.
   */
  private async record(
    workflow: string,
    tuned: { graph: TaskGraph; options: ResolvedRunOptions; applied?: AppliedOptimization },
    graphId: string,
    steps: Steps,
    how: RecordHow,
  ): Promise<SubmittedRun> {
    const { graph, options, applied } = tuned;
    const defaults = this.taskDefaults(options);
    const { codec } = this.deps;
    const bound = bindGraph(graph, steps, defaults, codec);
    const input = options.input === undefined ? null : codec ? codec.encode(options.input) : options.input;
    return this.deps.runs.submitRun({
      run: {
        id: randomUUID(),
        workflow,
        graphId: graph.id,
        goal: graph.goal,
        priority: defaults.priority,
        maxParallel: options.maxParallel ?? this.deps.options.defaults.maxParallel,
        failFast: options.failFast,
        options: {
          realTimeNotifications: options.realTimeNotifications ?? this.deps.options.realTimeNotifications,
          timeoutMs: options.timeoutMs ?? null,
          taskDefaults: defaults,
          ...(options.replan ? { replan: options.replan } : {}),
          ...(options.budget ? { budget: options.budget } : {}),
          ...(applied ? { optimization: applied } : {}),
          // The executor of a run with waits also wakes when one is due (docs/waits-and-flow-control.md).
          ...(bound.tasks.some((task) => task.spec.wait !== undefined) ? { waits: true } : {}),
          // The run's span: the task spans of any process are its children (docs/observability.md).
          ...(how.trace ? { trace: how.trace } : {}),
        },
        input,
        idempotencyKey: options.idempotencyKey ?? null,
        runAt: how.runAt,
        deadlineMs: options.timeoutMs ?? null,
        tuningAppliedAt: this.tunings.applied(workflow),
      },
      graph: { ...graph, tasks: sealTaskInputs(graph.tasks, codec) },
      tasks: bound.tasks,
      edges: bound.edges,
      queues: options.queues ?? null,
      events: applied
        ? [
            {
              type: "optimization:completed",
              payload: optimizationPayload("optimization:completed", applied, graphId),
            },
          ]
        : [],
      // A plan to approve waits for a person: recorded awaiting approval, never started (approvePlan starts it).
      start: how.start && options.approvePlan !== true,
      ...(options.approvePlan === true ? { awaitApproval: true } : {}),
      channel: this.deps.options.channel,
      ...(how.planningMs === undefined ? {} : { planningMs: how.planningMs }),
    });
  }

  private optimization(): OptimizationDeps {
    return {
      optimizer: this.tunings.optimizer,
      events: this.deps.events,
      channel: this.deps.options.channel,
      defaultMaxParallel: this.deps.options.defaults.maxParallel,
    };
  }

  private taskDefaults(options: ResolvedRunOptions): TaskDefaults {
    const d = this.deps.options.defaults;
    return {
      maxAttempts: options.maxAttempts ?? d.maxAttempts,
      timeoutMs: options.taskTimeoutMs ?? d.timeoutMs,
      backoff: { ...d.backoff, ...options.backoff },
      priority: options.priority ?? d.priority,
      queue: options.queue ?? d.queue,
    };
  }

  /**
   * Records a run for workers to execute and starts it (its first tasks become ready; with `runAt`
   * in the future, workers claim nothing before then), in one transaction and one round trip besides
   * the read of the workflow's stored tuning. Returns at once with the run id.
   */
  async submit(graph: TaskGraph, options: SubmitOptions): Promise<{ runId: string; existing: boolean }> {
    assertOptionsObject(options, "submit");
    const { runAt, steps, ...plain } = options ?? ({} as SubmitOptions);
    if (typeof plain.workflow !== "string") {
      throw new InvalidOptionError("workflow", "the name of a workflow a worker runs", plain.workflow, "submit");
    }
    if (runAt !== undefined && !(runAt instanceof Date && !Number.isNaN(runAt.getTime()))) {
      throw new InvalidOptionError("runAt", "a valid Date", runAt, "submit");
    }
    const resolved = parseOptions(runOptionsSchema, plain, "submit");
    assertStorableOptions(resolved, "submit");
    if (steps) {
      checkSteps(steps);
    }
    const validated = validateGraph(graph, {
      ...(steps ? { stepNames: Object.keys(steps) } : {}),
      limits: {
        maxTasks: this.deps.options.maxTasks,
        maxInputBytes: this.deps.options.maxInputBytes,
        maxDepth: resolved.maxDepth,
      },
      defaults: { source: "function", decomposer: "manual" },
    });
    // The idempotency key is checked by submit_run itself; a run that would be optimized is looked
    // up first, so a repeated submit does not tune a graph (and report it) for nothing.
    const existing =
      resolved.idempotencyKey && resolved.optimizationLevel !== "none"
        ? await this.deps.runs.findByIdempotencyKey(resolved.idempotencyKey)
        : undefined;
    if (existing) {
      return { runId: existing.id, existing: true };
    }
    const workflow = resolved.workflow!;
    return traceRun(this.deps.telemetry, { workflow, goal: validated.goal, submitted: true }, async (trace) => {
      const recorded = await this.tuneAndRecord(workflow, validated, resolved, steps ?? {}, {
        runAt: runAt ?? null,
        start: true,
        trace: trace?.stored,
      });
      trace?.identify(recorded.runId);
      return { runId: recorded.runId, existing: recorded.existing };
    });
  }

  /**
   * A run of this process freed a slot of a concurrency key that tasks wait on: the other runs it
   * executes claim again (workers, in any process, hear the NOTIFY `queue:freed` instead).
   */
  private slotFreed(freedBy: string): void {
    for (const [runId, { executor }] of this.active) {
      if (runId !== freedBy) {
        executor.recheck();
      }
    }
  }

  /** Runs (or resumes) `runId` in this process until it is final. */
  async execute(runId: string, steps: Steps): Promise<RunStatus> {
    const current = this.active.get(runId);
    if (current) {
      return current.done;
    }
    const run = await this.deps.runs.getRun(runId);
    if (!run) {
      throw new RunNotFoundError(runId);
    }
    const executor = new RunExecutor(
      {
        tasks: this.deps.tasks,
        control: this.deps.control,
        workerId: this.workerId,
        leaseMs: this.deps.options.leaseMs,
        channel: this.deps.options.channel,
        onError: this.deps.onError,
        onSlotFreed: (freedBy) => this.slotFreed(freedBy),
      },
      {
        runId,
        maxParallel: run.max_parallel,
        deadlineAt: run.deadline_at ? run.deadline_at.getTime() : null,
        hasWaits: run.options.waits === true,
        environment: this.environment(run, steps),
      },
    );
    const done = executor.execute().finally(() => {
      this.active.delete(runId);
      if (this.active.size === 0) {
        this.stopHeartbeat();
      }
    });
    this.active.set(runId, { executor, done });
    this.startHeartbeat();
    return done;
  }

  /**
   * One lease heartbeat for every run this process executes (they share workerId), while any runs.
   * It renews exactly the attempts the executors run: leases belong to attempts, not to the process.
   * Every third beat (once per lease) it also reaps expired leases and reconciles runs, as workers
   * do: an attempt no one runs (a claim whose reply was lost) goes back to ready, a run no process
   * started is started, and a run whose tasks are all final is finished.
   */
  private startHeartbeat(): void {
    if (this.heartbeat) {
      return;
    }
    const { leaseMs, channel } = this.deps.options;
    let beats = 0;
    this.heartbeat = setInterval(
      () => {
        const held = [...this.active.values()].flatMap(({ executor }) => executor.heldAttempts());
        this.deps.tasks
          .renewHeldLeases(this.workerId, leaseMs, held)
          // Attempts the store ended elsewhere (failFast, a stop by another process): abort their steps.
          .then(({ gone }) => gone.forEach((a) => this.active.get(a.runId)?.executor.abortEnded([a])))
          .catch(this.deps.onError);
        if (++beats % 3 === 0) {
          this.deps.tasks
            .reapExpired(REAP_LIMIT, channel)
            .then(() => this.deps.tasks.reconcileRuns(REAP_LIMIT, leaseMs, channel))
            .catch(this.deps.onError);
        }
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /**
   * What attempts of `run` need: goal, input, steps, codec, log and progress writers, and lazy
   * expansion with `decomposer` (by default the one bound to the run's workflow in this process).
   */
  environment(run: RunRow, steps: Steps, decomposer = this.decomposers.get(run.workflow)): AttemptEnvironment {
    const definitions = new Map<string, StepDefinition>(
      Object.entries(steps).map(([name, entry]) => [name, toStepDefinition(entry)]),
    );
    // Log lines and progress events of one attempt are written one after another, so they commit
    // (and get their ids) in the order the step reported them; the pool would otherwise race them.
    const writes = new Map<string, Promise<void>>();
    const inOrder = (key: string, write: () => Promise<unknown>) => {
      const next = (writes.get(key) ?? Promise.resolve()).then(write).then(() => undefined, this.deps.onError);
      writes.set(key, next);
      void next.then(() => {
        if (writes.get(key) === next) {
          writes.delete(key);
        }
      });
    };
    const lastProgress = new Map<string, number>();
    return {
      ...this.budgetFor(run),
      runId: run.id,
      workflow: run.workflow,
      goal: run.goal,
      runInput: decode(this.deps.codec, run.input),
      steps: definitions,
      codec: this.deps.codec,
      forEachParallel: run.max_parallel,
      maxOutputBytes: this.deps.options.maxOutputBytes,
      upstreamOutputs: (taskIds) => this.deps.tasks.completedOutputs(run.id, taskIds),
      ...this.expansion(run, steps, decomposer),
      ...(this.deps.telemetry ? { telemetry: attemptTelemetryOf(this.deps.telemetry, run, this.deps.onError) } : {}),
      log: (task: { runId: string; taskId: string; attempt: number }, message: string, data: unknown) => {
        inOrder(`${task.taskId}#${task.attempt}`, () =>
          this.deps.tasks.appendLog(task.runId, task.taskId, task.attempt, message, data),
        );
      },
      progress: (task: { runId: string; taskId: string; attempt: number }, done: number, total: number | undefined) => {
        // An event row and a NOTIFY per call would double the writes of a large forEach: at most one
        // every PROGRESS_INTERVAL_MS per attempt, and always the last one (done === total).
        const key = `${task.taskId}#${task.attempt}`;
        const now = Date.now();
        if (done !== total && now - (lastProgress.get(key) ?? 0) < PROGRESS_INTERVAL_MS) {
          return;
        }
        if (done === total) {
          lastProgress.delete(key);
        } else {
          lastProgress.set(key, now);
        }
        inOrder(key, () =>
          this.deps.events.emit(
            {
              type: "task:progress",
              runId: task.runId,
              taskId: task.taskId,
              workflow: run.workflow,
              payload: { attempt: task.attempt, done, ...(total === undefined ? {} : { total }) },
            },
            this.deps.options.channel,
          ),
        );
      },
    };
  }

  /** ctx.usage and ctx.checkBudget of the run's attempts. */
  private budgetFor(run: RunRow): Pick<AttemptEnvironment, "usage" | "checkBudget"> {
    const { usage, options } = this.deps;
    return {
      usage: async (task, given) => {
        const report = parseUsageReport(given);
        const state = await usage.record(
          {
            runId: run.id,
            taskId: task.taskId,
            attempt: task.attempt,
            source: "step",
            model: report.model,
            llmCalls: report.llmCalls,
            inputTokens: report.inputTokens,
            outputTokens: report.outputTokens,
            costUsd: costOf(options.pricing, report.model, report.inputTokens, report.outputTokens, report.costUsd),
          },
          options.channel,
        );
        if (state?.reached) {
          const error = budgetError(run.id, state);
          // record_usage failed the run: this process's steps of it stop now, not at their next settle.
          this.active.get(run.id)?.executor.interrupt("failed", error.message);
          throw error;
        }
      },
      checkBudget: async () => {
        const state = await usage.budget(run.id);
        if (state?.reached) {
          throw budgetError(run.id, state);
        }
      },
    };
  }

  private expansion(
    run: RunRow,
    steps: Steps,
    decomposer: Decomposer | undefined,
  ): Pick<AttemptEnvironment, "expand" | "revise"> {
    if (!decomposer) {
      return {};
    }
    const traced = this.deps.telemetry
      ? tracedDecomposer(decomposer, decomposerName(decomposer), this.deps.telemetry)
      : decomposer;
    const defaults =
      (run.options.taskDefaults as TaskDefaults | undefined) ?? this.taskDefaults(runOptionsSchema.parse({}));
    const { maxTasks, maxInputBytes } = this.deps.options;
    const ctx: ExpansionContext = {
      goal: run.goal,
      decomposer: traced,
      steps,
      catalogue: catalogueOf(steps),
      codec: this.deps.codec,
      defaults,
      maxTasks,
      maxInputBytes,
      timeoutMs: 60_000,
    };
    const revise = reviserFor(
      run.id,
      traced,
      { steps, defaults, codec: this.deps.codec, maxTasks, maxInputBytes },
      {
        revisions: this.deps.revisions,
        codec: this.deps.codec,
        ...(this.deps.telemetry ? { telemetry: this.deps.telemetry.telemetry } : {}),
        ...(this.deps.options.pricing ? { pricing: this.deps.options.pricing } : {}),
        checkBudget: this.budgetFor(run).checkBudget,
      },
    );
    return { expand: (task, deps) => planExpansion(task, deps, ctx), revise };
  }

  /**
   * Runs the existing run of an idempotency key to its end in this process, with `steps` and the
   * caller's `decomposer` (a run left by a process that died asks its revisions and lazy expansions
   * of this one).
   */
  private async continueExisting(run: RunRow, steps: Steps, decomposer?: Decomposer): Promise<RunResult> {
    if (!isFinalRunStatus(run.status as RunStatus)) {
      this.stepsByWorkflow.set(run.workflow, steps);
      if (decomposer) {
        this.decomposers.set(run.workflow, decomposer);
      }
      await this.execute(run.id, steps);
    }
    return this.result(run.id);
  }

  /** The run's current state as a RunResult. */
  async result(runId: string): Promise<RunResult> {
    const run = await this.deps.runs.getRun(runId);
    if (!run) {
      throw new RunNotFoundError(runId);
    }
    const [tasks, revisions] = await Promise.all([
      this.deps.runs.getTasks(runId),
      run.revision > 0 ? this.deps.revisions.list(runId) : [],
    ]);
    return toRunResult(run, tasks, this.deps.codec, revisions);
  }

  async getRun(runId: string): Promise<RunResult> {
    assertRunId(runId);
    return this.result(runId);
  }

  async listRuns(options: ListRunsOptions = {}): Promise<RunSummary[]> {
    assertOptionsObject(options, "listRuns");
    const resolved = parseOptions(listRunsOptionsSchema, options ?? {}, "listRuns");
    assertStorableOptions(resolved, "listRuns");
    const rows = await this.deps.runs.listRuns(resolved);
    return rows.map((row) => toRunSummary(row));
  }

  async cancelRun(runId: string, reason = "cancelled by the user"): Promise<void> {
    assertRunId(runId);
    checkReason(reason, "cancelRun");
    const before = await this.deps.control.stopRun(runId, "cancelled", reason, this.deps.options.channel);
    if (before === null) {
      throw new RunNotFoundError(runId);
    }
    if (isFinalRunStatus(before as RunStatus)) {
      throw new IllegalTransitionError("run", runId, before, "cancelled", "the run is already final");
    }
    this.active.get(runId)?.executor.interrupt("cancelled", reason);
  }

  async pauseRun(runId: string, reason = "paused by the user"): Promise<void> {
    assertRunId(runId);
    checkReason(reason, "pauseRun");
    const before = await this.deps.control.setPaused(runId, true, reason, this.deps.options.channel);
    if (before === null) {
      throw new RunNotFoundError(runId);
    }
    if (before !== "running") {
      throw new IllegalTransitionError("run", runId, before, "paused", "only a running run can be paused");
    }
  }

  async resumeRun(runId: string): Promise<void> {
    assertRunId(runId);
    const before = await this.deps.control.setPaused(runId, false, null, this.deps.options.channel);
    if (before === null) {
      throw new RunNotFoundError(runId);
    }
    if (before !== "paused") {
      throw new IllegalTransitionError(
        "run",
        runId,
        before,
        "running",
        "only a paused run can be resumed; use retryRun for a final one",
      );
    }
    this.active.get(runId)?.executor.wake();
  }

  /** Re-runs `fromTask` and everything downstream (or every task that did not complete) and waits for the run. */
  async retryRun(
    runId: string,
    options: { fromTask?: string; steps?: Steps; budget?: Spend } = {},
  ): Promise<RunResult> {
    assertRunId(runId);
    assertOptionsObject(options, "retryRun");
    const budget =
      options.budget === undefined
        ? null
        : (parseOptions(runOptionsSchema.pick({ budget: true }), { budget: options.budget }, "retryRun").budget ??
          null);
    if (options.fromTask !== undefined && typeof options.fromTask !== "string") {
      throw new InvalidOptionError("fromTask", "a task id of the run", options.fromTask, "retryRun");
    }
    assertStorableOptions({ fromTask: options.fromTask }, "retryRun");
    const run = await this.deps.runs.getRun(runId);
    if (!run) {
      throw new RunNotFoundError(runId);
    }
    if (!isFinalRunStatus(run.status as RunStatus)) {
      throw new IllegalTransitionError(
        "run",
        runId,
        run.status,
        "running",
        "only a final run can be retried; cancel it first",
      );
    }
    if (options.fromTask !== undefined && !(await this.deps.control.hasTask(runId, options.fromTask))) {
      const into = await this.deps.control.mergedInto(runId, options.fromTask);
      const merged =
        into === null
          ? ""
          : ` (${options.fromTask} was merged into ${into} in this run, which runs its step: retry from ${into})`;
      throw new InvalidOptionError("fromTask", `a task id of run ${runId}${merged}`, options.fromTask, "retryRun");
    }
    const steps = options.steps ?? this.stepsByWorkflow.get(run.workflow);
    if (!steps) {
      throw new InvalidOptionError(
        "steps",
        `the steps of workflow ${JSON.stringify(run.workflow)} (none were bound in this process)`,
        undefined,
        "retryRun",
      );
    }
    const reset = await this.deps.usage.retryWithinBudget(
      runId,
      options.fromTask ?? null,
      budget,
      this.deps.options.channel,
    );
    if (reset === -2) {
      const state = await this.deps.usage.budget(runId);
      throw budgetError(
        runId,
        state ?? { spent: { tokens: 0, costUsd: 0, llmCalls: 0 }, budget, reached: true, runStatus: run.status },
      );
    }
    if (reset === 0) {
      throw new IllegalTransitionError(
        "run",
        runId,
        run.status,
        "running",
        "every task completed; name one with { fromTask } to re-run it",
      );
    }
    await this.execute(runId, steps);
    return this.result(runId);
  }

  /** Waits for every run this process executes (close). */
  async drain(): Promise<void> {
    // A run that waits for a person or for time (approval, a pause, its waits) could keep close()
    // waiting for days: it is detached instead, and goes on without this process. Rechecked while
    // the others finish, as a run may reach such a wait meanwhile.
    for (;;) {
      const active = [...this.active.entries()];
      if (active.length === 0) {
        return;
      }
      for (const [runId, { executor }] of active) {
        const parked = executor.idle ? await this.deps.control.parkedStatus(runId) : null;
        if (parked) {
          executor.detach(new RunDetachedError(runId, parked === "waiting" ? "running" : parked, PARKED_WORDS[parked]));
        }
      }
      await Promise.race([
        Promise.allSettled(active.map(([, a]) => a.done)),
        new Promise((resolve) => setTimeout(resolve, DRAIN_RECHECK_MS)),
      ]);
    }
  }
}
