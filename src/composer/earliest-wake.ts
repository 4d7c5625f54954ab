/**
 * One timer for the earliest of several wake-up times: a claim reports when tasks a rate limit
 * refused may start (`wakeInMs`, docs/waits-and-flow-control.md); the executor and the worker each keep
 * one such timer, moved only to an earlier time.
 */
export class EarliestWake {
  private pending: { timer: NodeJS.Timeout; at: number } | undefined;
  private stopped = false;

  constructor(private readonly wake: () => void) {}

  /** Calls the wake-up in `ms`, unless one is due sooner already; null or undefined: nothing to wait for. */
  in(ms: number | null | undefined): void {
    if (ms === null || ms === undefined || this.stopped) {
      return;
    }
    const at = Date.now() + ms;
    if (this.pending && this.pending.at <= at) {
      return;
    }
    clearTimeout(this.pending?.timer);
    this.pending = {
      at,
      timer: setTimeout(() => {
        this.pending = undefined;
        this.wake();
      }, ms),
    };
  }

  /** Drops the pending wake-up, and every later one (its owner stopped). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.pending?.timer);
    this.pending = undefined;
  }
}
