/** Errors of live events. Each has a stable `code` and names what failed and what htdag does next. */
import type { z } from "zod";
import { HtdagError } from "../errors.js";
import { issueProblem } from "../option-messages.js";

/** An event read back does not fit the catalogue (a catalogued type with a malformed payload). */
export class InvalidEventError extends HtdagError {
  /** The id of the offending event, when it had one. */
  readonly eventId: string | undefined;

  constructor(raw: unknown, error: z.ZodError) {
    const fields = typeof raw === "object" && raw !== null ? (raw as { id?: unknown; type?: unknown }) : {};
    const issue = error.issues[0];
    const where = issue ? `${issue.path.map(String).join(".") || "(event)"}: ${issueProblem(issue, raw)}` : "invalid";
    super(
      "EVENT_INVALID",
      `event ${String(fields.id)} of type ${JSON.stringify(fields.type)} does not fit the event catalogue (${where}); ` +
        `it was not delivered`,
      { cause: error },
    );
    this.eventId = fields.id === undefined ? undefined : String(fields.id);
  }
}

/** A subscription's handler (or an emitter listener) threw; delivery went on with the next event. */
export class EventHandlerError extends HtdagError {
  readonly eventId: string;
  readonly eventType: string;

  constructor(where: string, event: { id: string; type: string }, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "EVENT_HANDLER_FAILED",
      `${where} threw on event ${event.id} (${event.type}): ${reason}; delivery continues with the next event`,
      { cause },
    );
    this.eventId = event.id;
    this.eventType = event.type;
  }
}

/** The LISTEN connection of a channel was lost or could not be re-established; htdag keeps retrying. */
export class ListenConnectionError extends HtdagError {
  readonly channel: string;

  constructor(channel: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      "LISTEN_CONNECTION_LOST",
      `the LISTEN connection on channel ${channel} failed (${reason}); reconnecting with backoff, then catching up ` +
        `from the last delivered event`,
      { cause },
    );
    this.channel = channel;
  }
}

/** A subscription could not read the events table; it retries with backoff. */
export class CatchUpError extends HtdagError {
  constructor(channel: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super("EVENT_CATCH_UP_FAILED", `reading events of channel ${channel} failed (${reason}); retrying with backoff`, {
      cause,
    });
  }
}
