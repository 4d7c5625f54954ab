/** The dashboard's read API: runs, a run, its tasks, attempts, logs and events, workflows with advice. */
import { RUN_STATUSES, type RunStatus } from "../composer/state-machine.js";
import type { TaskGraph } from "../graph/task-graph.js";
import { HtdagError, InvalidOptionError, RunNotFoundError } from "../errors.js";
import { decodeEventCursor } from "../notifications/cursor.js";
import { assertRunId } from "../orchestrator/checks.js";
import type { RunRow } from "../store/runs.js";
import type { DashboardContext } from "./context.js";
import { DashboardRequestError } from "./errors.js";
import type { EventView, RunResponse, RunsResponse, TaskResponse, WorkflowResponse, WorkflowSummary } from "./types.js";
import {
  toAttemptView,
  toEventView,
  toLogView,
  toPlanView,
  toRevisionView,
  toRunDetail,
  toRunSummary,
  toTaskView,
  toUsageBreakdownView,
} from "./views.js";

/** A whole-number query parameter between 1 and `max`, or `fallback` when absent. */
export function limitParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidOptionError(name, `a whole number from 1 to ${max}`, raw, "the dashboard API");
  }
  return value;
}

/** Event ids are Postgres bigints. */
const MAX_EVENT_ID = 2n ** 63n - 1n;

/** Where a read of events starts: after an event's cursor (exact), after a plain id, or nowhere given. */
export type EventStart = { after: string } | { afterEventId: string } | Record<string, never>;

/**
 * An event cursor (what the stream sends as `id:` and events carry as `cursor`) or a plain event
 * id (digits; it can skip an event that committed late), as `listen` and `getRecentEvents` take it.
 */
export function eventStartParam(value: string | null | undefined, name: string): EventStart {
  if (value === null || value === undefined || value === "") {
    return {};
  }
  if (/^\d{1,19}$/.test(value) && BigInt(value) <= MAX_EVENT_ID) {
    return { afterEventId: value };
  }
  if (decodeEventCursor(value) === null) {
    throw new InvalidOptionError(
      name,
      "an event cursor (the `id:` of a stream message, the `cursor` of an event) or an event id (digits)",
      value,
      "the dashboard API",
    );
  }
  return { after: value };
}

async function runRow(ctx: DashboardContext, runId: string): Promise<RunRow> {
  assertRunId(runId);
  const run = await ctx.runs.getRun(runId);
  if (!run) {
    throw new RunNotFoundError(runId);
  }
  return run;
}

/** `GET /api/runs?status=&workflow=&limit=`: newest first, with every workflow name for the filter. */
export async function listRuns(ctx: DashboardContext, query: URLSearchParams): Promise<RunsResponse> {
  const status = query.get("status") || undefined;
  if (status !== undefined && !RUN_STATUSES.includes(status as RunStatus)) {
    throw new InvalidOptionError("status", `one of ${RUN_STATUSES.join(", ")}`, status, "the dashboard API");
  }
  const workflow = query.get("workflow") || undefined;
  const limit = limitParam(query, "limit", 100, 1000);
  const [runs, workflows] = await Promise.all([
    ctx.runs.listRuns({ limit, ...(status ? { status } : {}), ...(workflow ? { workflow } : {}) }),
    ctx.workflows.workflows(),
  ]);
  const now = Date.now();
  return { runs: runs.map((run) => toRunSummary(run, now)), workflows: workflows.map((w) => w.name) };
}

/**
 * `GET /api/runs/:runId`: the run with its spend and budget, its tasks (superseded ones included)
 * with theirs, the revisions of its plan, and its usage by source and model.
 */
export async function getRun(ctx: DashboardContext, runId: string): Promise<RunResponse> {
  const run = await runRow(ctx, runId);
  const awaitingApproval = run.status === "awaiting_approval";
  const [tasks, revisions, usage, plan] = await Promise.all([
    ctx.tasks.tasks(runId),
    ctx.revisions.list(runId),
    ctx.usage.bySource(runId),
    awaitingApproval ? ctx.tasks.plan(runId) : Promise.resolve(null),
  ]);
  return {
    run: toRunDetail(run),
    tasks: tasks.map(toTaskView),
    revisions: revisions.map(toRevisionView),
    usageBySource: usage.map(toUsageBreakdownView),
    plan: plan ? toPlanView(run.goal, plan) : null,
  };
}

