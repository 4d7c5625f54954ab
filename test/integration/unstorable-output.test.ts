/**
 * Values PostgreSQL cannot store in jsonb: a NUL character (`\u0000`) in a string or a key, an
 * unpaired surrogate, an output over the size limit. Outputs are checked before they are sent, so
 * the task fails (non-retryably) with an error that names the problem, error messages are made
 * storable, and a batched settle keeps the settlements of the other tasks; batches are split
 * below the byte budget.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { aesGcmCodec, type Steps, type TaskGraph } from "../../src/index.js";
import { validateGraph } from "../../src/graph/validate.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { gate } from "../helpers/wait.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const graphOf = (goal: string, tasks: TaskSpec[]): TaskGraph => validateGraph({ goal, tasks });
const fast = { backoff: { baseMs: 5, maxMs: 20, jitter: 0 } };

/** Steps that each wait until `count` of them have started, then end in the same turn of the event loop. */
function together(count: number) {
  const all = gate();
  let arrived = 0;
  return async <T>(output: T): Promise<T> => {
    if (++arrived === count) {
      all.open();
    }
    await all.promise;
    return output;
  };
}

/** Records the settlements of every settle_tasks call (one call per batch); the calls still reach the database. */
function watchSettles(orch: Orchestrator) {
  const calls: { taskId: string; outcome: string; output?: unknown }[][] = [];
  const query = orch.db.query.bind(orch.db);
  const spy = vi.spyOn(orch.db, "query").mockImplementation(((sql: string, params?: readonly unknown[], options?) => {
    if (sql.includes(".settle_tasks(")) {
      calls.push(JSON.parse(params![2] as string));
    }
    return query(sql, params, options);
  }) as typeof query);
  return { calls, restore: () => spy.mockRestore() };
}

async function attemptsOf(orch: Orchestrator, runId: string, taskId: string) {
  const { rows } = await orch.db.query<{ status: string; error: { message: string } | null; error_class: string }>(
    `SELECT status, error, error_class FROM htdag.attempts WHERE run_id = $1 AND task_id = $2 ORDER BY attempt`,
    [runId, taskId],
  );
  return rows;
}

const nulAt = (taskId: string, where: string) =>
  `output of task "${taskId}" contains a NUL character (\\u0000) ${where}, which PostgreSQL cannot store; ` +
  `remove it or encode the value (e.g. base64)`;

