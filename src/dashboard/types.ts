/**
 * The dashboard's wire format: the JSON the API returns and the SSE stream sends. The web app
 * imports these types too (type-only), so server and page cannot drift apart. Times are ISO strings.
 */
import type { DurationSummary } from "../store/duration-summary.js";
import type { OptimizationChange, Recommendations } from "../optimizer/types.js";
import type { TaskMetrics } from "../store/metrics.js";

/** What LLM calls cost (docs/usage-and-budgets.md): calls, tokens in and out, dollars. */
export interface UsageView {
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

/** A run's budget (`budget` of its start options): any of tokens (input plus output), dollars, LLM calls. */
export interface BudgetView {
  tokens?: number;
  costUsd?: number;
  llmCalls?: number;
}

/** The usage records of a run summed by where the calls came from and which model answered them. */
export interface UsageBreakdownView extends UsageView {
  source: "decomposition" | "revision" | "step";
  model: string;
  /** Records whose cost was unknown (no reported cost, no price for the model): `costUsd` leaves them out. */
  unpricedRecords: number;
}

/** A run in the runs list. */
export interface RunSummary {
  id: string;
  workflow: string;
  goal: string;
  status: string;
  totalTasks: number;
  /** Tasks that reached a final status. */
  finishedTasks: number;
  failedTasks: number;
  /** How many times the plan was revised; 0 for a plan that never changed. */
  revision: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Start to finish, or to now while the run is not final; null before it starts. */
  durationMs: number | null;
  /** What the run spent so far (decompositions, revisions and steps); zeros when it called no LLM. */
  usage: UsageView;
  /** The run's budget; null when it has none. */
  budget: BudgetView | null;
  /** The run failed because it reached its budget (BUDGET_EXCEEDED), not because a task failed. */
  budgetExceeded: boolean;
}

/** `GET /api/runs` */
export interface RunsResponse {
  runs: RunSummary[];
  /** Every workflow name, for the filter. */
  workflows: string[];
}

/** A run with what its page shows in the header. */
export interface RunDetail extends RunSummary {
  pauseReason: string | null;
  error: { message?: string; taskId?: string; code?: string } | null;
  maxParallel: number;
}

/** A task of a run: a node of the graph. */
export interface TaskView {
  id: string;
  parentId: string | null;
  kind: "atomic" | "composite";
  step: string | null;
  description: string;
  status: string;
  /** The task's own dependencies (its spec's `dependsOn`). */
  dependsOn: string[];
  /** Tasks merged into this one by the optimizer, run first (in this order) in its attempts; usually empty. */
  merged: string[];
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  queue: string;
  priority: number;
  error: { message?: string; name?: string } | null;
  startedAt: string | null;
  finishedAt: string | null;
  /** Time spent in attempts, all added up. */
  durationMs: number | null;
  /** What its attempts' LLM calls cost, all added up; null when it spent nothing. */
  usage: UsageView | null;
  /** A wait task's `wait` as its spec writes it (docs/waits-and-flow-control.md); null for a task with a step. */
  wait: WaitView | null;
  /** What the task waits for now, while its status is `waiting`; null otherwise. */
  waiting: WaitingView | null;
}

/** A wait task's `wait`: a signal (with an optional timeout), a duration, or a moment. */
export interface WaitView {
  signal?: string;
  timeoutMs?: number;
  forMs?: number;
  until?: string;
}

/** What a waiting task waits for, and since when (ISO times); `until` null: no limit. */
export interface WaitingView {
  since: string;
  signal?: string;
  until: string | null;
}

/**
 * The plan of a run awaiting approval, as a graph to approve or edit: its goal and its tasks as
 * specs (each with its input), the shape `POST /api/runs/:runId/approve` takes back as `graph`.
 */
export interface PlanView {
  goal: string;
  tasks: Record<string, unknown>[];
  /**
   * Inputs are stored encrypted (the orchestrator has a codec): the page cannot show them in clear,
   * so it offers approve and reject, not edit (edit the plan from code: `orch.approvePlan(runId, { graph })`).
   */
  encryptedInputs: boolean;
}

/** One revision of a run's plan (docs/living-plans.md): why, which task asked, what it changed, what it cost. */
export interface RevisionView {
  revision: number;
  reason: string;
  /** The task whose failure asked for the revision. */
  taskId: string | null;
  added: string[];
  /** Tasks the revision dropped: their status is now `superseded`. */
  removed: string[];
  changed: string[];
  at: string;
  /** What the decomposition cost, when it called an LLM; null otherwise. */
  cost: { llmCalls: number | null; inputTokens: number | null; outputTokens: number | null } | null;
}

/** `GET /api/runs/:runId` */
export interface RunResponse {
  run: RunDetail;
  /** Tasks of every status, superseded ones (dropped by a revision) included. */
  tasks: TaskView[];
  /** The plan's revisions, oldest first; empty for a plan that never changed. */
  revisions: RevisionView[];
  /** The run's usage records by source and model, decompositions first; empty when it called no LLM. */
  usageBySource: UsageBreakdownView[];
  /** The plan awaiting approval, while the run's status is `awaiting_approval`; null otherwise. */
  plan: PlanView | null;
}

/** One attempt of a task. */
export interface AttemptView {
  attempt: number;
  status: string;
  workerId: string | null;
  startedAt: string;
  finishedAt: string | null;
  queueWaitMs: number | null;
  durationMs: number | null;
  errorClass: string | null;
  error: { message?: string; name?: string } | null;
  /** What this attempt's LLM calls cost; null when it spent nothing. */
  usage: UsageView | null;
}

/** One line a step wrote with `ctx.log`. */
export interface LogView {
  id: string;
  attempt: number;
  message: string;
  data: unknown;
  createdAt: string;
}

/** The latest `task:progress` of a task. */
export interface ProgressView {
  attempt: number;
  done: number;
  total?: number;
}

/** `GET /api/runs/:runId/tasks/:taskId` */
export interface TaskResponse {
  task: TaskView;
  attempts: AttemptView[];
  logs: LogView[];
  progress: ProgressView | null;
}

/** An event as the API and the stream send it. */
export interface EventView {
  id: string;
  type: string;
  runId: string | null;
  taskId: string | null;
  workflow: string | null;
  payload: Record<string, unknown>;
  createdAt: string;
  /** Where a reader stands after this event: `?after=` of the events API, `Last-Event-ID` of the stream. */
  cursor?: string;
}

/** A workflow in the workflows list. */
export interface WorkflowSummary {
  name: string;
  runs: number;
  lastRunAt: string | null;
}

/** Percentiles of a set of durations, in ms. */
export type DurationPercentiles = DurationSummary;

/** `GET /api/workflows/:name` */
export interface WorkflowResponse {
  name: string;
  /** Runs by status. */
  statusCounts: Record<string, number>;
  /** Durations of completed runs. */
  runDurations: DurationPercentiles;
  /** Per task id: samples, failures, duration percentiles of successful attempts. */
  tasks: TaskMetrics[];
  /** The optimizer's advice for the graph of the latest run; null when no run recorded a graph. */
  recommendations: Recommendations | null;
  /** Why there are no recommendations, when reading them failed. */
  recommendationsError: string | null;
}

/** `POST /api/runs/:runId/(cancel|pause|resume|retry|signal|approve|reject)` */
export interface ActionResponse {
  runId: string;
  action: "cancel" | "pause" | "resume" | "retry" | "signal" | "approve" | "reject";
  /** The run's status after the action took effect. */
  status: string;
  /** What `signal` did: delivered to a waiting task (`taskId`), or kept until a wait for it starts. */
  signal?: { delivered: boolean; taskId: string | null };
}

/** Every error response; an invalid graph (`GRAPH_INVALID`) lists every problem in `issues`. */
export interface ErrorResponse {
  error: { code: string; message: string; issues?: { code: string; path: string; message: string }[] };
}

export type { OptimizationChange, Recommendations, TaskMetrics };
