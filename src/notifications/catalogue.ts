/**
 * The event catalogue: every event type htdag writes, with the shape of its payload, as a zod
 * discriminated union on `type`. Types outside the catalogue (custom events sent with
 * `sendWithNotify`, or types a newer htdag adds) pass through untouched.
 */
import { z } from "zod";
import { InvalidEventError } from "./errors.js";
import { issueProblem } from "../option-messages.js";

/** The shape of an event type: `noun:verb`, as the `events_type_check` constraint has it. */
export const EVENT_TYPE_PATTERN = /^[a-z][a-z0-9_-]*:[a-z][a-z0-9_:-]*$/;

/** An error as steps and runs record it. */
const errorInfo = z.looseObject({ message: z.string() });
const decomposition = { goal: z.string(), decomposer: z.string() };
const runEnd = { error: errorInfo.optional(), durationMs: z.number().optional() };
const level = z.enum(["none", "basic", "advanced", "aggressive"]);

/** The payload of each catalogued event type. Objects are loose: a newer writer may add fields. */
export const EVENT_PAYLOADS = {
  "decomposition:started": z.looseObject(decomposition),
  "decomposition:completed": z.looseObject({
    ...decomposition,
    graphId: z.string(),
    source: z.string(),
    tasks: z.number().int(),
    latencyMs: z.number(),
  }),
  "decomposition:failed": z.looseObject({ ...decomposition, error: z.string() }),
  "execution:started": z.looseObject({ goal: z.string(), tasks: z.number().int() }),
  "execution:completed": z.looseObject(runEnd),
  "execution:failed": z.looseObject(runEnd),
  "execution:cancelled": z.looseObject(runEnd),
  "execution:timed_out": z.looseObject(runEnd),
  "execution:paused": z.looseObject({ reason: z.string().optional() }),
  "execution:reconciled": z.looseObject({
    repair: z.enum(["started", "finished"]),
    reason: z.string(),
    status: z.string().optional(),
  }),
  "execution:resumed": z.looseObject({
    reason: z.string().optional(),
    retry: z.boolean().optional(),
    fromTask: z.string().optional(),
    tasksReset: z.number().int().optional(),
  }),
  "task:started": z.looseObject({ attempt: z.number().int(), step: z.string().nullable() }),
  "task:completed": z.looseObject({ status: z.literal("completed") }),
  "task:failed": z.looseObject({ status: z.enum(["failed", "timed_out"]), error: errorInfo.optional() }),
  "task:retried": z.looseObject({
    attempt: z.number().int(),
    // lost: the reaper took the attempt back (its lease expired); released: a stopping worker handed it back.
    outcome: z.enum(["failed", "timed_out", "lost", "released"]),
    delayMs: z.number(),
    error: errorInfo.nullish(),
  }),
  "task:skipped": z.looseObject({ status: z.literal("skipped") }),
  "task:cancelled": z.looseObject({ status: z.literal("cancelled"), error: errorInfo.optional() }),
  "task:progress": z.looseObject({ attempt: z.number().int(), done: z.number(), total: z.number().optional() }),
  "plan:revised": z.looseObject({
    revision: z.number().int().positive(),
    reason: z.string(),
    taskId: z.string().nullable(),
    added: z.array(z.string()),
    removed: z.array(z.string()),
    changed: z.array(z.string()),
  }),
  // Streamed planning: one task of a plan the decomposer is still writing, as soon as it is parsed.
  "plan:task_added": z.looseObject({
    taskId: z.string(),
    step: z.string().nullish(),
    dependsOn: z.array(z.string()),
  }),
  // A run reached its budget (docs/usage-and-budgets.md): what it had spent, and the budget; the run fails next.
  "budget:exceeded": z.looseObject({
    spent: z.looseObject({ tokens: z.number(), costUsd: z.number(), llmCalls: z.number() }),
    budget: z.looseObject({
      tokens: z.number().optional(),
      costUsd: z.number().optional(),
      llmCalls: z.number().optional(),
    }),
  }),
  // Waits and signals (docs/waits-and-flow-control.md): a wait task started waiting; a signal was received
  // (delivered to `taskId` at once, or kept for a wait that has not started).
  "task:waiting": z.looseObject({
    attempt: z.number().int(),
    signal: z.string().optional(),
    until: z.string().nullable(),
  }),
  "signal:received": z.looseObject({
    name: z.string(),
    delivered: z.boolean(),
    taskId: z.string().nullable(),
  }),
  // Plan approval: the plan is recorded and waits for a person; approved (edited or not) or rejected.
  "plan:awaiting_approval": z.looseObject({ tasks: z.number().int() }),
  "plan:approved": z.looseObject({ edited: z.boolean(), tasks: z.number().int() }),
  "plan:rejected": z.looseObject({ reason: z.string() }),
  // Schedules: a tick fired (runId) or was skipped (overlap "skip" while the previous run was not final).
  "schedule:fired": z.looseObject({
    schedule: z.string(),
    tick: z.string(),
    runId: z.string().nullable(),
    skipped: z.boolean(),
  }),
  "optimization:started": z.looseObject({ level, graphId: z.string().optional() }),
  "optimization:completed": z.looseObject({
    level,
    changes: z.number().int().nonnegative(),
    graphId: z.string().optional(),
  }),
  "optimization:recommended": z.looseObject({
    graphId: z.string().optional(),
    timeoutAdjustments: z.record(z.string(), z.number()).optional(),
    parallelizablePairs: z.array(z.tuple([z.string(), z.string()])).optional(),
    failedPatternWarnings: z.array(z.string()).optional(),
  }),
} as const;

