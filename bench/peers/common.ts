/** What both peer adapters need: a promise resolved from a handler, and "wait until the queue is empty" (src/bench/watcher.ts). */
export { openWatcher } from "../../src/bench/watcher.js";

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
