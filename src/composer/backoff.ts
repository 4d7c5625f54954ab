/** Delay before the next attempt: exponential, linear or constant, with jitter and a cap. */
import type { Backoff } from "../graph/task-graph.js";

/**
 * The delay in ms after failed attempt number `attempt` (1-based).
 * exponential: base·2^(attempt-1); linear: base·attempt; constant: base; then capped at `maxMs`
 * and spread by ±`jitter` share (so many retries do not land at the same moment).
 */
export function backoffDelayMs(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const raw =
    backoff.kind === "exponential"
      ? backoff.baseMs * 2 ** Math.max(0, attempt - 1)
      : backoff.kind === "linear"
        ? backoff.baseMs * Math.max(1, attempt)
        : backoff.baseMs;
  const capped = Math.min(raw, backoff.maxMs);
  const spread = capped * backoff.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(backoff.maxMs, capped + spread)));
}
