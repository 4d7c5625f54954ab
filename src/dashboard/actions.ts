/**
 * The dashboard's actions (`POST /api/runs/:runId/<action>`), each one of the orchestrator's
 * run-control methods: cancel, pause, resume, retry (from a task).
 */
import { InvalidOptionError, RunNotFoundError } from "../errors.js";
import { assertRunId } from "../orchestrator/checks.js";
import type { DashboardContext } from "./context.js";
import { DashboardRequestError } from "./errors.js";
import type { ActionResponse } from "./types.js";

export const ACTIONS = ["cancel", "pause", "resume", "retry"] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
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
  if (action === "cancel") {
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
