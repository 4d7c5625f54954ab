/** Hedged re-runs through a real run: an idempotent task with hedgeAfterMs whose first run hangs. */
import { describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import { defineStep } from "../../src/index.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

describe.each(STORES)("hedging on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("an idempotent straggler gets a second run past hedgeAfterMs; the first to finish completes the attempt", async () => {
    let calls = 0;
    const aborted: boolean[] = [];
    const fetch = defineStep({
      idempotent: true,
      run: async ({ signal }) => {
        const call = calls++;
        // The first run hangs until it is aborted; the second answers at once.
        if (call === 0) {
          await new Promise<void>((resolve) =>
            signal.addEventListener(
              "abort",
              () => {
                aborted.push(true);
                resolve();
              },
              { once: true },
            ),
          );
        }
        return { call };
      },
    });
    const graph = validateGraph({ goal: "hedge", tasks: [{ id: "fetch", hedgeAfterMs: 50, timeoutMs: 10_000 }] });
    const startedAt = Date.now();
    const result = await orch().composeFromTaskGraph(graph, { fetch });
    expect(result.status).toBe("completed");
    expect(result.outputs.fetch).toEqual({ call: 1 });
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(aborted).toEqual([true]);
    const attempts = await orch().db.query<{ attempt: number; status: string }>(
      `SELECT attempt, status FROM htdag.attempts WHERE run_id = $1`,
      [result.runId],
    );
    expect(attempts.rows).toEqual([{ attempt: 1, status: "completed" }]);
    const logs = await orch().db.query<{ message: string }>(`SELECT message FROM htdag.task_logs WHERE run_id = $1`, [
      result.runId,
    ]);
    expect(logs.rows.map((r) => r.message)).toEqual([expect.stringContaining("hedged")]);
  });

  it("a task that is not idempotent is never hedged", async () => {
    let calls = 0;
    const graph = validateGraph({ goal: "no hedge", tasks: [{ id: "slow", hedgeAfterMs: 10 }] });
    const result = await orch().composeFromTaskGraph(graph, {
      slow: async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 80));
        return calls;
      },
    });
    expect(result.status).toBe("completed");
    expect(calls).toBe(1);
  });
});
