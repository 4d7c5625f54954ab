/**
 * The dashboard's actions (`POST /api/runs/:runId/<action>`), each one of the orchestrator's
 * run-control methods: cancel, pause, resume, retry (from a task), and the answers a person gives a
 * run (docs/waits-and-flow-control.md): signal (a waiting task), approve (with an edited graph) and reject a plan.
 */
import { InvalidOptionError, RunNotFoundError } from "../errors.js";
import { SIGNAL_NAME_PATTERN } from "../graph/flow-control.js";
import type { Json, TaskGraphInput } from "../graph/task-graph.js";
import { assertRunId } from "../orchestrator/checks.js";
import type { DashboardContext } from "./context.js";
import { DashboardRequestError } from "./errors.js";
import { MAX_BODY_BYTES } from "./http.js";
import type { ActionResponse } from "./types.js";

export const ACTIONS = ["cancel", "pause", "resume", "retry", "signal", "approve", "reject"] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

/** Largest body of `signal` (its payload) and `approve` (an edited graph), in bytes; other actions take MAX_BODY_BYTES. */
export const MAX_DATA_ACTION_BODY_BYTES = 1024 * 1024;

/** The largest body `action` takes. */
export function actionBodyLimit(action: Action): number {
  return action === "signal" || action === "approve" ? MAX_DATA_ACTION_BODY_BYTES : MAX_BODY_BYTES;
}

function optionalString(body: Record<string, unknown>, key: string, action: Action): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== "string" || value.length === 0 || value.length > 500) {
    throw new InvalidOptionError(key, "a string of 1 to 500 characters", value, `the dashboard's ${action} action`);
  }
  return value;
}

function requiredString(body: Record<string, unknown>, key: string, action: Action): string {
  const value = optionalString(body, key, action);
  if (value === undefined) {
    throw new InvalidOptionError(key, "a string of 1 to 500 characters", body[key], `the dashboard's ${action} action`);
  }
  return value;
}

/** The `name` of a signal action: a signal name as wait tasks write it. */
function signalName(body: Record<string, unknown>): string {
  const name = body.name;
  if (typeof name !== "string" || !SIGNAL_NAME_PATTERN.test(name)) {
    throw new InvalidOptionError(
      "name",
      "a signal name (letters, digits and _ . : / -, at most 128), as the wait task names it",
      name,
      "the dashboard's signal action",
    );
  }
  return name;
}

/** The `payload` of a signal action: any JSON value, absent (undefined) when not given. */
function signalPayload(body: Record<string, unknown>): Json | undefined {
  return body.payload === undefined ? undefined : (body.payload as Json);
}

/** The `graph` of an approve action: an edited plan (`{ goal, tasks }`), validated by approvePlan; absent: the recorded one. */
function editedGraph(body: Record<string, unknown>): TaskGraphInput | undefined {
  const graph = body.graph;
  if (graph === undefined || graph === null) {
    return undefined;
  }
  if (typeof graph !== "object" || Array.isArray(graph)) {
    throw new InvalidOptionError(
      "graph",
      'a graph object, e.g. {"goal": "…", "tasks": [{"id": "a"}]}',
      graph,
      "the dashboard's approve action",
    );
  }
  return graph as TaskGraphInput;
}

async function statusOf(ctx: DashboardContext, runId: string): Promise<string> {
  const run = await ctx.runs.getRun(runId);
  if (!run) {
    throw new RunNotFoundError(runId);
  }
  return run.status;
}

/** Runs `action` on `runId`; resolves once it took effect, with the run's status then. */
export async function runAction(
  ctx: DashboardContext,
  runId: string,
  action: Action,
  body: Record<string, unknown>,
): Promise<ActionResponse> {
  assertRunId(runId);
  const { orch } = ctx;
  if (action === "signal") {
    const signal = await orch.signal(runId, signalName(body), signalPayload(body));
    return { runId, action, status: await statusOf(ctx, runId), signal };
  }
  if (action === "approve") {
    // Not the dashboard's `steps` (the built-in catalogue under `htdag dashboard`, for retries): they would
    // refuse the step names of any other workflow. The process's own bound steps check them, when it has any.
    const graph = editedGraph(body);
    await orch.approvePlan(runId, graph ? { graph } : {});
  } else if (action === "reject") {
    await orch.rejectPlan(runId, requiredString(body, "reason", action));
  } else if (action === "cancel") {
    await orch.cancelRun(runId, optionalString(body, "reason", action) ?? "cancelled from the dashboard");
  } else if (action === "pause") {
    await orch.pauseRun(runId, optionalString(body, "reason", action) ?? "paused from the dashboard");
  } else if (action === "resume") {
    await orch.resumeRun(runId);
  } else {
    await startRetry(ctx, runId, optionalString(body, "fromTask", action));
  }
  return { runId, action, status: await statusOf(ctx, runId) };
}

/**
 * `retryRun` resolves when the run is final again, which may be hours away: answer as soon as the
 * run is re-opened (its `execution:resumed` event with `retry: true`), or with the error that
 * stopped the retry from starting. A failure after that point is reported, never dropped.
 */
async function startRetry(ctx: DashboardContext, runId: string, fromTask: string | undefined): Promise<void> {
  const { orch, options } = ctx;
  let reopened!: () => void;
  const started = new Promise<void>((resolve) => (reopened = resolve));
  const subscription = await orch.notifications.listen({ runId, types: ["execution:resumed"] }, (event) => {
    if ((event.payload as { retry?: boolean }).retry === true) {
      reopened();
    }
  });
  try {
    const retry = orch.retryRun(runId, {
      ...(fromTask ? { fromTask } : {}),
      ...(options.steps ? { steps: options.steps } : {}),
    });
    const first = await Promise.race([started.then(() => "reopened" as const), retry.then(() => "finished" as const)]);
    if (first === "reopened") {
      retry.catch((error: unknown) => options.onError(error));
    }
  } catch (error) {
    if (error instanceof InvalidOptionError && error.option === "steps") {
      throw new DashboardRequestError(
        409,
        "STEPS_UNKNOWN",
        `${error.message}; start the dashboard in the process that runs this workflow (orch.dashboard() after composing it), or pass \`steps\` to orch.dashboard()`,
      );
    }
    throw error;
  } finally {
    await subscription.close();
  }
}
