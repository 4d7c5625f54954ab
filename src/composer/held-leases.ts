/**
 * The leases a worker holds, one per attempt, each with its expiry as the worker's own clock sees
 * it. A lease belongs to an attempt: the worker renews only the attempts it still holds, and never
 * starts a step whose lease has run out by its own clock (a process frozen past its lease, by
 * SIGSTOP or a blocked event loop, may find the task reaped and run by another worker).
 */

import type { AttemptRef } from "../store/tasks.js";

/** One attempt of one task of one run. */
export type AttemptKey = AttemptRef;

/** The key of an attempt in maps. */
export function attemptKey(attempt: AttemptKey): string {
  return `${attempt.runId}/${attempt.taskId}#${attempt.attempt}`;
}

/**
 * How much earlier than the lease's length the worker deems its lease over: room for the time
 * between the check and the step's start, and for clock drift. A tenth of the lease, at most 1 s.
 */
export function leaseMarginMs(leaseMs: number): number {
  return Math.min(1000, Math.floor(leaseMs / 10));
}

export class HeldLeases {
  private readonly deadlines = new Map<string, { attempt: AttemptKey; deadline: number }>();

  /** @param now The worker's monotonic clock, in ms (a test may pass its own). */
  constructor(
    private readonly leaseMs: number,
    readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Records attempts a call sent at `sentAt` (by {@link now}) claimed or renewed. The database
   * set their lease after that moment, so `sentAt + leaseMs` never overstates it, whatever the
   * skew between the two clocks.
   */
  hold(attempts: readonly AttemptKey[], sentAt: number): void {
    const deadline = sentAt + this.leaseMs - leaseMarginMs(this.leaseMs);
    for (const attempt of attempts) {
      const key = attemptKey(attempt);
      const held = this.deadlines.get(key);
      this.deadlines.set(key, { attempt, deadline: Math.max(deadline, held?.deadline ?? -Infinity) });
    }
  }

  /** Extends the attempts a renewal sent at `sentAt` renewed, among those still held. */
  renewed(attempts: readonly AttemptKey[], sentAt: number): void {
    this.hold(
      attempts.filter((attempt) => this.deadlines.has(attemptKey(attempt))),
      sentAt,
    );
  }

  /** By how many ms the attempt's lease has run out by this clock: 0 while it holds, Infinity when not held. */
  expiredByMs(attempt: AttemptKey): number {
    const held = this.deadlines.get(attemptKey(attempt));
    return held ? Math.max(0, this.now() - held.deadline) : Infinity;
  }

  /** Forgets an attempt: settled, dropped, or handed back. */
  release(attempt: AttemptKey): void {
    this.deadlines.delete(attemptKey(attempt));
  }

  /** Every attempt held now: what a heartbeat renews. */
  list(): AttemptKey[] {
    return [...this.deadlines.values()].map((held) => held.attempt);
  }

  clear(): void {
    this.deadlines.clear();
  }
}
