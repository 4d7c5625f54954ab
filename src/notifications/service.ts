/**
 * The notifications facade: subscriptions, recent events, custom events and retention over one
 * store. `createOrchestrator` builds one and exposes it as `orch.notifications`.
 */
import { z } from "zod";
import { LISTEN_DEFAULTS, NOTIFICATIONS_DEFAULTS, RECENT_EVENTS_DEFAULTS } from "../defaults.js";
import { InvalidOptionError } from "../errors.js";
import { parseOptions } from "../options.js";
import type { Db } from "../store/db.js";
import { createEventQueries, type PositionedRow } from "../store/events.js";
import { assertIdentifier } from "../store/identifiers.js";
import {
  EVENT_TYPE_PATTERN,
  isEventType,
  payloadProblem,
  safeParseEvent,
  type EventOf,
  type HtdagEvent,
} from "./catalogue.js";
import { eventCursorSchema, encodeEventCursor } from "./cursor.js";
import { InvalidEventError } from "./errors.js";
import { createSubscriptions } from "./listener.js";
import { createListenerRegistry, type RealTimeNotifications } from "../store/listeners.js";
import type { EventHandler, Subscription } from "./subscription.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TYPE_EXPECTED = "an event type of the form noun:verb (lower-case letters, digits, _ or -; e.g. custom:deployed)";
const eventType = z.string().regex(EVENT_TYPE_PATTERN, { message: TYPE_EXPECTED });
const runId = z.string().regex(UUID, { message: "a run id (a UUID)" });
/** Postgres refuses a NUL in text: a filter holding one could never match, and its reads would fail. */
const workflowName = z
  .string()
  .min(1)
  .refine((name) => !name.includes("\0"), { message: "a name without NUL characters" });
/** Event ids are bigints: a larger value would fail every read (and a subscription would retry it forever). */
const MAX_EVENT_ID = 2n ** 63n - 1n;
const eventId = z
  .union([z.string().regex(/^\d{1,19}$/), z.number().int().nonnegative(), z.bigint().nonnegative()], {
    message: "an event id (a non-negative integer, or its decimal string)",
  })
  .transform(String)
  .refine((id) => /^\d{1,19}$/.test(id) && BigInt(id) <= MAX_EVENT_ID, {
    message: `an event id (at most ${MAX_EVENT_ID})`,
  });

/** `after` and `afterEventId` say the same thing two ways: one of them at most. */
const oneStart = {
  check: (o: { after?: unknown; afterEventId?: unknown }) => o.after === undefined || o.afterEventId === undefined,
  message: {
    message: "either `after` or `afterEventId`, not both (`after`, the event's cursor, is exact)",
    path: ["after"],
  },
};

const listenSchema = z
  .strictObject({
    channel: z.string().optional(),
    runId: runId.optional(),
    workflow: workflowName.optional(),
    types: z.array(eventType).min(1).optional(),
    afterEventId: eventId.optional(),
    after: eventCursorSchema.optional(),
    onError: z.custom<(error: unknown) => void>((v) => typeof v === "function", { message: "a function" }).optional(),
    pollIntervalMs: z.number().int().min(0).max(3_600_000).optional(),
  })
  .refine(oneStart.check, oneStart.message);

const recentSchema = z
  .strictObject({
    limit: z.number().int().min(1).max(10_000).default(RECENT_EVENTS_DEFAULTS.limit),
    runId: runId.optional(),
    workflow: workflowName.optional(),
    types: z.array(eventType).optional(),
    channel: z.string().optional(),
    afterEventId: eventId.optional(),
    after: eventCursorSchema.optional(),
  })
  .refine(oneStart.check, oneStart.message);

const sendSchema = z.strictObject({
  type: eventType,
  runId: runId.nullish(),
  taskId: z.string().min(1).nullish(),
  workflow: z.string().min(1).nullish(),
  payload: z.record(z.string(), z.unknown(), { message: "a JSON object" }).default({}),
});

