/**
 * `GET /api/stream`: Server-Sent Events fed by `notifications.listen`. Each event goes out with its
 * cursor as the message id, so a browser that reconnects sends it as `Last-Event-ID` and the
 * subscription replays exactly what it missed (catch-up from the events table), an event that
 * committed after a later one included. A `ready` event says the subscription is live.
 */
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { HtdagEvent } from "../notifications/catalogue.js";
import { eventStartParam } from "./api.js";
import type { DashboardContext } from "./context.js";
import { DashboardRequestError } from "./errors.js";
import { SECURITY_HEADERS } from "./http.js";
import { toEventView } from "./views.js";

/** A comment line this often keeps proxies and the browser from closing an idle stream, in ms. */
const HEARTBEAT_MS = 15_000;
/** How long a browser waits before reconnecting, in ms. */
const RECONNECT_MS = 2_000;

/**
 * The event streams of one dashboard: at most `max` at once (each holds a subscription, which reads
 * the events table on every event it is woken for), and the open ones, so that closing the
 * dashboard can end them.
 */
export class StreamSlots {
  readonly open = new Set<{ end(): Promise<void> }>();
  private taken = 0;

  constructor(readonly max: number) {}

  /** Takes a slot, or throws a 503 when all are taken; returns the slot's release (safe to call twice). */
  take(): () => void {
    if (this.taken >= this.max) {
      throw new DashboardRequestError(
        503,
        "TOO_MANY_STREAMS",
        `this dashboard serves at most ${this.max} event streams at once (maxStreams); ` +
          "close another tab or client, retry later, or start it with a higher maxStreams (--max-streams)",
      );
    }
    this.taken += 1;
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.taken -= 1;
      }
    };
  }
}

/**
 * Streams the events of `?runId=`, `?workflow=`, `?types=a,b`, after `Last-Event-ID` (or
 * `?lastEventId=`: a cursor, or a plain event id), until the client goes away or the dashboard closes.
 */
export async function streamEvents(
  ctx: DashboardContext,
  request: IncomingMessage,
  response: ServerResponse,
  query: URLSearchParams,
  slots: StreamSlots,
): Promise<void> {
  const header = request.headers["last-event-id"];
  const from = eventStartParam(
    (Array.isArray(header) ? header[0] : header) ?? query.get("lastEventId"),
    "Last-Event-ID",
  );
  const types = query
    .get("types")
    ?.split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const runId = query.get("runId") || undefined;
  const workflow = query.get("workflow") || undefined;
  let gone = false;
  const start = () => {
    if (response.headersSent) {
      return;
    }
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-store, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
    });
    response.write(`retry: ${RECONNECT_MS}\n\n`);
  };
  const write = async (chunk: string) => {
    if (gone) {
      return;
    }
    start();
    // A slow reader holds the subscription back (the next event waits for this one) instead of
    // piling events up in memory.
    if (!response.write(chunk)) {
      await Promise.race([once(response, "drain"), once(response, "close")]);
    }
  };
  // The id is the event's cursor (digits, `.`, `:` and `,`: never a line break), not its plain id.
  const deliver = (event: HtdagEvent) =>
    write(`id: ${event.cursor ?? event.id}\ndata: ${JSON.stringify(toEventView(event))}\n\n`);
  // listen() validates the filter and may deliver replayed events before it resolves; a bad filter
  // throws here, before any header went out, and becomes a 400.
  const release = slots.take();
  let subscription: Awaited<ReturnType<typeof ctx.orch.notifications.listen>>;
  try {
    subscription = await ctx.orch.notifications.listen(
      {
        ...(runId ? { runId } : {}),
        ...(workflow ? { workflow } : {}),
        ...(types?.length ? { types } : {}),
        ...from,
        onError: ctx.options.onError,
      },
      deliver,
    );
  } catch (error) {
    release();
    throw error;
  }
  const heartbeat = setInterval(() => void write(": ping\n\n"), HEARTBEAT_MS);
  const stream = {
    end: async () => {
      if (!gone) {
        response.end();
      }
      await cleanup();
    },
  };
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      gone = true;
      clearInterval(heartbeat);
      slots.open.delete(stream);
      release();
      await subscription.close();
    })());
  slots.open.add(stream);
  response.on("close", () => void cleanup().catch(ctx.options.onError));
  if (response.destroyed || request.socket.destroyed) {
    await cleanup();
  } // the client left while listen() started
  await write("event: ready\ndata: {}\n\n");
}
