/**
 * Group commit for settles: the settlements of one run that arrive while a settle of that run is
 * in flight wait for it, then go together in one round trip. A lone settlement (a chain) is sent
 * at once, so batching adds no latency; under parallelism the round trip, the run row's lock and
 * the commit are paid once per batch instead of once per task. A batch carries at most
 * `maxBatchBytes` of outputs (a larger output goes alone): the batch is one jsonb value, and
 * PostgreSQL refuses one of more than 255 MB.
 */
import type { Settlement } from "../store/tasks.js";

interface Pending {
  settlement: Settlement;
  resolve(): void;
  reject(error: unknown): void;
}

/** Sends one batch; resolves once its result has been handled. */
export type SendBatch = (batch: readonly Settlement[]) => Promise<void>;

export class SettleBatcher {
  private readonly queue: Pending[] = [];
  private inFlight = false;

  private scheduled = false;

  /**
   * @param maxBatch Most settlements sent in one round trip.
   * @param othersRunning Whether attempts of the run other than the `queued` ones still run: then the first
   *   settlement waits one turn of the event loop for those that end in the same turn (steps
   *   dispatched together tend to end together); a lone one is sent at once.
   * @param maxBatchBytes Most output, in bytes of JSON (`Settlement.outputBytes`), sent in one round trip.
   */
  constructor(
    private readonly send: SendBatch,
    private readonly maxBatch: number,
    private readonly othersRunning: (queued: number) => boolean = () => false,
    private readonly maxBatchBytes = Number.POSITIVE_INFINITY,
  ) {}

  /** Queues a settlement; resolves when the batch that carried it was settled and handled. */
  settle(settlement: Settlement): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.queue.push({ settlement, resolve, reject }));
    if (this.inFlight || this.scheduled) {
      return done;
    }
    if (this.queue.length < this.maxBatch && this.othersRunning(this.queue.length)) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (!this.inFlight) {
          void this.drain();
        }
      });
    } else {
      void this.drain();
    }
    return done;
  }

  /** True when nothing waits and nothing is in flight. */
  get idle(): boolean {
    return !this.inFlight && !this.scheduled && this.queue.length === 0;
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.nextBatchLength());
      try {
        await this.send(batch.map((p) => p.settlement));
        for (const p of batch) {
          p.resolve();
        }
      } catch (error) {
        for (const p of batch) {
          p.reject(error);
        }
      }
    }
    this.inFlight = false;
  }

  /** How many queued settlements the next call carries: up to maxBatch, and maxBatchBytes of output. */
  private nextBatchLength(): number {
    const most = Math.min(this.queue.length, Math.max(1, this.maxBatch));
    let bytes = this.queue[0]?.settlement.outputBytes ?? 0;
    let length = 1;
    while (length < most) {
      bytes += this.queue[length]!.settlement.outputBytes ?? 0;
      if (bytes > this.maxBatchBytes) {
        break;
      }
      length++;
    }
    return length;
  }
}
