/**
 * waitForRun: resolves when a run reaches a final status, woken by the run's execution events over
 * one shared LISTEN connection, with a slow poll as the fallback (and the only way when NOTIFY is off).
 */
import { isFinalRunStatus, type RunStatus } from "../composer/state-machine.js";
import { WaitTimeoutError } from "../errors.js";
import { retryTransient } from "../composer/transient.js";
import type { Db, Listener } from "../store/db.js";
import type { RunControlQueries } from "../store/run-control.js";

export class RunWaiter {
  private listener: Promise<Listener> | undefined;
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(
    private readonly db: Db,
    private readonly control: RunControlQueries,
    private readonly channel: string | null,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Resolves with the final status, or throws WaitTimeoutError (the run goes on) or RunNotFoundError. */
  async wait(runId: string, timeoutMs: number, notFound: () => Error): Promise<RunStatus> {
    // Without the LISTEN connection the poll still finds the final status, just later.
    await this.ensureListener()?.catch((error) => {
      this.listener = undefined;
      this.onError(error);
    });
    const deadline = Date.now() + timeoutMs;
    for (let pollMs = 20; ; pollMs = Math.min(1000, pollMs * 2)) {
      const status = (await retryTransient(() => this.control.runStatus(runId), 30_000)) as RunStatus | null;
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
    }
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

  private ensureListener(): Promise<Listener> | undefined {
    if (!this.channel || this.listener) {
      return this.listener;
    }
    this.listener = this.db.listen(this.channel, {
      onNotify: (payload) => {
        const event = safeParse(payload);
        if (event?.runId && event.type?.startsWith("execution:")) {
          for (const wake of this.waiting.get(event.runId) ?? []) {
            wake();
          }
        }
      },
      onError: this.onError,
    });
    return this.listener;
  }

  async close(): Promise<void> {
    if (this.listener) {
      await (await this.listener).close();
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