/** A catalogued event type. */
export type EventType = keyof typeof EVENT_PAYLOADS;

/** Every catalogued event type, in catalogue order. */
export const EVENT_TYPES = Object.keys(EVENT_PAYLOADS) as EventType[];

/** The payload of catalogued type `T`. */
export type EventPayload<T extends EventType> = z.output<(typeof EVENT_PAYLOADS)[T]>;

/** What every event carries besides its type and payload. */
export interface EventEnvelope {
  /** The event's id: a bigint as a decimal string, increasing in the order ids were taken. */
  id: string;
  runId: string | null;
  taskId: string | null;
  workflow: string | null;
  createdAt: Date;
  /**
   * Where a reader stands just after this event: pass it back as `after` (`listen`,
   * `getRecentEvents`) to go on exactly from here, without skipping an event that committed late
   * or seeing one twice. Opaque. Set on events that `listen` and `getRecentEvents` deliver.
   */
  cursor?: string;
}

/** A catalogued event of type `T`. */
export type KnownEvent<T extends EventType = EventType> = T extends EventType
  ? EventEnvelope & { type: T; payload: EventPayload<T> }
  : never;

/** An event whose type is not in the catalogue (a custom event such as `custom:deployed`). */
export interface CustomEvent extends EventEnvelope {
  type: string;
  payload: Record<string, unknown>;
}

/** Any event read back from the store. */
export type HtdagEvent = KnownEvent | CustomEvent;

/** Maps each catalogued type to its event, for the typed emitter. */
export type EventMap = { [T in EventType]: KnownEvent<T> };

/** The event of type `T`: typed if catalogued, a `CustomEvent` otherwise. */
export type EventOf<T extends string> = T extends EventType ? KnownEvent<T> : CustomEvent;

/** The catalogue as a zod discriminated union on `type` (type and payload only). */
export const knownEventSchema = z.discriminatedUnion(
  "type",
  EVENT_TYPES.map((type) => z.object({ type: z.literal(type), payload: EVENT_PAYLOADS[type] })) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<EventType>; payload: z.ZodType }>,
    ...z.ZodObject<{ type: z.ZodLiteral<EventType>; payload: z.ZodType }>[],
  ],
);

const envelopeSchema = z.object({
  id: z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative(), z.bigint()]).transform(String),
  type: z.string().regex(EVENT_TYPE_PATTERN),
  runId: z.string().nullable().default(null),
  taskId: z.string().nullable().default(null),
  workflow: z.string().nullable().default(null),
  payload: z.record(z.string(), z.unknown()).default({}),
  createdAt: z.coerce.date(),
});

/** Whether `type` is in the catalogue. */
export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_PAYLOADS, type);
}

/** The outcome of `safeParseEvent`. */
export type ParsedEvent = { success: true; event: HtdagEvent } | { success: false; error: z.ZodError };

/**
 * Checks an event read from the store or a wire: the envelope always, the payload when the type
 * is catalogued. An unknown type is passed through untouched, never refused.
 */
export function safeParseEvent(raw: unknown): ParsedEvent {
  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) {
    return { success: false, error: envelope.error };
  }
  const event = envelope.data;
  if (!isEventType(event.type)) {
    return { success: true, event };
  }
  const known = knownEventSchema.safeParse({ type: event.type, payload: event.payload });
  if (!known.success) {
    return { success: false, error: known.error };
  }
  return { success: true, event: { ...event, payload: known.data.payload } as HtdagEvent };
}

/** Like `safeParseEvent`, but throws an `InvalidEventError` for a malformed event. */
export function parseEvent(raw: unknown): HtdagEvent {
  const result = safeParseEvent(raw);
  if (!result.success) {
    throw new InvalidEventError(raw, result.error);
  }
  return result.event;
}

/** The first problem of a payload that does not fit catalogued type `type`, or null if it fits. */
export function payloadProblem(type: EventType, payload: unknown): string | null {
  const result = EVENT_PAYLOADS[type].safeParse(payload);
  if (result.success) {
    return null;
  }
  const issue = result.error.issues[0];
  return issue
    ? `${issue.path.map(String).join(".") || "(payload)"}: ${issueProblem(issue, payload, EVENT_PAYLOADS[type])}`
    : "invalid payload";
}
