/**
 * waitForRun: resolves when a run reaches a final status, woken by the run's execution events over
 * one shared LISTEN connection, with a slow poll as the fallback (and the only way when NOTIFY is off).
 * While it listens, the process is registered as wanting execution events NOTIFYed (store/listeners.ts).
 */
import { isFinalRunStatus, type RunStatus } from "../composer/state-machine.js";
import { WaitTimeoutError } from "../errors.js";
import { retryTransient } from "../composer/transient.js";
import type { Db, Listener } from "../store/db.js";
import type { RunControlQueries } from "../store/run-control.js";
import type { ListenerRegistry } from "../store/listeners.js";

export class RunWaiter {
  private listener: Promise<Listener> | undefined;
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(
    private readonly db: Db,
    private readonly control: RunControlQueries,
    private readonly registry: ListenerRegistry,
    private readonly channel: string | null,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Resolves with the final status, or throws WaitTimeoutError (the run goes on) or RunNotFoundError. */
  async wait(runId: string, timeoutMs: number, notFound: () => Error): Promise<RunStatus> {
    // LISTEN before the first read, so a final status committed after that read wakes this wait.
    // Without the LISTEN connection or the registration the poll still finds it, just later.
    await this.listen()?.catch((error) => this.onError(error));
    const first = await retryTransient(() => this.control.runStatusAndMode(runId), 30_000);
    const read = async () => (await retryTransient(() => this.control.runStatus(runId), 30_000)) as RunStatus | null;
    // A run NOTIFYed on demand sends its execution events only to registered listeners: register,
    // then read again (a final status committed before the registration is found by that read).
    const registration =
      first && this.channel && first.onDemand && !isFinalRunStatus(first.status as RunStatus)
        ? await this.registry.register(this.channel, "runs", runId, this.onError).catch((error) => {
            this.onError(error);
            return undefined;
          })
        : undefined;
    try {
      const deadline = Date.now() + timeoutMs;
      let status = registration ? await read() : ((first?.status ?? null) as RunStatus | null);
      for (let pollMs = 20; ; pollMs = Math.min(1000, pollMs * 2)) {
        if (status === null) {
          throw notFound();
        }
        if (isFinalRunStatus(status)) {
          return status;
        }
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new WaitTimeoutError(runId, status, timeoutMs);
        }
        await this.nextSignal(runId, Math.min(pollMs, left));
        status = await read();
      }
    } finally {
      await registration?.close().catch(this.onError);
    }
  }

  /** LISTENs on the channel: one connection for every wait of this process, opened at the first. */
  private listen(): Promise<Listener> | undefined {
    if (!this.channel) {
      return undefined;
    }
    this.listener ??= this.db
      .listen(this.channel, {
        onNotify: (payload) => {
          const event = safeParse(payload);
          if (event?.runId && event.type?.startsWith("execution:")) {
            for (const wake of this.waiting.get(event.runId) ?? []) {
              wake();
            }
          }
        },
        onError: this.onError,
      })
      .catch((error: unknown) => {
        this.listener = undefined;
        throw error;
      });
    return this.listener;
  }

  private nextSignal(runId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiting.get(runId) ?? new Set();
      this.waiting.set(runId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) {
          this.waiting.delete(runId);
        }
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  async close(): Promise<void> {
    if (this.listener) {
      await (await this.listener.catch(() => undefined))?.close();
    }
  }
}

function safeParse(payload: string): { type?: string; runId?: string } | null {
  try {
    return JSON.parse(payload) as { type?: string; runId?: string };
  } catch {
    // Not one of ours (someone else NOTIFYs on the channel): nothing to wake.
    return null;
  }
}
