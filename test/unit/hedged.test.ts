import { describe, expect, it } from "vitest";
import { hedged } from "../../src/composer/attempt.js";

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/** A run whose n-th call (0-based) waits `ms[n]` then returns `n`, or throws when `fails[n]`. */
function runs(ms: number[], fails: boolean[] = []) {
  const calls: { index: number; aborted: () => boolean }[] = [];
  const run = async (signal: AbortSignal) => {
    const index = calls.length;
    calls.push({ index, aborted: () => signal.aborted });
    await sleep(ms[index]!, signal);
    if (fails[index]) {
      throw new Error(`run ${index} failed`);
    }
    return index;
  };
  return { run, calls };
}

describe("hedged", () => {
  it("runs once when the first run ends before the threshold", async () => {
    const { run, calls } = runs([5]);
    let hedges = 0;
    await expect(hedged(50, run, new AbortController().signal, () => hedges++)).resolves.toBe(0);
    await sleep(60, new AbortController().signal);
    expect(calls).toHaveLength(1);
    expect(hedges).toBe(0);
  });

  it("starts a second run past the threshold; the first to succeed wins and the other is aborted", async () => {
    const { run, calls } = runs([1000, 10]);
    let hedges = 0;
    await expect(hedged(20, run, new AbortController().signal, () => hedges++)).resolves.toBe(1);
    expect(hedges).toBe(1);
    expect(calls[0]!.aborted()).toBe(true);
    expect(calls[1]!.aborted()).toBe(false);
  });

  it("fails at once when the first run fails before the threshold, without a second run", async () => {
    const { run, calls } = runs([5], [true]);
    await expect(hedged(50, run, new AbortController().signal, () => undefined)).rejects.toThrow("run 0 failed");
    await sleep(60, new AbortController().signal);
    expect(calls).toHaveLength(1);
  });

  it("a failure waits for the other run; when both fail the first failure counts", async () => {
    const one = runs([40, 60], [true, false]);
    await expect(hedged(10, one.run, new AbortController().signal, () => undefined)).resolves.toBe(1);
    const both = runs([40, 60], [true, true]);
    await expect(hedged(10, both.run, new AbortController().signal, () => undefined)).rejects.toThrow("run 0 failed");
  });

  it("aborting the attempt aborts both runs", async () => {
    const { run, calls } = runs([1000, 1000]);
    const attempt = new AbortController();
    const result = hedged(10, run, attempt.signal, () => undefined);
    await sleep(30, new AbortController().signal);
    attempt.abort(new Error("timed out"));
    await expect(result).rejects.toThrow("timed out");
    expect(calls.map((c) => c.aborted())).toEqual([true, true]);
  });
});
