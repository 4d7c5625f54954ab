/**
 * Subscriptions and the LISTEN connections behind them: one dedicated connection per channel
 * (through `db.listen`, which reconnects with jittered backoff), shared by every subscription on
 * that channel. A NOTIFY only wakes subscriptions up; what they deliver is read from the events
 * table, and after every (re)connect each subscription catches up from its own cursor. While a
 * channel has subscriptions, the process is registered as wanting all its events NOTIFYed (the
 * executor otherwise NOTIFYs only the wake-ups workers need; see store/listeners.ts).
 */
import { z } from "zod";
import type { Db, Listener } from "../store/db.js";
import type { EventPosition } from "../store/event-position.js";
import type { EventFilter, EventQueries } from "../store/events.js";
import type { ListenerRegistration, ListenerRegistry } from "../store/listeners.js";
import type { HtdagEvent } from "./catalogue.js";
import { ListenConnectionError } from "./errors.js";
import { Subscription, type EventHandler, type SubscriptionHandle } from "./subscription.js";

/** A subscription request after validation (see `ListenOptions` in service.ts for the public form). */
export interface SubscriptionRequest {
  filter: EventFilter;
  /** Where delivery starts; null: with the events that commit from now on. */
  start: EventPosition | null;
  onError: (error: unknown) => void;
  pollIntervalMs: number;
}

const notifySchema = z.object({
  id: z.union([z.number(), z.string()]).transform(String),
  type: z.string(),
  runId: z.string().nullable().default(null),
  taskId: z.string().nullable().default(null),
  workflow: z.string().nullable().default(null),
});

/** The subscriptions of one channel and the connection that LISTENs for them. */
class ChannelHub {
  readonly subscriptions = new Set<SubscriptionHandle>();
  private listener: Promise<Listener> | null = null;
  private registration: Promise<ListenerRegistration> | null = null;

  constructor(
    private readonly db: Db,
    private readonly registry: ListenerRegistry,
    readonly channel: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Registers for every event of the channel, then LISTENs if nobody on this channel does yet;
   * resolves once both are in place (so a subscription's first read comes after them).
   */
  async open(): Promise<void> {
    this.registration ??= this.registry.register(this.channel, "all", null, this.onError);
    try {
      await this.registration;
    } catch (error) {
      this.registration = null;
      throw error;
    }
    // LISTEN once registered, then the first read: as before, only that read stands between the
    // LISTEN and the subscription's start.
    this.listener ??= this.db.listen(this.channel, {
      onNotify: (payload) => this.notify(payload),
      // After every (re)connect: NOTIFYs sent while the connection was down are lost, so catch up.
      onConnect: () => this.wakeAll(),
      onError: (error) => this.onError(new ListenConnectionError(this.channel, error)),
    });
    try {
      await this.listener;
    } catch (error) {
      this.listener = null;
      throw error;
    }
  }

  private notify(payload: string): void {
    const parsed = notifySchema.safeParse(safeJson(payload));
    // Not one of ours (someone ran NOTIFY by hand): it names no event, so wake everyone to be safe.
    if (!parsed.success) {
      return this.wakeAll();
    }
    for (const sub of this.subscriptions) {
      if (sub.wants(parsed.data)) {
        sub.wake();
      }
    }
  }

  private wakeAll(): void {
    for (const sub of this.subscriptions) {
      sub.wake();
    }
  }

  /** Stops LISTENing, and withdraws the registration, once the last subscription left. */
  async release(): Promise<void> {
    if (this.subscriptions.size > 0) {
      return;
    }
    const { listener, registration } = this;
    this.listener = null;
    this.registration = null;
    if (listener) {
      await (await listener).close();
    }
    if (registration) {
      await (await registration).close();
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined; // a foreign payload; the caller treats it as a bare wake-up
  }
}

/** Creates subscriptions over `db`, sharing one LISTEN connection per channel. */
export function createSubscriptions(
  db: Db,
  queries: EventQueries,
  registry: ListenerRegistry,
  onConnectionError: (error: unknown) => void,
) {
  const hubs = new Map<string, ChannelHub>();

  async function detach(sub: SubscriptionHandle): Promise<void> {
    const hub = hubs.get(sub.filter.channel);
    if (!hub || !hub.subscriptions.delete(sub)) {
      return;
    }
    if (hub.subscriptions.size === 0) {
      hubs.delete(hub.channel);
    }
    await hub.release();
  }

  return {
    /**
     * Subscribes, LISTENs on the channel if needed, and fixes the starting point; events that
     * commit after this resolves are delivered (and, with `start`, those not passed at it).
     */
    async listen<E extends HtdagEvent>(
      request: SubscriptionRequest,
      handler?: EventHandler<E>,
    ): Promise<Subscription<E>> {
      const channel = request.filter.channel;
      const hub = hubs.get(channel) ?? new ChannelHub(db, registry, channel, onConnectionError);
      hubs.set(channel, hub);
      const sub = new Subscription<E>({ queries, ...request, handler, detach });
      hub.subscriptions.add(sub);
      try {
        await hub.open();
        await sub.ready();
      } catch (error) {
        await sub.close();
        throw error;
      }
      return sub;
    },

    /** Closes a subscription (the same as `subscription.close()`). */
    async unlisten(sub: { close(): Promise<void> }): Promise<void> {
      await sub.close();
    },

    /** Closes every subscription and LISTEN connection. */
    async close(): Promise<void> {
      const all = [...hubs.values()].flatMap((hub) => [...hub.subscriptions]);
      await Promise.all(all.map((sub) => sub.close()));
    },
  };
}

export type Subscriptions = ReturnType<typeof createSubscriptions>;