describe.each(STORES)("outputs and errors PostgreSQL cannot store, on %s", (kind) => {
  const orch = useOrchestrator(kind);
  afterEach(() => vi.restoreAllMocks());

  it("fails a task whose output holds a NUL in a string at once, naming where; failFast fails the run", async () => {
    let calls = 0;
    const result = await orch().composeFromTaskGraph(
      graphOf("nul value", [{ id: "bad" }, { id: "after", dependsOn: ["bad"] }]),
      {
        bad: async () => {
          calls++;
          return { a: { b: "x\u0000y" } };
        },
        after: async () => "never",
      },
      { ...fast, maxAttempts: 3 },
    );
    expect(result.status).toBe("failed");
    expect(calls).toBe(1);
    const bad = result.tasks.find((t) => t.id === "bad")!;
    expect(bad).toMatchObject({ status: "failed", attempts: 1 });
    expect(bad.error?.message).toBe(nulAt("bad", "at output.a.b"));
    expect(result.tasks.find((t) => t.id === "after")?.status).toBe("cancelled");
    expect(await attemptsOf(orch(), result.runId, "bad")).toEqual([
      {
        status: "failed",
        error: expect.objectContaining({ name: "UnstorableOutputError", code: "UNSTORABLE_OUTPUT" }),
        error_class: "UnstorableOutputError",
      },
    ]);
  });

  it("fails a task whose output has a NUL in a key; without failFast the other branch completes", async () => {
    const result = await orch().composeFromTaskGraph(
      graphOf("nul key", [{ id: "bad" }, { id: "other" }, { id: "next", dependsOn: ["other"] }]),
      {
        bad: async () => ({ list: [{ "k\u0000ey": 1 }] }),
        other: async () => ({ n: 2 }),
        next: async (ctx) => ({ got: ctx.deps.other }),
      },
      { failFast: false },
    );
    expect(result.status).toBe("failed");
    expect(result.tasks.find((t) => t.id === "bad")?.error?.message).toBe(
      nulAt("bad", 'in the key "k\\u0000ey" of output.list[0]'),
    );
    expect(result.outputs).toEqual({ other: { n: 2 }, next: { got: { n: 2 } } });
  });

  it("fails a task whose output holds an unpaired surrogate, naming it", async () => {
    const result = await orch().composeFromTaskGraph(graphOf("surrogate", [{ id: "bad" }]), {
      bad: async () => ["ok", "half \ud83d of an emoji"],
    });
    expect(result.status).toBe("failed");
    expect(result.tasks[0]?.error?.message).toBe(
      `output of task "bad" contains an unpaired UTF-16 surrogate (\\ud83d) at output[1], which PostgreSQL ` +
        `cannot store; remove it or encode the value (e.g. base64)`,
    );
  });

  it("stores an error message with a NUL with the NUL replaced, and retries as usual", async () => {
    let calls = 0;
    const result = await orch().composeFromTaskGraph(
      graphOf("nul error", [{ id: "throws" }]),
      {
        throws: async () => {
          calls++;
          const error = new Error(`bad byte \u0000 in attempt ${calls}, and half \ud83d an emoji`);
          error.name = "Weird\u0000Error";
          throw error;
        },
      },
      { ...fast, maxAttempts: 2 },
    );
    expect(result.status).toBe("failed");
    expect(calls).toBe(2);
    expect(result.tasks[0]).toMatchObject({ status: "failed", attempts: 2 });
    expect(result.tasks[0]?.error?.message).toBe("bad byte \ufffd in attempt 2, and half \ufffd an emoji");
    expect(await attemptsOf(orch(), result.runId, "throws")).toEqual(
      [1, 2].map((n) => ({
        status: "failed",
        error: { name: "Weird\ufffdError", message: `bad byte \ufffd in attempt ${n}, and half \ufffd an emoji` },
        error_class: "Weird\ufffdError",
      })),
    );
  });

  it("keeps the completion of a good task settled in the same batch as a refused one", async () => {
    const settles = watchSettles(orch());
    const arrive = together(2);
    const result = await orch().composeFromTaskGraph(
      graphOf("batch", [
        { id: "good" },
        { id: "bad" },
        { id: "good-next", dependsOn: ["good"] },
        { id: "bad-next", dependsOn: ["bad"] },
      ]),
      {
        good: () => arrive({ kept: true }),
        bad: () => arrive({ text: "\u0000" }),
        "good-next": async (ctx) => ({ saw: ctx.deps.good }),
        "bad-next": async () => "never",
      },
      { failFast: false },
    );
    settles.restore();
    // Both ended in one turn of the event loop: they were settled by one call.
    expect(settles.calls.map((batch) => batch.map((s) => `${s.taskId}:${s.outcome}`).sort())).toContainEqual([
      "bad:failed",
      "good:completed",
    ]);
    expect(result.status).toBe("failed");
    expect(result.outputs).toEqual({ good: { kept: true }, "good-next": { saw: { kept: true } } });
    expect(result.tasks.find((t) => t.id === "bad-next")?.status).toBe("cancelled");
    expect((await attemptsOf(orch(), result.runId, "good")).map((a) => a.status)).toEqual(["completed"]);
    expect((await attemptsOf(orch(), result.runId, "bad")).map((a) => a.error_class)).toEqual([
      "UnstorableOutputError",
    ]);
  });

  it("a worker settling a refused output with a good one in one batch keeps the good one; the run ends", async () => {
    const settles = watchSettles(orch());
    const arrive = together(2);
    const worker = await orch().startWorker({
      workflows: {
        "worker-batch": {
          good: () => arrive("kept"),
          bad: () => arrive({ "\u0000": "key" }),
          "good-next": async (ctx: { deps: Record<string, unknown> }) => `saw ${String(ctx.deps.good)}`,
        },
      },
    });
    try {
      const { runId } = await orch().submit(
        graphOf("worker batch", [{ id: "good" }, { id: "bad" }, { id: "good-next", dependsOn: ["good"] }]),
        { workflow: "worker-batch", failFast: false },
      );
      const result = await orch().waitForRun(runId, { timeoutMs: 10_000 });
      expect(settles.calls.map((batch) => batch.map((s) => `${s.taskId}:${s.outcome}`).sort())).toContainEqual([
        "bad:failed",
        "good:completed",
      ]);
      expect(result.status).toBe("failed");
      expect(result.outputs).toEqual({ good: "kept", "good-next": "saw kept" });
      expect(result.tasks.find((t) => t.id === "bad")?.error?.message).toBe(
        nulAt("bad", 'in the key "\\u0000" of output'),
      );
    } finally {
      settles.restore();
      await worker.stop();
    }
  });
});

