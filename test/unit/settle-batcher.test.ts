import { describe, expect, it } from "vitest";
import { SettleBatcher } from "../../src/composer/settle-batcher.js";
import type { Settlement } from "../../src/store/tasks.js";

const settlement = (taskId: string): Settlement => ({
  runId: "r",
  taskId,
  attempt: 1,
  outcome: "completed",
  output: null,
});

/** A send that records each batch's task ids and returns when `release` is called. */
function recorder() {
  const batches: string[][] = [];
  let release: () => void = () => undefined;
  const send = (batch: readonly Settlement[]) => {
    batches.push(batch.map((s) => s.taskId));
    return new Promise<void>((resolve) => (release = resolve));
  };
  return { batches, send, release: () => release() };
}

describe("SettleBatcher", () => {
  it("sends a lone settlement at once, and those that arrive meanwhile together after it", async () => {
    const r = recorder();
    const batcher = new SettleBatcher(r.send, 100);
    const first = batcher.settle(settlement("a"));
    expect(r.batches).toEqual([["a"]]);
    const rest = [batcher.settle(settlement("b")), batcher.settle(settlement("c"))];
    expect(r.batches).toEqual([["a"]]);
    r.release();
    await first;
    await Promise.resolve();
    expect(r.batches).toEqual([["a"], ["b", "c"]]);
    r.release();
    await Promise.all(rest);
    expect(batcher.idle).toBe(true);
  });

  it("never sends more than maxBatch settlements in one call", async () => {
    const sent: string[][] = [];
    const batcher = new SettleBatcher(async (batch) => void sent.push(batch.map((s) => s.taskId)), 2);
    await Promise.all(["a", "b", "c", "d", "e"].map((id) => batcher.settle(settlement(id))));
    expect(sent).toEqual([["a"], ["b", "c"], ["d", "e"]]);
  });

  it("waits one event-loop turn for others of the run that still run, then sends them together", async () => {
    const sent: string[][] = [];
    const running = 3;
    const batcher = new SettleBatcher(
      async (batch) => void sent.push(batch.map((s) => s.taskId)),
      100,
      (queued) => running > queued,
    );
    const done = ["a", "b", "c"].map((id) => batcher.settle(settlement(id)));
    expect(sent).toEqual([]);
    await Promise.all(done);
    expect(sent).toEqual([["a", "b", "c"]]);
  });

  it("never sends more than maxBatchBytes of outputs in one call, and a larger output alone", async () => {
    const sent: string[][] = [];
    const sized = (taskId: string, outputBytes: number): Settlement => ({ ...settlement(taskId), outputBytes });
    // Others still run: the settlements that end in this turn are queued together, then split by size.
    const batcher = new SettleBatcher(
      async (batch) => void sent.push(batch.map((s) => s.taskId)),
      100,
      () => true,
      10,
    );
    await Promise.all(
      [sized("a", 4), sized("b", 6), sized("c", 4), sized("d", 12), sized("e", 1), settlement("f")].map((s) =>
        batcher.settle(s),
      ),
    );
    expect(sent).toEqual([["a", "b"], ["c"], ["d"], ["e", "f"]]);
  });

  it("rejects every settlement of a batch whose send failed, and goes on with the next batch", async () => {
    let calls = 0;
    const batcher = new SettleBatcher(async () => {
      calls++;
      if (calls === 1) {
        throw new Error("connection lost");
      }
    }, 100);
    await expect(batcher.settle(settlement("a"))).rejects.toThrow("connection lost");
    await expect(batcher.settle(settlement("b"))).resolves.toBeUndefined();
    expect(batcher.idle).toBe(true);
  });
});
