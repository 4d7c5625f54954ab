/**
 * The in-process, typed event emitter behind `orch.on("task:completed", fn)`, fed by a
 * subscription on the orchestrator's channel, so it works the same on Postgres and PGlite.
 *
 * eventemitter3 stops calling listeners at the first one that throws, and drops unhandled `error`
 * events silently; so every listener is wrapped: its exceptions and rejections go to `onError`,
 * and the other listeners still run.
 */
import { EventEmitter } from "eventemitter3";
import type { EventOf, EventType, HtdagEvent } from "./catalogue.js";
import { EventHandlerError } from "./errors.js";
import type { Notifications } from "./service.js";
import type { Subscription } from "./subscription.js";

/** A type to listen to: a catalogued one, a custom `noun:verb`, or `"*"` for every event. */
export type EmitterEventName = EventType | "*" | `${string}:${string}`;

/** What a listener of `K` receives. */
export type EmitterEvent<K extends string> = K extends "*" ? HtdagEvent : EventOf<K>;

type Wrapper = (event: HtdagEvent) => void;

/** Options of `HtdagEmitter`. */
export interface HtdagEmitterOptions {
  /** Receives listener exceptions and rejections. @default console.error */
  onError?: (error: unknown) => void;
  /** Called with true when the first listener is added and false when the last one is removed. @default none */
  onActiveChange?: (active: boolean) => void;
}

/** A typed emitter over the event catalogue. Listeners never break delivery to other listeners. */
export class HtdagEmitter {
  private readonly emitter = new EventEmitter();
  /** Per type, the wrappers registered for each listener (one per `on`/`once` call). */
  private readonly wrappers = new Map<string, Map<unknown, Wrapper[]>>();
  private readonly onError: (error: unknown) => void;

  constructor(private readonly options: HtdagEmitterOptions = {}) {
    this.onError = options.onError ?? ((error) => console.error("htdag:", error));
  }

  /** Calls `listener` with every event of `type` (`"*"`: every event). */
  on<K extends EmitterEventName>(type: K, listener: (event: EmitterEvent<K>) => unknown): this {
    return this.add(type, listener as (event: HtdagEvent) => unknown, false);
  }

  /** Calls `listener` with the next event of `type` only. */
  once<K extends EmitterEventName>(type: K, listener: (event: EmitterEvent<K>) => unknown): this {
    return this.add(type, listener as (event: HtdagEvent) => unknown, true);
  }

  /** Removes one registration of `listener` for `type`, or every listener of `type` if none is given. */
  off<K extends EmitterEventName>(type: K, listener?: (event: EmitterEvent<K>) => unknown): this {
    const before = this.listenerCount();
    const byListener = this.wrappers.get(type);
    const targets = listener === undefined ? [...(byListener?.keys() ?? [])] : [listener];
    for (const target of targets) {
      const wrapper = byListener?.get(target)?.at(-1);
      if (!wrapper) {
        continue;
      }
      this.forget(type, target, wrapper);
      this.emitter.off(type, wrapper);
    }
    this.changed(before);
    return this;
  }

  /** Listeners of `type`, or of every type. */
  listenerCount(type?: string): number {
    if (type !== undefined) {
      return this.emitter.listenerCount(type);
    }
    return this.emitter.eventNames().reduce((sum, name) => sum + this.emitter.listenerCount(name), 0);
  }

  /** Delivers `event` to the listeners of its type and of `"*"`. Never throws. */
  safeEmit(event: HtdagEvent): void {
    this.emitter.emit(event.type, event);
    this.emitter.emit("*", event);
  }

  private add(type: string, listener: (event: HtdagEvent) => unknown, once: boolean): this {
    if (typeof listener !== "function") {
      throw new TypeError(`the listener of ${type} must be a function`);
    }
    const before = this.listenerCount();
    const wrapper: Wrapper = (event) => {
      if (once) {
        // eventemitter3 has already removed a once-listener when it calls it.
        this.forget(type, listener, wrapper);
        this.changed(this.listenerCount() + 1);
      }
      this.call(type, listener, event);
    };
    const byListener = this.wrappers.get(type) ?? new Map<unknown, Wrapper[]>();
    this.wrappers.set(type, byListener);
    byListener.set(listener, [...(byListener.get(listener) ?? []), wrapper]);
    if (once) {
      this.emitter.once(type, wrapper);
    } else {
      this.emitter.on(type, wrapper);
    }
    this.changed(before);
    return this;
  }

  private forget(type: string, listener: unknown, wrapper: Wrapper): void {
    const byListener = this.wrappers.get(type);
    const rest = (byListener?.get(listener) ?? []).filter((w) => w !== wrapper);
    if (rest.length > 0) {
      byListener?.set(listener, rest);
    } else {
      byListener?.delete(listener);
    }
    if (byListener?.size === 0) {
      this.wrappers.delete(type);
    }
  }

  private call(type: string, listener: (event: HtdagEvent) => unknown, event: HtdagEvent): void {
    const report = (error: unknown) => this.report(new EventHandlerError(`a listener of ${type}`, event, error));
    try {
      const result = listener(event);
      if (isThenable(result)) {
        result.then(undefined, report);
      }
    } catch (error) {
      report(error);
    }
  }

  private report(error: unknown): void {
    try {
      this.onError(error);
    } catch (failure) {
      // onError itself threw: the console is the last place left that cannot lose the report.
      console.error("htdag: onError threw while reporting", error, failure);
    }
  }

  private changed(before: number): void {
    const after = this.listenerCount();
    if ((before === 0) !== (after === 0)) {
      this.options.onActiveChange?.(after > 0);
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/** An emitter fed from the store, and how to wait for (and stop) its subscription. */
export interface LiveEmitter {
  readonly emitter: HtdagEmitter;
  /** Resolves once the subscription behind the current listeners is live (at once if there are none). */
  ready(): Promise<void>;
  /** Ends the subscription; later listeners start a new one. */
  close(): Promise<void>;
}

/**
 * An `HtdagEmitter` fed from a subscription on `channel`. The subscription starts when the first
 * listener is added and ends when the last one is removed.
 */
export function createLiveEmitter(
  notifications: Notifications,
  options: { channel?: string; onError?: (error: unknown) => void } = {},
): LiveEmitter {
  const onError = options.onError ?? ((error: unknown) => console.error("htdag:", error));
  let subscription: Promise<Subscription | null> | null = null;
  const start = () => {
    const pending: Promise<Subscription | null> = notifications
      .listen({ ...(options.channel ? { channel: options.channel } : {}), onError }, (event) => emitter.safeEmit(event))
      .catch((error: unknown) => {
        onError(error);
        if (subscription === pending) {
          subscription = null;
        }
        return null;
      });
    subscription = pending;
  };
  // Stops still closing (the last listener went away): close() waits for them, so nothing of the
  // subscription touches the store after close() resolved. Their failures were reported already.
  let stopping: Promise<unknown> = Promise.resolve();
  const stop = async () => {
    const current = subscription;
    subscription = null;
    const closing = (async () => (await current)?.close())();
    stopping = Promise.all([stopping, closing.catch(() => undefined)]);
    await closing;
  };
  const emitter = new HtdagEmitter({
    onError,
    onActiveChange: (active) => {
      if (active) {
        start();
      } else {
        stop().catch(onError);
      }
    },
  });
  return {
    emitter,
    ready: async () => {
      await subscription;
    },
    close: async () => {
      await stop();
      await stopping;
    },
  };
}
