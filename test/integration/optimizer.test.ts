/**
 * The optimizer against real run history on both stores: a synthetic workload whose steps behave
 * deterministically by run index (a flaky step failing its first attempt in 3 runs of 10, a step
 * failing for every even input, a slow step whose heavy tail exceeds its timeout), then the changes
 * the optimizer proposes and their evidence, and a run with optimizationLevel applying them.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { validateGraph } from "../../src/graph/validate.js";
import type { Steps, TaskGraph } from "../../src/index.js";
import { createMetricsQueries } from "../../src/store/metrics.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const RUNS = 10;
const WORKFLOW = "synthetic";
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
const indexOf = (runInput: unknown) => (runInput as { index: number }).index;

const steps: Steps = {
  // 120 ms, except every fifth run: 400 ms, past its 300 ms timeout on every attempt.
  slow: async (ctx) => {
    await sleep(indexOf(ctx.runInput) % 5 === 0 ? 400 : 120, ctx.signal);
    return { ok: true };
  },
  // Fails its first attempt in runs 0, 3 and 6 of every 10: transient.
  flaky: async (ctx) => {
    if (ctx.attempt === 1 && [0, 3, 6].includes(indexOf(ctx.runInput) % 10)) {
      throw new Error("flaky: first attempt lost");
    }
    return { ok: true };
  },
  // Fails every attempt for even inputs: deterministic.
  broken: async (ctx) => {
    if (indexOf(ctx.runInput) % 2 === 0) {
      throw new Error("broken: even input");
    }
    return { ok: true };
  },
  side: async () => ({ ok: true }),
};

const graph: TaskGraph = validateGraph({
  goal: "synthetic workload",
  tasks: [
    { id: "slow", step: "slow", timeoutMs: 300, maxAttempts: 2 },
    { id: "flaky", step: "flaky", timeoutMs: 300, maxAttempts: 2 },
    { id: "broken", step: "broken", timeoutMs: 300, maxAttempts: 2 },
    { id: "side", step: "side", dependsOn: ["flaky"], timeoutMs: 300, maxAttempts: 2 },
  ],
});
const runOptions = { workflow: WORKFLOW, failFast: false, backoff: { baseMs: 5, maxMs: 20, jitter: 0 } };

describe.each(STORES)("optimizer on %s", (kind) => {
  const orch = useOrchestrator(kind);

  beforeAll(async () => {
    for (let index = 0; index < RUNS; index++) {
      await orch().composeFromTaskGraph(graph, steps, { ...runOptions, input: { index } });
    }
  }, 60_000);

  it("measures per step: successes, timeouts, transient and deterministic failures, retries", async () => {
    const metrics = await createMetricsQueries(orch().db, "htdag").stepMetrics(WORKFLOW);
    const pick = ({
      key,
      runs,
      attempts,
      successes,
      failures,
      timeouts,
      transientFailures,
      deterministicFailures,
      timeoutOnlyRuns,
      runsNeverSucceeded,
      firstAttemptFailures,
      retries,
      retriesFailed,
    }: (typeof metrics)[number]) => ({
      key,
      runs,
      attempts,
      successes,
      failures,
      timeouts,
      transientFailures,
      deterministicFailures,
      timeoutOnlyRuns,
      runsNeverSucceeded,
      firstAttemptFailures,
      retries,
      retriesFailed,
    });
    expect(metrics.map(pick)).toEqual([
      {
        key: "broken",
        runs: 10,
        attempts: 15,
        successes: 5,
        failures: 10,
        timeouts: 0,
        transientFailures: 0,
        deterministicFailures: 10,
        timeoutOnlyRuns: 0,
        runsNeverSucceeded: 5,
        firstAttemptFailures: 5,
        retries: 5,
        retriesFailed: 5,
      },
      {
        key: "flaky",
        runs: 10,
        attempts: 13,
        successes: 10,
        failures: 3,
        timeouts: 0,
        transientFailures: 3,
        deterministicFailures: 0,
        timeoutOnlyRuns: 0,
        runsNeverSucceeded: 0,
        firstAttemptFailures: 3,
        retries: 3,
        retriesFailed: 0,
      },
      {
        key: "side",
        runs: 10,
        attempts: 10,
        successes: 10,
        failures: 0,
        timeouts: 0,
        transientFailures: 0,
        deterministicFailures: 0,
        timeoutOnlyRuns: 0,
        runsNeverSucceeded: 0,
        firstAttemptFailures: 0,
        retries: 0,
        retriesFailed: 0,
      },
      {
        key: "slow",
        runs: 10,
        attempts: 12,
        successes: 8,
        failures: 0,
        timeouts: 4,
        transientFailures: 0,
        deterministicFailures: 4,
        timeoutOnlyRuns: 2,
        runsNeverSucceeded: 2,
        firstAttemptFailures: 2,
        retries: 2,
        retriesFailed: 2,
      },
    ]);
    const slow = metrics.find((m) => m.key === "slow")!;
    // Successes sleep 120 ms; the two slow runs' attempts were cut at their 300 ms timeout.
    expect(slow.p50Ms).toBeGreaterThanOrEqual(120);
    expect(slow.maxSuccessMs).toBeLessThan(300);
    expect(slow.timeoutWaitMs).toBeGreaterThanOrEqual(4 * 300);
  });

  it("raises the slow step's timeout where every attempt timed out and the flaky step's attempts, and nothing for the broken step", async () => {
    const result = await orch().optimizer.optimizeWorkflow(graph, { workflow: WORKFLOW, timeoutThresholdMs: 100 });
    const byKey = Object.fromEntries(result.changes.map((c) => [`${c.taskId}.${c.field}`, c]));
    expect(Object.keys(byKey).sort()).toEqual(["flaky.maxAttempts", "slow.timeoutMs"]);
    expect(byKey["slow.timeoutMs"]).toMatchObject({
      from: 300,
      to: 600,
      evidence: { samples: 12, statistic: "unrecoveredTimeouts", value: 4 },
    });
    expect(byKey["slow.timeoutMs"]!.confidence).toBeCloseTo(8 / 9, 6);
    expect(byKey["flaky.maxAttempts"]).toMatchObject({
      from: 2,
      to: 9,
      evidence: { samples: 10, statistic: "transientFailureRate", value: 0.231 },
    });
    expect(result.graph.tasks.map((t) => [t.id, t.timeoutMs, t.maxAttempts])).toEqual([
      ["slow", 600, 2],
      ["flaky", 300, 9],
      ["broken", 300, 2],
      ["side", 300, 2],
    ]);
    expect(result.graph.tasks.map((t) => t.dependsOn)).toEqual(graph.tasks.map((t) => t.dependsOn));
  });

  it("reports the same history as recommendations, with warnings for the deterministic and frequent transient failures", async () => {
    const recommendations = await orch().optimizer.getRecommendations(graph, {
      workflow: WORKFLOW,
      timeoutThresholdMs: 100,
    });
    expect(recommendations.timeoutAdjustments).toEqual({ slow: 600 });
    expect(recommendations.failedPatternWarnings).toEqual([
      "slow: never completed in 2 of 10 runs (4 attempts timed out); it is slower than its timeout there — raise timeoutMs (see timeoutAdjustments)",
      "flaky: the first attempt failed in 3 of 10 runs and a later attempt succeeded (transient rate 0.3 > 0.2); " +
        "retries hide it at the cost of time — make the step more reliable",
      "broken: never completed in 5 of 10 runs (10 failed attempts); more attempts will not fix it — fix the step or its input",
    ]);
    expect(recommendations.parallelizablePairs).toContainEqual(["slow", "broken"]);
    expect(recommendations.parallelizablePairs).not.toContainEqual(["flaky", "side"]);
  });

  it("changes nothing with too few samples and says aggressive needs 100 runs", async () => {
    expect(
      (await orch().optimizer.optimizeWorkflow(graph, { workflow: WORKFLOW, timeoutThresholdMs: 100, minSamples: 50 }))
        .changes,
    ).toEqual([]);
    const aggressive = await orch().optimizer.optimizeWorkflow(graph, {
      workflow: WORKFLOW,
      timeoutThresholdMs: 100,
      level: "aggressive",
    });
    expect(aggressive.notes).toEqual([
      `aggressive needs ≥ 100 finished runs of the workflow, found ${RUNS}: fell back to advanced`,
    ]);
  });

  it("applies the changes to a run with optimizationLevel, records them and emits optimization events", async () => {
    const result = await orch().composeFromTaskGraph(graph, steps, {
      ...runOptions,
      input: { index: 5 },
      optimizationLevel: "basic",
      optimize: { timeoutThresholdMs: 100 },
    });
    const { rows } = await orch().db.query<{ timeout_ms: number; max_attempts: number; id: string }>(
      `SELECT id, timeout_ms, max_attempts FROM htdag.tasks WHERE run_id = $1 ORDER BY position`,
      [result.runId],
    );
    // Run 5 is slow (400 ms): the raised 600 ms timeout lets it complete.
    expect(rows.find((r) => r.id === "slow")).toMatchObject({ timeout_ms: 600 });
    expect(rows.find((r) => r.id === "flaky")).toMatchObject({ max_attempts: 9 });
    expect(result.tasks.find((t) => t.id === "slow")?.status).toBe("completed");
    const run = await orch().db.query<{
      options: { optimization: { level: string; changes: { taskId: string; field: string }[] } };
    }>(`SELECT options FROM htdag.runs WHERE id = $1`, [result.runId]);
    expect(run.rows[0]!.options.optimization.changes.map((c) => `${c.taskId}.${c.field}`).sort()).toEqual([
      "flaky.maxAttempts",
      "slow.timeoutMs",
    ]);
    const events = await orch().db.query<{
      type: string;
      run_id: string | null;
      payload: { level: string; changes?: number };
    }>(
      `SELECT type, run_id, payload FROM htdag.events WHERE type IN ('optimization:started', 'optimization:completed') AND workflow = $1 ORDER BY id`,
      [WORKFLOW],
    );
    expect(events.rows.map((e) => [e.type, e.payload.level, e.payload.changes ?? null, e.run_id])).toEqual([
      ["optimization:started", "basic", null, null],
      ["optimization:completed", "basic", 2, result.runId],
    ]);
  });
  it("emits optimization:recommended from getRecommendations, for the workflow and the run named", async () => {
    const last = (await orch().listRuns({ workflow: WORKFLOW, limit: 1 }))[0]!;
    const advice = await orch().optimizer.getRecommendations(graph, {
      workflow: WORKFLOW,
      timeoutThresholdMs: 100,
      runId: last.runId,
    });
    const { rows } = await orch().db.query<{
      run_id: string | null;
      workflow: string;
      payload: Record<string, unknown>;
    }>(
      `SELECT run_id, workflow, payload FROM htdag.events WHERE type = 'optimization:recommended' ORDER BY id DESC LIMIT 1`,
    );
    expect(rows[0]).toMatchObject({
      run_id: last.runId,
      workflow: WORKFLOW,
      payload: {
        level: "basic",
        graphId: graph.id,
        changes: advice.changes.length,
        timeoutAdjustments: advice.timeoutAdjustments,
        resourceAllocation: { maxParallel: 10, queues: {} },
      },
    });
    expect(Object.keys(advice.timeoutAdjustments)).toEqual(["slow"]);
    expect(rows[0]!.payload.failedPatternWarnings).toHaveLength(3);
  });

  it("stores a tuning that the next run applies without an optimizationLevel, and removes it", async () => {
    const tuned = await orch().optimizer.optimizeWorkflow(
      graph,
      { workflow: WORKFLOW, timeoutThresholdMs: 100 },
      { backoff: { ...runOptions.backoff, kind: "exponential" } },
    );
    const stored = await orch().optimizer.storeTuning(WORKFLOW, graph.goal, tuned);
    expect(stored.changes.map((c) => `${c.taskId}.${c.field}`).sort()).toEqual(["flaky.maxAttempts", "slow.timeoutMs"]);
    expect((await orch().optimizer.storedTuning(WORKFLOW))?.changes).toEqual(tuned.changes);
    const result = await orch().composeFromTaskGraph(graph, steps, { ...runOptions, input: { index: 5 } });
    const { rows } = await orch().db.query<{ id: string; timeout_ms: number; max_attempts: number }>(
      `SELECT id, timeout_ms, max_attempts FROM htdag.tasks WHERE run_id = $1 ORDER BY position`,
      [result.runId],
    );
    // The run with optimizationLevel above completed a 400 ms slow step: its timeout is now from that history.
    const to = (id: string, field: string) => tuned.changes.find((c) => c.taskId === id && c.field === field)?.to;
    expect(to("slow", "timeoutMs")).toBeGreaterThanOrEqual(600);
    expect(rows.map((r) => [r.id, r.timeout_ms, r.max_attempts])).toEqual([
      ["slow", to("slow", "timeoutMs"), 2],
      ["flaky", 300, to("flaky", "maxAttempts")],
      ["broken", 300, 2],
      ["side", 300, 2],
    ]);
    const run = await orch().db.query<{
      options: { optimization: { level: string; stored: { level: string; skipped: string[] } } };
    }>(`SELECT options FROM htdag.runs WHERE id = $1`, [result.runId]);
    expect(run.rows[0]!.options.optimization).toMatchObject({
      level: "basic",
      stored: { level: "basic", skipped: [] },
    });
    const events = await orch().db.query<{ payload: { changes: number; stored?: unknown } }>(
      `SELECT payload FROM htdag.events WHERE type = 'optimization:completed' AND run_id = $1`,
      [result.runId],
    );
    expect(events.rows[0]!.payload).toMatchObject({ changes: 2, stored: { level: "basic" } });
    expect(await orch().optimizer.clearTuning(WORKFLOW)).toBe(true);
    const after = await orch().composeFromTaskGraph(graph, steps, { ...runOptions, input: { index: 1 } });
    const untouched = await orch().db.query<{ timeout_ms: number }>(
      `SELECT timeout_ms FROM htdag.tasks WHERE run_id = $1 AND id = 'slow'`,
      [after.runId],
    );
    expect(untouched.rows[0]!.timeout_ms).toBe(300);
  });
});