describe.each(STORES)("output size limits on %s", (kind) => {
  const limit = 1024 * 1024;
  const orch = useOrchestrator(kind, { maxOutputBytes: limit });
  afterEach(() => vi.restoreAllMocks());

  it("fails a task whose output is over maxOutputBytes at once, naming the size and the limit", async () => {
    let calls = 0;
    const result = await orch().composeFromTaskGraph(
      graphOf("too large", [{ id: "huge" }]),
      {
        huge: async () => {
          calls++;
          return "x".repeat(limit);
        },
      },
      { ...fast, maxAttempts: 3 },
    );
    expect(result.status).toBe("failed");
    expect(calls).toBe(1);
    expect(result.tasks[0]?.error?.message).toBe(
      `output of task "huge" is 1048578 bytes of JSON as stored, more than maxOutputBytes 1048576; ` +
        `store large data elsewhere (a file, an object store) and return a reference to it, or raise maxOutputBytes`,
    );
    expect((await attemptsOf(orch(), result.runId, "huge"))[0]?.error_class).toBe("OutputTooLargeError");
  });

  it("settles outputs that together pass the budget in several calls, and completes them all", async () => {
    const settles = watchSettles(orch());
    const arrive = together(3);
    const part = (id: string) => id.repeat(400_000);
    const result = await orch().composeFromTaskGraph(
      graphOf("split", [{ id: "a" }, { id: "b" }, { id: "c" }, { id: "sum", dependsOn: ["a", "b", "c"] }]),
      {
        a: () => arrive(part("a")),
        b: () => arrive(part("b")),
        c: () => arrive(part("c")),
        sum: async (ctx) => Object.values(ctx.deps).map((v) => (v as string).length),
      } satisfies Steps,
    );
    settles.restore();
    expect(result.status).toBe("completed");
    expect(result.outputs).toEqual({ a: part("a"), b: part("b"), c: part("c"), sum: [400_000, 400_000, 400_000] });
    const carrying = settles.calls.filter((batch) => batch.some((s) => ["a", "b", "c"].includes(s.taskId)));
    expect(
      carrying
        .flat()
        .map((s) => s.taskId)
        .sort(),
    ).toEqual(["a", "b", "c"]);
    expect(carrying.length).toBeGreaterThan(1);
    for (const batch of carrying) {
      expect(Buffer.byteLength(JSON.stringify(batch.map((s) => s.output)))).toBeLessThanOrEqual(limit + 16);
    }
  });
});

describe.each(STORES)("output size limits with a codec on %s", (kind) => {
  const orch = useOrchestrator(kind, { maxOutputBytes: 1024 * 1024, codec: aesGcmCodec("a passphrase") });

  it("checks the size of the encrypted output, as it is stored", async () => {
    const result = await orch().composeFromTaskGraph(
      graphOf("codec", [{ id: "big" }, { id: "nul" }]),
      {
        // 900 kB of JSON, about 1.2 MB once encrypted and base64-encoded.
        big: async () => "z".repeat(900_000),
        // Encrypted, a NUL is stored as ciphertext: nothing to refuse.
        nul: async () => "a\u0000b",
      },
      { failFast: false },
    );
    expect(result.tasks.find((t) => t.id === "big")?.error?.message).toMatch(
      /^output of task "big" is 12\d{5} bytes of JSON as stored, more than maxOutputBytes 1048576;/,
    );
    expect(result.outputs).toEqual({ nul: "a\u0000b" });
  });
});
