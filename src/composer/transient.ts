/** Retrying database calls through connection loss (a Postgres restart, a network blip). */

/**
 * SQLSTATE classes and Node error codes that mean "try again": the connection went away, or the
 * server gave up on the transaction (a deadlock, a serialization failure) and rolled it back whole.
 */
const TRANSIENT_CODES = new Set([
  "40P01",
  "40001",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "57P01",
  "57P02",
  "57P03",
  "53300",
]);

/** True when retrying the same call later may succeed. */
export function isTransientDbError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (!e) {
    return false;
  }
  if (typeof e.code === "string" && (TRANSIENT_CODES.has(e.code) || e.code.startsWith("08"))) {
    return true;
  }
  return (
    typeof e.message === "string" &&
    /Connection terminated|connection is closed|Client has encountered a connection error/i.test(e.message)
  );
}

/**
 * Runs `call`, retrying transient failures with growing delays until `budgetMs` is spent.
 * Safe for htdag's transitions: each is guarded, so a retry of a call that did commit is
 * rejected by its guard, never applied twice.
 */
export async function retryTransient<T>(
  call: () => Promise<T>,
  budgetMs: number,
  onRetry?: (error: unknown) => void,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isTransientDbError(error) || Date.now() > deadline) {
        throw error;
      }
      onRetry?.(error);
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 50 * 2 ** attempt)));
    }
  }
}
