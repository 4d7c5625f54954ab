/**
 * Waits and flow control as a task (or a step) writes them (docs/waits-and-flow-control.md): the
 * zod schemas and their types. What they do is the executor's: a wait task holds no slot while it
 * waits; concurrency and rate limits are enforced cluster-wide in the claim.
 */
import { z } from "zod";

/** A signal name: letters, digits and `_ . : / -`, at most 128. */
export const SIGNAL_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;

const signalName = z
  .string()
  .regex(SIGNAL_NAME_PATTERN, "signal names hold only letters, digits and _ . : / - (at most 128)");

/**
 * What a wait task waits for. It has no step: it completes when its signal arrives (the signal's
 * payload is its output) or when its time comes (`forMs`, `until`); with `timeoutMs` a signal not
 * received in time ends the attempt `timed_out`, and the task's retries and `runIf` follow as usual.
 */
export const waitSchema = z.union([
  z.strictObject({
    /** The name `orch.signal(runId, name, payload)` sends. */
    signal: signalName,
    /** How long to wait for the signal, from when the wait starts. @default no limit */
    timeoutMs: z.number().int().min(1).max(31_536_000_000).optional(),
  }),
  z.strictObject({
    /** Wait this long from when the wait starts, then complete. */
    forMs: z.number().int().min(0).max(31_536_000_000),
  }),
  z.strictObject({
    /** Wait until this moment (an ISO 8601 date-time with its offset), then complete; a past moment completes at once. */
    until: z.iso.datetime({ offset: true }),
  }),
]);
export type WaitSpec = z.infer<typeof waitSchema>;

/**
 * At most `limit` tasks with the same key run at once, across runs and processes. `key` is a
 * template over the task: `{{input.customer}}` is the task's input field `customer` (a plain
 * string is one key for all).
 */
export const concurrencySchema = z.strictObject({
  key: z.string().min(1).max(200),
  limit: z.number().int().min(1).max(10_000),
});
export type ConcurrencyLimit = z.infer<typeof concurrencySchema>;

/**
 * At most `limit` tasks with the same key start per `perMs`, across runs and processes, spaced
 * evenly (`burst` of them may start at once). `key` is a template as in `concurrency`.
 */
export const rateLimitSchema = z.strictObject({
  key: z.string().min(1).max(200),
  limit: z.number().int().min(1).max(1_000_000),
  perMs: z.number().int().min(1).max(86_400_000),
  /** Starts allowed at once before the spacing applies. @default 1 */
  burst: z.number().int().min(1).max(1_000_000).optional(),
});
export type RateLimit = z.infer<typeof rateLimitSchema>;
