/** Pure helpers of the `htdag events` command: one line per event, and durations such as `30d`. */
import { InvalidOptionError } from "../errors.js";
import type { HtdagEvent } from "./catalogue.js";
import { describeWaitEvent } from "./wait-event-words.js";

/** Longest payload summary on a line, in characters. */
const SUMMARY_CHARS = 160;
/** Longest revision reason on a line: the ids that follow it always show. */
const REASON_CHARS = 80;

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/**
 * Parses a duration such as `30d`, `12h`, `15m`, `90s`, `500ms` or `2w` into milliseconds.
 * @example parseDuration("12h") // 43200000
 */
export function parseDuration(text: string, option = "--older-than"): number {
  const match = DURATION.exec(text.trim());
  const amount = match ? Number(match[1]) : Number.NaN;
  const unit = match?.[2] as keyof typeof UNIT_MS | undefined;
  if (!unit || !Number.isFinite(amount)) {
    throw new InvalidOptionError(option, "a duration such as 30d, 12h, 15m, 90s or 500ms", text);
  }
  return Math.round(amount * UNIT_MS[unit]);
}

/** `<time> <type> run=<id> task=<id> <payload summary>`; run and task only when the event has them. */
export function formatEventLine(event: HtdagEvent): string {
  const parts = [event.createdAt.toISOString(), event.type];
  if (event.runId) {
    parts.push(`run=${event.runId}`);
  }
  if (event.taskId) {
    parts.push(`task=${event.taskId}`);
  }
  const summary =
    event.type === "plan:revised"
      ? describeRevision(event.payload)
      : (describeWaitEvent(event.type, event.payload, event.runId) ?? summarizePayload(event.payload));
  if (summary) {
    parts.push(summary);
  }
  return parts.join(" ");
}

/**
 * A `plan:revised` payload in words: `revision 1: "v1 crashed" added parse_v2 removed parse_v1`
 * (a list only when it has ids).
 */
export function describeRevision(payload: Record<string, unknown>): string {
  const ids = (value: unknown) => (Array.isArray(value) ? value.filter((id) => typeof id === "string") : []);
  const reason = String(payload.reason ?? "revision asked");
  const cut = reason.length > REASON_CHARS ? `${reason.slice(0, REASON_CHARS - 1)}…` : reason;
  const parts = [`revision ${formatValue(payload.revision)}:`, JSON.stringify(cut)];
  for (const key of ["added", "removed", "changed"] as const) {
    const list = ids(payload[key]);
    if (list.length > 0) {
      parts.push(`${key} ${list.join(",")}`);
    }
  }
  return parts.join(" ");
}

/** The event as one JSON object, for `--json`. */
export function formatEventJson(event: HtdagEvent): string {
  return JSON.stringify({ ...event, createdAt: event.createdAt.toISOString() });
}

/** `key=value` pairs of a payload, strings bare when they have no spaces, cut at 160 characters. */
export function summarizePayload(payload: Record<string, unknown>): string {
  const text = Object.entries(payload)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(" ");
  return text.length > SUMMARY_CHARS ? `${text.slice(0, SUMMARY_CHARS - 1)}…` : text;
}

function formatValue(value: unknown): string {
  if (typeof value === "string") {
    return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  }
  if (typeof value === "object" && value !== null && typeof (value as { message?: unknown }).message === "string") {
    return JSON.stringify((value as { message: string }).message);
  }
  return JSON.stringify(value) ?? String(value);
}
