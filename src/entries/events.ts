/**
 * `htdag/events`: the event catalogue: every event type htdag stores and NOTIFYs, its payload
 * schema (zod), and parsers for events read from anywhere (a NOTIFY payload, a row, a log line).
 * @example
 * import { parseEvent } from "htdag/events";
 * const event = parseEvent(JSON.parse(notifyPayload)); // throws InvalidEventError when malformed
 */
export { EVENT_TYPES, EVENT_PAYLOADS, parseEvent, safeParseEvent, isEventType } from "../notifications/catalogue.js";
export type {
  EventType,
  EventPayload,
  EventMap,
  EventOf,
  HtdagEvent,
  KnownEvent,
  CustomEvent,
} from "../notifications/catalogue.js";
export { InvalidEventError } from "../notifications/errors.js";
