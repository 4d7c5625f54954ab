/** What both peer adapters need: a promise resolved from a handler, and "wait until the queue is empty". */
import pg from "pg";
import type { HarnessTools } from "../../src/bench/types.js";

/** A promise with its resolve function, for "the last step ran". */
export function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * A connection that waits for a peer's completions to be committed (peers complete jobs after the
 * handler returns, sometimes without awaiting it). Its statements are left out of the round-trip
 * counts: they are the harness watching, not the system working.
 */
export async function openWatcher(
  url: string,
  harness: HarnessTools,
): Promise<{ waitUntilZero(sql: string, params?: unknown[]): Promise<void>; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  harness.excludeFromCounts(client);
  await client.connect();
  return {
    async waitUntilZero(sql, params = []) {
      const deadline = Date.now() + 300_000;
      for (;;) {
        const { rows } = await client.query<{ n: number }>(sql, params);
        if (Number(rows[0]?.n ?? 0) === 0) {
          return;
        }
        if (Date.now() > deadline) {
          throw new Error(`the benchmark waited 300 s for "${sql}" to reach 0; the peer stopped making progress`);
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    close: () => client.end(),
  };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An error handler for peer pools: a client cut by the harness's `DROP DATABASE … WITH (FORCE)`
 * (57P01, after the peer was stopped) is expected; anything else is printed.
 */
export function reportUnlessDropped(what: string): (error: Error & { code?: string }) => void {
  return (error) => {
    if (error.code !== "57P01") {
      process.stderr.write(`${what}: ${error.message}\n`);
    }
  };
}
