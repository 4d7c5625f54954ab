import { describe, expect, it } from "vitest";
import {
  EVENT_TYPES,
  isEventType,
  parseEvent,
  payloadProblem,
  safeParseEvent,
  type EventMap,
  type KnownEvent,
} from "../../src/notifications/catalogue.js";
import { InvalidEventError } from "../../src/notifications/errors.js";
import { formatEventLine, parseDuration, summarizePayload } from "../../src/notifications/format.js";

const envelope = {
  id: "42",
  runId: "8f9c1c8e-4a57-4b1e-9d1c-0d7f3f4b2a10",
  taskId: "fetch",
  workflow: "audit",
  createdAt: new Date("2025-01-02T03:04:05.000Z"),
};

describe("event catalogue", () => {
  it("lists every type the executor, the decomposer and the optimizer write", () => {
    expect(EVENT_TYPES).toEqual([
      "decomposition:started",
      "decomposition:completed",
      "decomposition:failed",
      "execution:started",
      "execution:completed",
      "execution:failed",
      "execution:cancelled",
      "execution:timed_out",
      "execution:paused",
      "execution:reconciled",
      "execution:resumed",
      "task:started",
      "task:completed",
      "task:failed",
      "task:retried",
      "task:skipped",
      "task:cancelled",
      "task:progress",
      "plan:revised",
      "plan:task_added",
      "budget:exceeded",
      "task:waiting",
      "signal:received",
      "plan:awaiting_approval",
      "plan:approved",
      "plan:rejected",
      "schedule:fired",
      "optimization:started",
      "optimization:completed",
      "optimization:recommended",
    ]);
  });

  it("types the events of plan approval: plan:awaiting_approval, plan:approved and plan:rejected", () => {
    const approved = parseEvent({
      ...envelope,
      taskId: null,
      type: "plan:approved",
      payload: { edited: true, tasks: 3 },
    });
    expect(approved.payload).toEqual({ edited: true, tasks: 3 });
    expect(payloadProblem("plan:awaiting_approval", { tasks: "3" })).toMatch(/tasks/);
    expect(payloadProblem("plan:rejected", {})).toMatch(/reason/);
    expect(payloadProblem("plan:rejected", { reason: "too risky" })).toBeNull();
  });

  it("types the events of living plans: plan:revised and plan:task_added", () => {
    const revised = {
      revision: 1,
      reason: "v1 crashed",
      taskId: "parse_v1",
      added: ["parse_v2"],
      removed: ["parse_v1"],
      changed: [],
    };
    expect(parseEvent({ ...envelope, type: "plan:revised", payload: revised }).payload).toEqual(revised);
    expect(payloadProblem("plan:revised", { ...revised, added: "parse_v2" })).toMatch(/^added: /);
    const added = { taskId: "parse", step: "csv.parse", dependsOn: ["fetch"] };
    expect(parseEvent({ ...envelope, type: "plan:task_added", payload: added }).payload).toEqual(added);
    expect(payloadProblem("plan:task_added", { step: null, dependsOn: [] })).toMatch(/^taskId: /);
  });

  it("parses the payloads the SQL writes, keeping fields it does not know", () => {
    const failed = parseEvent({
      ...envelope,
      type: "task:failed",
      payload: { status: "timed_out", error: { name: "StepTimeoutError", message: "late" } },
    });
    expect(failed).toEqual({
      ...envelope,
      type: "task:failed",
      payload: { status: "timed_out", error: { name: "StepTimeoutError", message: "late" } },
    });
    const retried = parseEvent({
      ...envelope,
      type: "task:retried",
      payload: { attempt: 1, outcome: "failed", delayMs: 250, error: null },
    });
    expect(retried.payload).toEqual({ attempt: 1, outcome: "failed", delayMs: 250, error: null });
    const ended = parseEvent({
      ...envelope,
      taskId: null,
      type: "execution:completed",
      payload: { durationMs: 12.5, extra: true },
    });
    expect(ended.payload).toEqual({ durationMs: 12.5, extra: true });
  });

  it("passes unknown types through untouched and never throws on them", () => {
    const payload = { version: "1.2.3", nested: { anything: [1, "two"] } };
    const result = safeParseEvent({ ...envelope, type: "custom:deployed", payload });
    expect(result).toEqual({ success: true, event: { ...envelope, type: "custom:deployed", payload } });
    expect(isEventType("custom:deployed")).toBe(false);
    expect(() => parseEvent({ ...envelope, type: "task:exploded", payload: { whatever: 1 } })).not.toThrow();
  });

  it("normalises the envelope: numeric ids become strings, timestamps become dates", () => {
    const event = parseEvent({ id: 7, type: "custom:x", createdAt: "2025-01-02T03:04:05Z" });
    expect(event).toEqual({
      id: "7",
      type: "custom:x",
      runId: null,
      taskId: null,
      workflow: null,
      payload: {},
      createdAt: new Date("2025-01-02T03:04:05Z"),
    });
  });

  it("refuses a catalogued type with a malformed payload, naming the event and the field", () => {
    const raw = { ...envelope, type: "task:completed", payload: { status: "failed" } };
    expect(safeParseEvent(raw).success).toBe(false);
    expect(() => parseEvent(raw)).toThrow(InvalidEventError);
    expect(() => parseEvent(raw)).toThrow(
      /event 42 of type "task:completed" does not fit the event catalogue \(payload.status/,
    );
    expect(payloadProblem("task:progress", { attempt: 1 })).toMatch(/^done:/);
    expect(payloadProblem("task:progress", { attempt: 1, done: 3, total: 10 })).toBeNull();
  });

  it("refuses types that are not noun:verb", () => {
    expect(safeParseEvent({ ...envelope, type: "Deployed", payload: {} }).success).toBe(false);
  });

  it("types events by their type", () => {
    const event: EventMap["task:progress"] = { ...envelope, type: "task:progress", payload: { attempt: 1, done: 2 } };
    const narrowed = (e: KnownEvent) => (e.type === "task:progress" ? e.payload.done : -1);
    expect(narrowed(event)).toBe(2);
  });
});

describe("event lines and durations", () => {
  it("prints time, type, run, task and a payload summary on one line", () => {
    const event = parseEvent({
      ...envelope,
      type: "task:failed",
      payload: { status: "failed", error: { message: "disk full" } },
    });
    expect(formatEventLine(event)).toBe(
      `2025-01-02T03:04:05.000Z task:failed run=${envelope.runId} task=fetch status=failed error="disk full"`,
    );
    expect(formatEventLine(parseEvent({ id: 1, type: "custom:x", createdAt: envelope.createdAt }))).toBe(
      "2025-01-02T03:04:05.000Z custom:x",
    );
  });

  it("prints plan:revised in words, with the ids it added, removed and changed", () => {
    const event = parseEvent({
      ...envelope,
      taskId: "parse_v1",
      type: "plan:revised",
      payload: {
        revision: 2,
        reason: `v1 parser crashed: ${"x".repeat(100)}`,
        taskId: "parse_v1",
        added: ["parse_v2", "clean"],
        removed: ["parse_v1"],
        changed: [],
      },
    });
    expect(formatEventLine(event)).toBe(
      `2025-01-02T03:04:05.000Z plan:revised run=${envelope.runId} task=parse_v1 revision 2: ` +
        `"v1 parser crashed: ${"x".repeat(60)}…" added parse_v2,clean removed parse_v1`,
    );
  });

  it("cuts long payload summaries", () => {
    const summary = summarizePayload({ text: "x".repeat(500) });
    expect(summary).toHaveLength(160);
    expect(summary.endsWith("…")).toBe(true);
  });

  it("parses durations in ms, s, m, h, d and w, and names a bad one", () => {
    expect([
      parseDuration("30d"),
      parseDuration("12h"),
      parseDuration("15m"),
      parseDuration("90s"),
      parseDuration("500ms"),
      parseDuration("1w"),
    ]).toEqual([2_592_000_000, 43_200_000, 900_000, 90_000, 500, 604_800_000]);
    expect(() => parseDuration("30 days")).toThrow(
      /option `--older-than`: expected a duration such as 30d.*received the string "30 days"/,
    );
  });
});
