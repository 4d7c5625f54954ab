/**
 * Event cursors: an `EventPosition` (store/event-position.ts) as a short string that a consumer
 * keeps and hands back (`listen({ after })`, `getRecentEvents({ after })`, an SSE `Last-Event-ID`).
 * Pure. The string is opaque to users; its form is `c1.<afterId>.<done>.<round>.<lastId>`, where
 * `done` and `round` are `pg_snapshot` texts (`xmin:xmax:xip,…`) and empty fields are null.
 * It holds only digits, `.`, `:` and `,`: safe in an SSE `id:` line, an HTTP header and a URL.
 */
import { z } from "zod";
import type { EventPosition } from "../store/event-position.js";

const PREFIX = "c1";
/**
 * A snapshot lists the transactions in progress on the whole server (about 10 characters each), so
 * a cursor is usually under 100 characters; this bounds what a caller can make us parse.
 */
const MAX_LENGTH = 65_536;
const ID = /^\d{1,19}$/;
const SNAPSHOT = /^(\d{1,19}):(\d{1,19}):((?:\d{1,19})(?:,\d{1,19})*)?$/;
const MAX_BIGINT = 2n ** 63n - 1n;

/** The cursor string of `position`. */
export function encodeEventCursor(position: EventPosition): string {
  const round = position.round;
  return [PREFIX, position.afterId ?? "", position.done ?? "", round?.snapshot ?? "", round?.lastId ?? ""].join(".");
}

/** The position a cursor string names, or null when `text` is not a cursor this version wrote. */
export function decodeEventCursor(text: string): EventPosition | null {
  if (text.length > MAX_LENGTH) {
    return null;
  }
  const [prefix, afterId, done, round, lastId, ...rest] = text.split(".");
  if (prefix !== PREFIX || rest.length > 0 || afterId === undefined || done === undefined) {
    return null;
  }
  if (round === undefined || lastId === undefined || (round === "") !== (lastId === "")) {
    return null;
  }
  if (!optional(afterId, isId) || !optional(done, isSnapshot) || !optional(round, isSnapshot)) {
    return null;
  }
  if (lastId !== "" && !isId(lastId)) {
    return null;
  }
  return {
    afterId: afterId || null,
    done: done || null,
    round: round ? { snapshot: round, lastId } : null,
  };
}

/** The `after` option: a cursor string, parsed into its position. */
export const eventCursorSchema = z.string().transform((text, context) => {
  const position = decodeEventCursor(text);
  if (!position) {
    context.addIssue({
      code: "custom",
      message: "an event cursor (the `cursor` of an event that listen or getRecentEvents delivered)",
    });
    return z.NEVER;
  }
  return position;
});

function optional(value: string, check: (value: string) => boolean): boolean {
  return value === "" || check(value);
}

function isId(value: string): boolean {
  return ID.test(value) && BigInt(value) <= MAX_BIGINT;
}

/** What Postgres accepts as a `pg_snapshot`: 0 < xmin <= xip < xmax, the xips ascending. */
function isSnapshot(value: string): boolean {
  const match = SNAPSHOT.exec(value);
  if (!match) {
    return false;
  }
  const xmin = BigInt(match[1]!);
  const xmax = BigInt(match[2]!);
  if (xmin < 1n || xmax < xmin || xmax > MAX_BIGINT) {
    return false;
  }
  let previous = xmin - 1n;
  for (const xip of match[3]?.split(",") ?? []) {
    const xid = BigInt(xip);
    if (xid <= previous || xid >= xmax) {
      return false;
    }
    previous = xid;
  }
  return true;
}
