/** What an event says about the state on screen, applied before the next read confirms it. Pure. */
import type { EventView, RunResponse } from "../../src/dashboard/types.js";

const RUN_STATUS_OF: Record<string, string> = {
  "execution:started": "running",
  "execution:resumed": "running",
  "execution:paused": "paused",
  "execution:completed": "completed",
  "execution:failed": "failed",
  "execution:cancelled": "cancelled",
  "execution:timed_out": "timed_out",
  // Plan approval (docs/waits-and-flow-control.md): the run waits for a person, then runs or ends cancelled.
  "plan:awaiting_approval": "awaiting_approval",
  "plan:approved": "running",
  "plan:rejected": "cancelled",
};

/** The status a task event moves its task to, if it says one. */
function taskStatusOf(event: EventView): string | undefined {
  switch (event.type) {
    case "task:started":
      return "running";
    case "task:completed":
      return "completed";
    case "task:retried":
      return "ready";
    case "task:skipped":
      return "skipped";
    case "task:cancelled":
      return "cancelled";
    case "task:failed":
      return typeof event.payload.status === "string" ? event.payload.status : "failed";
    default:
      return undefined;
  }
}

/** The ids a `plan:revised` payload lists under `key`. */
function idsOf(event: EventView, key: "added" | "removed" | "changed"): string[] {
  const value = event.payload[key];
  return Array.isArray(value) ? value.filter((id): id is string => typeof id === "string") : [];
}

/**
 * A revision of the plan, before the re-read brings its tasks and its entry in `revisions`: the tasks
 * it removed are superseded and the ones it changed pending again (added ones arrive with the re-read).
 */
function applyRevision(state: RunResponse, event: EventView): RunResponse {
  const removed = new Set(idsOf(event, "removed"));
  const changed = new Set(idsOf(event, "changed"));
  return {
    ...state,
    run: { ...state.run, revision: Math.max(state.run.revision, Number(event.payload.revision) || 0) },
    tasks: state.tasks.map((t) =>
      removed.has(t.id)
        ? { ...t, status: "superseded" }
        : changed.has(t.id)
          ? { ...t, status: "pending", attempts: 0, error: null }
          : t,
    ),
  };
}

/** A wait task started waiting: shown waiting at once, with what for (the re-read confirms it). */
function applyWaiting(state: RunResponse, event: EventView): RunResponse {
  const { signal, until } = event.payload;
  const waiting = {
    since: event.createdAt,
    until: typeof until === "string" ? until : null,
    ...(typeof signal === "string" ? { signal } : {}),
  };
  return {
    ...state,
    tasks: state.tasks.map((t) => (t.id === event.taskId ? { ...t, status: "waiting", waiting } : t)),
  };
}

/** A signal delivered to a waiting task completes it (its payload is the output). */
function applySignal(state: RunResponse, event: EventView): RunResponse {
  const taskId = event.payload.taskId;
  if (event.payload.delivered !== true || typeof taskId !== "string") {
    return state;
  }
  return {
    ...state,
    tasks: state.tasks.map((t) => (t.id === taskId ? { ...t, status: "completed", waiting: null } : t)),
  };
}

/** The run reached its budget: shown at once; its spend and error arrive with the re-read. */
function applyBudgetExceeded(state: RunResponse): RunResponse {
  return { ...state, run: { ...state.run, budgetExceeded: true } };
}

export function applyEvent(state: RunResponse | null, event: EventView): RunResponse | null {
  if (!state || event.runId !== state.run.id) {
    return state;
  }
  if (event.type === "plan:revised") {
    return applyRevision(state, event);
  }
  if (event.type === "budget:exceeded") {
    return applyBudgetExceeded(state);
  }
  if (event.type === "task:waiting" && event.taskId) {
    return applyWaiting(state, event);
  }
  if (event.type === "signal:received") {
    return applySignal(state, event);
  }
  const runStatus = RUN_STATUS_OF[event.type];
  const taskStatus = event.taskId ? taskStatusOf(event) : undefined;
  if (!runStatus && !taskStatus) {
    return state;
  }
  const attempt = typeof event.payload.attempt === "number" ? event.payload.attempt : undefined;
  return {
    ...state,
    run: runStatus ? { ...state.run, status: runStatus } : state.run,
    // An answered plan is no longer offered for approval; the re-read brings its tasks as they run.
    plan: runStatus && runStatus !== "awaiting_approval" ? null : state.plan,
    tasks: taskStatus
      ? state.tasks.map((t) =>
          t.id === event.taskId
            ? {
                ...t,
                status: taskStatus,
                waiting: null,
                ...(event.type === "task:started" && attempt ? { attempts: Math.max(t.attempts, attempt) } : {}),
              }
            : t,
        )
      : state.tasks,
  };
}

/** Adds `event` to `events` (ids kept unique and in order), keeping the latest `max`. */
export function appendEvent(events: readonly EventView[], event: EventView, max = 2000): EventView[] {
  if (events.some((e) => e.id === event.id)) {
    return events as EventView[];
  }
  const next = [...events, event].sort((a, b) =>
    BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0,
  );
  return next.length > max ? next.slice(next.length - max) : next;
}
