/**
 * Flow control (docs/waits-and-flow-control.md, "Flow control"): concurrency keys and rate limits,
 * enforced in the claim across runs and processes, and held tasks woken when their limit frees.
 * Overlaps and spacing are measured from the steps' own start and end times in this process.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { GraphValidationError } from "../../src/errors.js";
import { validateGraph } from "../../src/graph/validate.js";
import { defineStep, type StepContext } from "../../src/composer/steps.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

interface Span {
  task: string;
  key: string;
  start: number;
  end: number;
}

/** A step that records when it ran, keyed by its input's customer. */
function recorder(spans: Span[], ms: (task: string) => number) {
  return async (ctx: StepContext<{ customer: string }>) => {
    const span = { task: ctx.task.id, key: ctx.input.customer, start: performance.now(), end: 0 };
    await new Promise((resolve) => setTimeout(resolve, ms(ctx.task.id)));
    span.end = performance.now();
    spans.push(span);
    return null;
  };
}

const overlaps = (a: Span, b: Span) => a.start < b.end && b.start < a.end;

function pairs<T>(items: T[]): [T, T][] {
  return items.flatMap((a, i) => items.slice(i + 1).map((b): [T, T] => [a, b]));
}

describe.each(STORES)("flow control on %s", (kind) => {
  const orch = useOrchestrator(kind, { leaseMs: 2000 });

  it("a step's concurrency key {{input.customer}} with limit 1 holds across runs, another key runs alongside, and a freed slot wakes the other run", async () => {
    const spans: Span[] = [];
    const customer = `a-${randomUUID()}`;
    const other = `b-${randomUUID()}`;
    // The b tasks run long: the run whose A task is held claims it when the other's slot frees, while
    // its own b still runs (not idle, so no idle poll; no settle of its own either).
    const call = defineStep({
      concurrency: { key: "{{input.customer}}", limit: 1 },
      run: recorder(spans, (task) => (task.startsWith("b") ? 900 : 150)),
    });
    const graph = (n: number) =>
      validateGraph({
        goal: `run ${n}`,
        tasks: [
          { id: `a${n}`, step: "call", input: { customer } },
          { id: `b${n}`, step: "call", input: { customer: other } },
        ],
      });
    const [one, two] = await Promise.all([
      orch().composeFromTaskGraph(graph(1), { call }, { maxParallel: 4 }),
      orch().composeFromTaskGraph(graph(2), { call }, { maxParallel: 4 }),
    ]);
    expect([one.status, two.status]).toEqual(["completed", "completed"]);
    const a = spans.filter((s) => s.key === customer);
    const b = spans.filter((s) => s.key === other);
    expect(a).toHaveLength(2);
    // Never two tasks of key A at once, across the two runs.
    expect(pairs(a).some(([x, y]) => overlaps(x, y))).toBe(false);
    // Key B ran while A did.
    expect(a.some((x) => b.some((y) => overlaps(x, y)))).toBe(true);
    // The held one started after the other A ended, and before its own run's b (900 ms) ended: woken
    // by the freed slot, not by its run's next settle or an idle poll.
    const [first, second] = [...a].sort((x, y) => x.start - y.start) as [Span, Span];
    const ownB = spans.find((s) => s.task === `b${second.task.slice(1)}`)!;
    expect(second.start).toBeGreaterThanOrEqual(first.end);
    expect(second.start).toBeLessThan(ownB.end);
    const { rows } = await orch().db.query<{ queue: string }>(
      `SELECT DISTINCT queue FROM htdag.tasks WHERE run_id = $1 ORDER BY queue`,
      [one.runId],
    );
    expect(rows.map((r) => r.queue).sort()).toEqual([`concurrency:${customer}`, `concurrency:${other}`].sort());
  });

  it("workers of two workflows share a key with limit 1; the freed slot wakes the other workflow's worker (no poll)", async () => {
    const spans: Span[] = [];
    const customer = `w-${randomUUID()}`;
    const step = defineStep({
      concurrency: { key: "{{input.customer}}", limit: 1 },
      run: recorder(spans, () => 200),
    });
    // No poll: a held task is claimed only if the freed slot wakes its worker.
    const workers = await Promise.all([
      orch().startWorker({ workflows: { "flow-x": { call: step } }, pollIntervalMs: 600_000 }),
      orch().startWorker({ workflows: { "flow-y": { call: step } }, pollIntervalMs: 600_000 }),
    ]);
    try {
      const graph = (id: string) => validateGraph({ goal: id, tasks: [{ id, step: "call", input: { customer } }] });
      // A submitted run applies its steps' flow control when the submitter passes them (as queue and priority).
      const x = await orch().submit(graph("x1"), { workflow: "flow-x", steps: { call: step } });
      const y = await orch().submit(graph("y1"), { workflow: "flow-y", steps: { call: step } });
      const results = await Promise.all([
        orch().waitForRun(x.runId, { timeoutMs: 10_000 }),
        orch().waitForRun(y.runId, { timeoutMs: 10_000 }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["completed", "completed"]);
      expect(spans).toHaveLength(2);
      expect(overlaps(spans[0]!, spans[1]!)).toBe(false);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  });

  it("a worker's claim passes over a key at its limit: one busy customer does not hide another's run", async () => {
    const spans: Span[] = [];
    const busy = `busy-${randomUUID()}`;
    const free = `free-${randomUUID()}`;
    const step = defineStep({
      concurrency: { key: "{{input.customer}}", limit: 1 },
      run: recorder(spans, () => 40),
    });
    const steps = { call: step };
    // The busy customer's 12 tasks are older and as urgent: they fill the claim's first look.
    const x = await orch().submit(
      validateGraph({
        goal: "busy",
        tasks: Array.from({ length: 12 }, (_, i) => ({ id: `x${i}`, step: "call", input: { customer: busy } })),
      }),
      { workflow: "flow-fair", steps, maxParallel: 12 },
    );
    const y = await orch().submit(
      validateGraph({ goal: "free", tasks: [{ id: "y", step: "call", input: { customer: free } }] }),
      { workflow: "flow-fair", steps },
    );
    const worker = await orch().startWorker({ workflows: { "flow-fair": steps }, concurrency: 2 });
    try {
      const results = await Promise.all([
        orch().waitForRun(x.runId, { timeoutMs: 10_000 }),
        orch().waitForRun(y.runId, { timeoutMs: 10_000 }),
      ]);
      expect(results.map((r) => r.status)).toEqual(["completed", "completed"]);
    } finally {
      await worker.stop();
    }
    const xs = spans.filter((s) => s.key === busy).sort((p, q) => p.start - q.start);
    expect(xs).toHaveLength(12);
    expect(pairs(xs).some(([p, q]) => overlaps(p, q))).toBe(false);
    // The other customer's task ran while the busy one still had most of its tasks to run.
    const other = spans.find((s) => s.key === free)!;
    expect(other.end).toBeLessThan(xs[6]!.start);
  });

  it("a task's own concurrency and rateLimit override its step's", async () => {
    const shared = `s-${randomUUID()}`;
    const own = `o-${randomUUID()}`;
    const step = defineStep({
      concurrency: { key: shared, limit: 1 },
      rateLimit: { key: shared, limit: 1000, perMs: 1000 },
      run: async () => null,
    });
    const result = await orch().composeFromTaskGraph(
      validateGraph({
        goal: "override",
        tasks: [
          { id: "plain", step: "call" },
          {
            id: "mine",
            step: "call",
            input: { region: "eu" },
            concurrency: { key: `${own}-{{input.region}}`, limit: 3 },
            rateLimit: { key: `${own}-{{input.region}}`, limit: 10, perMs: 1000, burst: 5 },
          },
        ],
      }),
      { call: step },
    );
    expect(result.status).toBe("completed");
    const { rows } = await orch().db.query<{ id: string; queue: string; spec: Record<string, unknown> }>(
      `SELECT id, queue, spec FROM htdag.tasks WHERE run_id = $1 ORDER BY id`,
      [result.runId],
    );
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(byId.plain?.queue).toBe(`concurrency:${shared}`);
    expect(byId.plain?.spec.rateLimit).toEqual({ key: shared, limit: 1000, perMs: 1000 });
    expect(byId.mine?.queue).toBe(`concurrency:${own}-eu`);
    expect(byId.mine?.spec.concurrency).toEqual({ key: `${own}-eu`, limit: 3 });
    expect(byId.mine?.spec.rateLimit).toEqual({ key: `${own}-eu`, limit: 10, perMs: 1000, burst: 5 });
    const queues = await orch().db.query<{ name: string; concurrency: number; running: number }>(
      `SELECT name, concurrency, running FROM htdag.queues WHERE name IN ($1, $2) ORDER BY concurrency`,
      [`concurrency:${shared}`, `concurrency:${own}-eu`],
    );
    expect(queues.rows).toEqual([
      { name: `concurrency:${shared}`, concurrency: 1, running: 0 },
      { name: `concurrency:${own}-eu`, concurrency: 3, running: 0 },
    ]);
  });

  it("a key naming input the task lacks, or a reference, is a GraphValidationError naming the task, the key and the fix", async () => {
    const step = defineStep({ concurrency: { key: "{{input.customer}}", limit: 1 }, run: async () => null });
    const missing = orch().composeFromTaskGraph(
      validateGraph({ goal: "no customer", tasks: [{ id: "lonely", step: "call", input: { name: "x" } }] }),
      { call: step },
    );
    await expect(missing).rejects.toBeInstanceOf(GraphValidationError);
    await expect(missing).rejects.toThrow(
      /its step's concurrency key "\{\{input\.customer\}\}" of task "lonely" names "input\.customer", which the task's input lacks.*give the task that input/,
    );
    const reference = orch().composeFromTaskGraph(
      validateGraph({
        goal: "reference",
        tasks: [
          { id: "first", step: "plain" },
          { id: "second", step: "call", dependsOn: ["first"], input: { customer: "{{ first.id }}" } },
        ],
      }),
      { call: step, plain: async () => ({ id: "c1" }) },
    );
    await expect(reference).rejects.toThrow(
      /task "second" names "input\.customer", a reference, which is not resolved/,
    );
  });

  it("a rate limit of 1 per 200 ms spaces starts; with burst 2 the first two start together", async () => {
    for (const burst of [1, 2]) {
      const starts: number[] = [];
      const step = defineStep({
        rateLimit: { key: `r-${randomUUID()}`, limit: 1, perMs: 200, burst },
        run: async () => void starts.push(performance.now()),
      });
      const result = await orch().composeFromTaskGraph(
        validateGraph({
          goal: `rate ${burst}`,
          tasks: Array.from({ length: 4 }, (_, i) => ({ id: `r${i}`, step: "call" })),
        }),
        { call: step },
        { maxParallel: 4 },
      );
      expect(result.status).toBe("completed");
      starts.sort((x, y) => x - y);
      const since = starts.map((at) => at - starts[0]!);
      // The limit spaces the claims (by the database's clock); a step starts a round trip after its
      // claim, which varies by some ms (the first claim also starts the run): measured from the first.
      if (burst === 1) {
        expect(since[1]).toBeGreaterThanOrEqual(140);
        expect(since[2]).toBeGreaterThanOrEqual(340);
        expect(since[3]).toBeGreaterThanOrEqual(540);
      } else {
        // Two at once (one claim), then one per 200 ms.
        expect(since[1]).toBeLessThan(100);
        expect(since[2]).toBeGreaterThanOrEqual(140);
        expect(since[3]).toBeGreaterThanOrEqual(340);
        expect(since[3]! - since[2]!).toBeGreaterThanOrEqual(140);
      }
    }
  });
});
