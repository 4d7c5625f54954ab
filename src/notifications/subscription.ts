/**
 * A subscription: a position in the events table, moved by NOTIFY wake-ups, delivering each
 * matching event exactly once to a handler or an async iterator.
 *
 * Why not just "the highest id delivered": ids come from a sequence, so a transaction can take id 7,
 * another take id 8 and commit, and then the first commit. A reader that had moved past 8 would
 * never see 7. The position is instead made of snapshots (store/event-position.ts): every event
 * visible in the last complete read's snapshot was delivered, and a read in progress delivers the
 * rows of its snapshot in id order; a transaction still open at those reads is delivered once it
 * commits. Each delivered event carries that position as its `cursor`, so a consumer that resumes
 * from it (`after`) neither skips a late commit nor sees an event twice.
 */
import type { EventPosition } from "../store/event-position.js";
import type { EventFilter, EventQueries, PositionedRow } from "../store/events.js";
import { safeParseEvent, type HtdagEvent } from "./catalogue.js";
import { encodeEventCursor } from "./cursor.js";
import { CatchUpError, EventHandlerError, InvalidEventError } from "./errors.js";

/** Rows read per catch-up query. */
const PAGE_SIZE = 500;
/** Retry delays after a failed catch-up read: doubling from this, up to 5 s. */
const RETRY_BASE_MS = 100;

/** Receives each event of a subscription; may be async (the next event waits for it). */
export type EventHandler<E extends HtdagEvent = HtdagEvent> = (event: E) => unknown;

/** The small JSON a NOTIFY carries: enough to tell whether a subscription wants the event. */
export interface NotifyPayload {
  id: string;
  type: string;
  runId: string | null;
  taskId: string | null;
  workflow: string | null;
}

/** What a channel's connection needs of a subscription. */
export interface SubscriptionHandle {
  readonly filter: EventFilter;
  /** Whether a NOTIFY names an event this subscription wants. */
  wants(notify: NotifyPayload): boolean;
  /** Schedules a catch-up read. */
  wake(): void;
  close(): Promise<void>;
}

/** What a subscription is built from (already validated). */
export interface SubscriptionParts<E extends HtdagEvent> {
  queries: EventQueries;
  filter: EventFilter;
  /** Deliver the events not passed at this position; null delivers the events that commit from now on. */
  start: EventPosition | null;
  handler: EventHandler<E> | undefined;
  onError: (error: unknown) => void;
  /** Re-read every this many ms even without a NOTIFY (0: only on NOTIFY and reconnect). */
  pollIntervalMs: number;
  /** Called once by `close()`, to leave the channel's shared connection. */
  detach: (subscription: SubscriptionHandle) => Promise<void>;
}

/** A live subscription; `for await (const event of subscription)` reads it, `close()` ends it. */
export class Subscription<E extends HtdagEvent = HtdagEvent> implements AsyncIterable<E>, SubscriptionHandle {
  readonly filter: EventFilter;
  private closedFlag = false;
  private closing: Promise<void> | undefined;
  /** Where delivery stands; null until the first read fixed it. */
  private position: EventPosition | null = null;
  private dirty = false;
  private running: Promise<void> | null = null;
  private inHandler = false;
  private failures = 0;
  private lastError: CatchUpError | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private iterating = false;
  private readonly buffer: E[] = [];
  private readonly waiters: ((result: IteratorResult<E>) => void)[] = [];

  constructor(private readonly parts: SubscriptionParts<E>) {
    this.filter = parts.filter;
    if (parts.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => this.wake(), parts.pollIntervalMs);
    }
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Whether a NOTIFY names an event this subscription wants (a wake-up it must not ignore). */
  wants(notify: NotifyPayload): boolean {
    const { runId, workflow, types } = this.filter;
    return (
      (!runId || notify.runId === runId) &&
      (!workflow || notify.workflow === workflow) &&
      (!types || types.includes(notify.type))
    );
  }

  /** Schedules a catch-up read; wake-ups during a read coalesce into one more read. */
  wake(): void {
    if (this.closedFlag) {
      return;
    }
    this.dirty = true;
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /** Runs the first read, which fixes where the subscription starts; throws if that read failed. */
  async ready(): Promise<void> {
    this.wake();
    await this.running;
    if (!this.position && !this.closedFlag) {
      throw this.lastError ?? new CatchUpError(this.filter.channel, "no first read");
    }
  }

  private async drain(): Promise<void> {
    while (this.dirty && !this.closedFlag) {
      this.dirty = false;
      try {
        await this.catchUp();
        this.failures = 0;
      } catch (error) {
        if (this.closedFlag) {
          return;
        } // the store was closed under us; nobody is listening any more
        this.lastError = new CatchUpError(this.filter.channel, error);
        if (!this.position) {
          return;
        } // listen() throws it to the caller instead
        this.parts.onError(this.lastError);
        this.retryLater();
        return;
      }
    }
  }

  private retryLater(): void {
    const ceiling = Math.min(5000, RETRY_BASE_MS * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => this.wake(), ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private async catchUp(): Promise<void> {
    if (!this.position) {
      this.position = this.parts.start ?? (await this.parts.queries.now());
      if (this.parts.start === null) {
        return;
      }
    }
    for (;;) {
      const page = await this.parts.queries.since(this.filter, this.position, PAGE_SIZE);
      for (const row of page.rows) {
        if (this.closedFlag) {
          return;
        }
        this.position = row.position;
        await this.deliver(row);
      }
      if (page.end) {
        this.position = page.end;
        return;
      }
    }
  }

  private async deliver(row: PositionedRow): Promise<void> {
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
    if (!parsed.success) {
      this.parts.onError(new InvalidEventError(raw, parsed.error));
      return;
    }
    const event = { ...parsed.event, cursor: encodeEventCursor(row.position) } as E;
    if (this.parts.handler) {
      await this.callHandler(this.parts.handler, event);
    }
    if (!this.parts.handler || this.iterating) {
      this.push(event);
    }
  }

  private async callHandler(handler: EventHandler<E>, event: E): Promise<void> {
    this.inHandler = true;
    try {
      await handler(event);
    } catch (error) {
      this.parts.onError(
        new EventHandlerError(`the handler of a subscription on channel ${this.filter.channel}`, event, error),
      );
    } finally {
      this.inHandler = false;
    }
  }

  private push(event: E): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter({ value: event, done: false });
    } else {
      this.buffer.push(event);
    }
  }

  /** Stops delivery and leaves the channel; pending `for await` loops end. Safe to call twice. */
  /** Ends the subscription and leaves the channel; calling it again returns the same promise. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closedFlag = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pollTimer);
    for (const waiter of this.waiters.splice(0)) {
      waiter({ value: undefined, done: true });
    }
    // A handler may close its own subscription: waiting for the read that called it would deadlock.
    if (!this.inHandler) {
      await this.running;
    }
    await this.parts.detach(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<E> {
    this.iterating = true;
    return {
      next: () => {
        const value = this.buffer.shift();
        if (value !== undefined) {
          return Promise.resolve({ value, done: false });
        }
        if (this.closedFlag) {
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}