/** Options of `createNotifications`. */
export interface NotificationsOptions {
  /** The store the events live in. */
  db: Db;
  /** Postgres schema holding htdag's tables. @default "htdag" */
  schema?: string;
  /** Channel that `listen` uses when it names none. @default "htdag_events" */
  channel?: string;
  /**
   * NOTIFY on every `sendWithNotify` (true or "on-demand": subscriptions register for the
   * executor's events; see store/listeners.ts); when false rows are stored and subscribers poll.
   * @default true
   */
  realTimeNotifications?: RealTimeNotifications;
  /** Receives handler exceptions, lost connections and failed reads; never the only trace of a failure. @default console.error */
  onError?: (error: unknown) => void;
}

/** What a subscription delivers. */
export interface ListenOptions<T extends string = string> {
  /** Channel to LISTEN on (a lower-case SQL identifier). @default the service's channel */
  channel?: string;
  /** Only events of this run. @default every run */
  runId?: string;
  /** Only events of this workflow. @default every workflow */
  workflow?: string;
  /** Only events of these types. @default every type */
  types?: readonly T[];
  /**
   * Deliver the events with ids above this one first. A plain id can skip an event whose
   * transaction committed after an event with a higher id was delivered; resume with `after`.
   * @default none: events from now on
   */
  afterEventId?: string | number | bigint;
  /**
   * Deliver the events after this cursor first: the `cursor` of the last event handled (resume
   * after a restart). Exact: an event that committed late is delivered, none is delivered twice.
   * Resume with the same filters. Not with `afterEventId`.
   * @default none: events from now on
   */
  after?: string;
  /** Receives handler exceptions and failed reads of this subscription. @default the service's onError */
  onError?: (error: unknown) => void;
  /** Also re-read every this many ms, for events stored without NOTIFY. @default 0 (1000 when realTimeNotifications is false) */
  pollIntervalMs?: number;
}

/** The event type a subscription to `T` delivers. */
export type SubscribedEvent<T extends string> = string extends T ? HtdagEvent : EventOf<T>;

/** Options of `getRecentEvents`. */
export interface RecentEventsOptions {
  /** Most events returned: the latest ones, oldest first. @default 100 */
  limit?: number;
  /** Only events of this run. @default every run */
  runId?: string;
  /** Only events of this workflow. @default every workflow */
  workflow?: string;
  /** Only events of these types. @default every type */
  types?: string[];
  /** Only events sent on this channel. @default every channel */
  channel?: string;
  /**
   * Only events with ids above this one (still the latest `limit` of them). A plain id can skip an
   * event whose transaction committed after an event with a higher id was read; page with `after`.
   * @default none
   */
  afterEventId?: string | number | bigint;
  /**
   * The first `limit` events after this cursor, oldest first: the `cursor` of the last event of the
   * previous page. Exact: an event that committed late comes on a later page, none comes twice.
   * Page with the same filters. Not with `afterEventId`.
   * @default none: the latest events
   */
  after?: string;
}

/** A custom (or catalogued) event to send. */
export interface SendEvent {
  /** `noun:verb`, e.g. `custom:deployed`; a catalogued type must carry its catalogued payload. */
  type: string;
  runId?: string | null;
  taskId?: string | null;
  workflow?: string | null;
  /** A JSON object, stored in the events table (the NOTIFY carries ids only). @default {} */
  payload?: Record<string, unknown>;
}

/** Live events over one store. */
export interface Notifications {
  /** The default channel. */
  readonly channel: string;
  /** Subscribes; with a handler events go to it, without one read them with `for await`. */
  listen<T extends string = string>(
    options?: ListenOptions<T>,
    handler?: EventHandler<SubscribedEvent<T>>,
  ): Promise<Subscription<SubscribedEvent<T>>>;
  /** Ends a subscription (the same as `subscription.close()`). */
  unlisten(subscription: { close(): Promise<void> }): Promise<void>;
  /** The latest stored events, oldest first. */
  getRecentEvents(options?: RecentEventsOptions): Promise<HtdagEvent[]>;
  /** Stores an event and NOTIFYs `channel` in one transaction; returns the event id. */
  sendWithNotify(channel: string, event: SendEvent): Promise<string>;
  /** Deletes events older than `olderThanMs`; returns how many were deleted. */
  prune(options: { olderThanMs: number }): Promise<number>;
  /** Closes every subscription and LISTEN connection (not the store). */
  close(): Promise<void>;
}