/** `GET /api/runs/:runId/tasks/:taskId`: a task with its attempts, latest logs and progress. */
export async function getTask(
  ctx: DashboardContext,
  runId: string,
  taskId: string,
  query: URLSearchParams,
): Promise<TaskResponse> {
  await runRow(ctx, runId);
  const task = await ctx.tasks.task(runId, taskId);
  if (!task) {
    throw new DashboardRequestError(
      404,
      "TASK_NOT_FOUND",
      `run ${runId} has no task ${JSON.stringify(taskId)}; GET /api/runs/${runId} lists its tasks`,
    );
  }
  const [attempts, logs, progress] = await Promise.all([
    ctx.tasks.attempts(runId, taskId),
    ctx.tasks.logs(runId, taskId, limitParam(query, "logs", 200, 5000)),
    ctx.tasks.progress(runId, taskId),
  ]);
  return {
    task: toTaskView(task),
    attempts: attempts.map(toAttemptView),
    logs: logs.map(toLogView),
    progress,
  };
}

/**
 * `GET /api/events?runId=&workflow=&types=a,b&after=&limit=` (and `/api/runs/:runId/events`): stored
 * events, oldest first: the latest ones, or with `after=<cursor>` the first ones after that cursor.
 */
export async function listEvents(
  ctx: DashboardContext,
  query: URLSearchParams,
  runId?: string,
): Promise<{ events: EventView[] }> {
  if (runId !== undefined) {
    await runRow(ctx, runId);
  }
  const types = query
    .get("types")
    ?.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const run = runId ?? (query.get("runId") || undefined);
  const workflow = query.get("workflow") || undefined;
  const start = eventStartParam(query.get("after"), "after");
  const events = await ctx.orch.notifications.getRecentEvents({
    limit: limitParam(query, "limit", 200, 10_000),
    channel: ctx.orch.options.channel,
    ...(run ? { runId: run } : {}),
    ...(workflow ? { workflow } : {}),
    ...(types?.length ? { types } : {}),
    ...start,
  });
  return { events: events.map(toEventView) };
}

/** `GET /api/workflows` */
export async function listWorkflows(ctx: DashboardContext): Promise<{ workflows: WorkflowSummary[] }> {
  const rows = await ctx.workflows.workflows();
  return {
    workflows: rows.map((w) => ({
      name: w.name,
      runs: w.runs,
      lastRunAt: w.lastRunAt ? new Date(w.lastRunAt).toISOString() : null,
    })),
  };
}

/** `GET /api/workflows/:name`: run durations, per-task metrics, and the optimizer's advice for the latest graph. */
export async function getWorkflow(ctx: DashboardContext, name: string): Promise<WorkflowResponse> {
  const [statusCounts, runDurations, tasks, stored] = await Promise.all([
    ctx.workflows.statusCounts(name),
    ctx.workflows.runDurations(name),
    ctx.metrics.taskMetrics(name),
    ctx.workflows.latestGraph(name),
  ]);
  if (Object.keys(statusCounts).length === 0) {
    throw new DashboardRequestError(
      404,
      "WORKFLOW_NOT_FOUND",
      `no runs of workflow ${JSON.stringify(name)}; GET /api/workflows lists the workflows`,
    );
  }
  let recommendations: WorkflowResponse["recommendations"] = null;
  let recommendationsError: string | null = null;
  if (stored) {
    const graph = {
      id: stored.id,
      goal: stored.goal,
      decomposer: stored.decomposer,
      source: stored.source,
      decomposedAt: new Date(stored.decomposedAt).toISOString(),
      tasks: stored.tasks,
    } as TaskGraph;
    try {
      recommendations = await ctx.orch.optimizer.getRecommendations(graph, { workflow: name, level: "advanced" });
    } catch (error) {
      // A stored graph the optimizer refuses (written by an older htdag) still leaves the page's
      // statistics useful: the reason is shown on the page, and reported.
      if (!(error instanceof HtdagError)) {
        throw error;
      }
      ctx.options.onError(error);
      recommendationsError = error.message;
    }
  }
  return { name, statusCounts, runDurations, tasks, recommendations, recommendationsError };
}
