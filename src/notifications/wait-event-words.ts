/**
 * The events of waits, plan approval and schedules (docs/waits-and-flow-control.md) in words, for
 * `htdag events`: `task:waiting`, `signal:received`, `plan:awaiting_approval`, `plan:approved`,
 * `plan:rejected`, `schedule:fired`. Pure: a payload in, a phrase out.
 */

/** The event types this file puts in words. */
export const WAIT_EVENT_TYPES = [
  "task:waiting",
  "signal:received",
  "plan:awaiting_approval",
  "plan:approved",
  "plan:rejected",
  "schedule:fired",
] as const;

/** Longest reason on a line. */
const REASON_CHARS = 120;

const text = (value: unknown): string => (typeof value === "string" ? value : String(value));
const quoted = (value: unknown): string => {
  const reason = text(value);
  return JSON.stringify(reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 1)}…` : reason);
};
const tasks = (value: unknown): string => (value === 1 ? "1 task" : `${text(value)} tasks`);

/**
 * The payload of one of {@link WAIT_EVENT_TYPES} (of run `runId`) in words, e.g. `waits for signal "approval" until
 * 2026-12-24T18:00:00.000Z (attempt 1)`; undefined for any other type.
 */
export function describeWaitEvent(
  type: string,
  payload: Record<string, unknown>,
  runId: string | null = null,
): string | undefined {
  switch (type) {
    case "task:waiting": {
      const what = typeof payload.signal === "string" ? `waits for signal ${JSON.stringify(payload.signal)}` : "waits";
      const until = typeof payload.until === "string" ? ` until ${payload.until}` : " (no time limit)";
      return `${what}${until} (attempt ${text(payload.attempt)})`;
    }
    case "signal:received":
      return payload.delivered === true
        ? `signal ${JSON.stringify(payload.name)} delivered to task ${text(payload.taskId)}`
        : `signal ${JSON.stringify(payload.name)} kept until a wait for it starts`;
    case "plan:awaiting_approval":
      return (
        `the plan (${tasks(payload.tasks)}) awaits approval: ` +
        `htdag approve ${runId ?? "<runId>"} [--graph file] | --reject <reason>`
      );
    case "plan:approved":
      return `the plan was approved${payload.edited === true ? " with edits" : ""} (${tasks(payload.tasks)})`;
    case "plan:rejected":
      return `the plan was rejected: ${quoted(payload.reason)}`;
    case "schedule:fired":
      return payload.skipped === true
        ? `schedule ${text(payload.schedule)} skipped tick ${text(payload.tick)} (its previous run is not final)`
        : `schedule ${text(payload.schedule)} fired tick ${text(payload.tick)}: run ${text(payload.runId)}`;
    default:
      return undefined;
  }
}
