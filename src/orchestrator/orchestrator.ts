/** The orchestrator's public shape: the one object users hold, and the options createOrchestrator takes. */
import type { Steps } from "../composer/steps.js";
import type { Worker, WorkerOptions } from "../composer/worker.js";
import type { Decomposer } from "../graph/decomposer.js";
import type { EmitterEvent, EmitterEventName } from "../notifications/emitter.js";
import type { Notifications } from "../notifications/service.js";
import type { Optimizer } from "../optimizer/service.js";
import type { PayloadCodec } from "../store/codec.js";
import type { Db } from "../store/db.js";
import type { Dashboard, DashboardOptions } from "./dashboard-port.js";
import type { DecomposeOptions } from "./decompose.js";
import type { MultipleOptions, MultipleResult, WorkflowGoal } from "./multiple.js";
import type { ResolvedOrchestratorOptions } from "./options.js";
import type { RunOptions } from "./run-options.js";
import type { Spend } from "../errors.js";
import type { RunResult } from "./run-result.js";
import type { RunSummary } from "./run-summary.js";
import type { ListRunsOptions, SubmitOptions } from "./runs.js";
import type { Json, TaskGraph, TaskGraphInput } from "../graph/task-graph.js";
import type { ScheduleInfo, ScheduleOptions } from "./schedule-options.js";

/** Options of composeFromGoal: a run's options plus how to decompose. */
export interface ComposeFromGoalOptions extends RunOptions {
  /** Options passed to decomposeGoal. @default {} */
  decompose?: Omit<DecomposeOptions, "steps">;
  /**
   * Start tasks while the decomposer is still writing the plan (docs/living-plans.md): each task
   * is stored as it arrives and starts once it is valid and its dependencies completed. Needs a
   * decomposer that streams (`llmDecomposer`). @default false
   */
  streamPlan?: boolean;
}

/** The orchestrator: the one object users hold. */
export interface Orchestrator {
  /**
   * The store's database: `kind` (`postgres` or `pglite`), `target` (its address, password redacted),
   * and `query`/`transaction` to read htdag's tables (or your own) in the same database. Change
   * htdag's tables only through the orchestrator: its state transitions are guarded there.
   */
  readonly db: Db;
  /** The options after validation and defaults. */
  readonly options: ResolvedOrchestratorOptions;
  /** Turns a goal into a validated, recorded task graph. */
  decomposeGoal(goal: string, decomposer: Decomposer, options?: DecomposeOptions): Promise<TaskGraph>;
  /** Binds a graph to steps and runs it to a final status. */
  composeFromTaskGraph(
    graph: TaskGraph,
    steps: Steps,
    options?: RunOptions & { decomposer?: Decomposer },
  ): Promise<RunResult>;
  /** Decomposes a goal with the steps as catalogue, then runs the graph. */
  composeFromGoal(
    goal: string,
    decomposer: Decomposer,
    steps: Steps,
    options?: ComposeFromGoalOptions,
  ): Promise<RunResult>;
  /** Runs several goals as workflows; one may depend on others and sees their outputs. */
  composeMultipleWorkflows(
    goals: (string | WorkflowGoal)[],
    decomposer: Decomposer,
    stepsByWorkflow: Record<string, Steps>,
    options?: MultipleOptions,
  ): Promise<MultipleResult>;
  /** Stops a run that is not final: running steps are aborted, the rest is cancelled (`IllegalTransitionError` if final). */
  cancelRun(runId: string, reason?: string): Promise<void>;
  /** Stops claiming the run's tasks; running steps finish. `resumeRun` continues it. */
  pauseRun(runId: string, reason?: string): Promise<void>;
  /** Continues a paused run. */
  resumeRun(runId: string): Promise<void>;
  /**
   * Runs a final run again: its failed and cancelled tasks, or `fromTask` and everything downstream of
   * it. Completed outputs are kept. `steps` when this process has not bound the run's workflow.
   * `budget` replaces the run's budget (a run that failed on its budget goes on only with a higher
   * one; otherwise `BudgetExceededError`).
   */
  retryRun(runId: string, options?: { fromTask?: string; steps?: Steps; budget?: Spend }): Promise<RunResult>;
  /** The run's current result (outputs of completed tasks, task summaries), final or not. */
  getRun(runId: string): Promise<RunResult>;
  /** The latest runs first, filtered by status and workflow. */
  listRuns(options?: ListRunsOptions): Promise<RunSummary[]>;
  /** Records a run for workers and returns its id at once (the same id again for a repeated idempotencyKey). */
  submit(graph: TaskGraph, options: SubmitOptions): Promise<{ runId: string }>;
  /** Starts a worker in this process for the given workflows; `worker.stop()` stops it gracefully. */
  startWorker(options: WorkerOptions): Promise<Worker>;
  /**
   * Sends a signal to a run (docs/waits-and-flow-control.md): the wait task waiting for `name` completes with
   * `payload` as its output; with none waiting yet, the signal is kept and delivered when one does.
   * `SignalError` (SIGNAL_NOT_AWAITED) when the run is final or no wait of it takes `name`.
   */
  signal(runId: string, name: string, payload?: Json): Promise<SignalResult>;
  /**
   * Starts a run that awaits approval of its plan (`approvePlan: true`); `graph` replaces the plan,
   * validated and bound like any graph (`steps` when this process has not bound the workflow).
   * `IllegalTransitionError` unless the run is `awaiting_approval`.
   */
  approvePlan(runId: string, options?: { graph?: TaskGraphInput; steps?: Steps }): Promise<void>;
  /** Cancels a run that awaits approval of its plan, with `reason`. */
  rejectPlan(runId: string, reason: string): Promise<void>;
  /** Stores (or replaces) the schedule `name`; every running worker fires it, once per tick across the cluster. */
  schedule(name: string, options: ScheduleOptions): Promise<ScheduleInfo>;
  /** Removes the schedule `name`; false when there was none. Runs it started go on. */
  unschedule(name: string): Promise<boolean>;
  /** The stored schedules, by name. */
  listSchedules(): Promise<ScheduleInfo[]>;
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
  /**
   * Waits for runs executing in this process, then closes the connections the orchestrator opened.
   * A run that waits for a person or for time (awaiting approval, paused, or only waits left) is not
   * waited for: it goes on without this process, and the call that started it rejects with
   * `RunDetachedError`.
   */
  close(): Promise<void>;
}

/** What `orch.signal` did with a signal. */
export interface SignalResult {
  /** True when a waiting task took it at once; false when it is kept for a wait that has not started. */
  delivered: boolean;
  /** The wait task that took it, or null when it is kept. */
  taskId: string | null;
}

/** What createOrchestrator takes beyond the plain options. */
export interface OrchestratorExtras {
  /** Encrypts task inputs and outputs at rest, e.g. `aesGcmCodec(key)`. @default none */
  codec?: PayloadCodec;
  /** Receives errors that must not stop a run (a failed log write, a failed heartbeat). @default console.error */
  onError?: (error: unknown) => void;
}