/**
 * Builds the notifications facade.
 * @example
 * const notifications = createNotifications({ db, schema: "htdag", channel: "htdag_events" });
 * const sub = await notifications.listen({ types: ["task:failed"] }, (e) => alert(e.payload.error));
 */
export function createNotifications(options: NotificationsOptions): Notifications {
  const schema = assertIdentifier("schema", options.schema ?? NOTIFICATIONS_DEFAULTS.schema);
  const channel = assertIdentifier("channel", options.channel ?? NOTIFICATIONS_DEFAULTS.channel);
  const realTime = (options.realTimeNotifications ?? NOTIFICATIONS_DEFAULTS.realTimeNotifications) !== false;
  const onError = options.onError ?? ((error: unknown) => console.error("htdag:", error));
  const queries = createEventQueries(options.db, schema);
  const subscriptions = createSubscriptions(options.db, queries, createListenerRegistry(options.db, schema), onError);

  const toEvents = (rows: PositionedRow[]): HtdagEvent[] =>
    rows.flatMap((row) => {
      const raw = {
        id: row.id,
        type: row.type,
        runId: row.run_id,
        taskId: row.task_id,
        workflow: row.workflow,
        payload: row.payload,
        createdAt: row.created_at,
      };
      const parsed = safeParseEvent(raw);
      if (parsed.success) {
        return [{ ...parsed.event, cursor: encodeEventCursor(row.position) }];
      }
      onError(new InvalidEventError(raw, parsed.error));
      return [];
    });

  return {
    channel,
    async listen(listenOptions = {}, handler) {
      const o = parseOptions(listenSchema, listenOptions, "notifications.listen");
      if (handler !== undefined && typeof handler !== "function") {
        throw new InvalidOptionError("handler", "a function called with each event", handler, "notifications.listen");
      }
      const filter = {
        channel: assertIdentifier("channel", o.channel ?? channel),
        runId: o.runId ?? null,
        workflow: o.workflow ?? null,
        types: o.types ?? null,
      };
      return subscriptions.listen(
        {
          filter,
          start:
            o.after ?? (o.afterEventId === undefined ? null : { afterId: o.afterEventId, done: null, round: null }),
          onError: o.onError ?? onError,
          pollIntervalMs:
            o.pollIntervalMs ??
            (realTime ? LISTEN_DEFAULTS.pollIntervalMs : LISTEN_DEFAULTS.pollIntervalMsWithoutNotify),
        },
        handler,
      );
    },
    unlisten: (sub) => subscriptions.unlisten(sub),
    async getRecentEvents(recentOptions = {}) {
      const o = parseOptions(recentSchema, recentOptions, "notifications.getRecentEvents");
      if (o.channel !== undefined) {
        assertIdentifier("channel", o.channel);
      }
      if (o.after) {
        const filter = {
          channel: o.channel ?? null,
          runId: o.runId ?? null,
          workflow: o.workflow ?? null,
          types: o.types ?? null,
        };
        return toEvents((await queries.since(filter, o.after, o.limit)).rows);
      }
      return toEvents(await queries.recent({ ...o, afterId: o.afterEventId }));
    },
    async sendWithNotify(target, event) {
      assertIdentifier("channel", target);
      const e = parseOptions(sendSchema, event, "notifications.sendWithNotify");
      const problem = isEventType(e.type) ? payloadProblem(e.type, e.payload) : null;
      if (problem) {
        throw new InvalidOptionError(
          "payload",
          `the payload of a ${e.type} event (${problem})`,
          e.payload,
          "notifications.sendWithNotify",
        );
      }
      return realTime ? queries.emit(e, target) : queries.store(e, target);
    },
    async prune(pruneOptions) {
      const o = parseOptions(
        z.strictObject({ olderThanMs: z.number().int().min(0) }),
        pruneOptions,
        "notifications.prune",
      );
      return queries.prune(o.olderThanMs);
    },
    close: () => subscriptions.close(),
  };
}
