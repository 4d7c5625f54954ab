/**
 * The store-backed entry points against hostile input, on Postgres and PGlite: composeFromTaskGraph,
 * submit, decomposeGoal, run control and listRuns with junk graphs, junk options and junk goals,
 * and steps whose outputs JSON cannot hold. Each call ends in a typed htdag error (a hostile
 * output: a task failed with one), the process stays up, and the runs already stored are the same
 * row for row afterwards.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  DecompositionError,
  GraphValidationError,
  HtdagError,
  InvalidOptionError,
  NonJsonOutputError,
} from "../../src/errors.js";
import type { Steps } from "../../src/composer/steps.js";
import { collectGraphIssues, validateGraph } from "../../src/graph/validate.js";
import type { TaskGraph } from "../../src/graph/task-graph.js";
import type { Orchestrator } from "../../src/orchestrator/orchestrator.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";
import {
  caseCounter,
  cyclic,
  expectNoPollution,
  expectTyped,
  hostileGraph,
  hostileLeaf,
  hostileString,
  hostileValue,
  jsonBomb,
  nested,
  protoObject,
  unstorableString,
} from "./hostile.js";

const steps: Steps = { a: async () => ({ ok: true }), b: async (ctx) => ({ seen: ctx.deps }) };
const graph = (goal = "a stored run"): TaskGraph =>
  validateGraph({ goal, tasks: [{ id: "a" }, { id: "b", dependsOn: ["a"] }] });

/** Every row of the tables that hold runs, as JSON, and how many events and decompositions there are. */
async function snapshot(orch: Orchestrator) {
  const rows = async (table: string, order: string) =>
    JSON.stringify((await orch.db.query(`SELECT to_jsonb(t) AS row FROM htdag.${table} t ORDER BY ${order}`)).rows);
  return {
    runs: await rows("runs", "id"),
    tasks: await rows("tasks", "run_id, id"),
    attempts: await rows("attempts", "run_id, task_id, attempt"),
    graphs: await rows("graphs", "id"),
    workflows: await rows("workflows", "name"),
  };
}

/** Options that must be refused: of the wrong type, out of range, unknown, or holding text PostgreSQL refuses. */
const badRunOptions: fc.Arbitrary<unknown> = fc.oneof(
  fc.oneof(
    fc.integer(),
    hostileString,
    fc.constant([]),
    fc.constant(() => 1),
    fc.bigInt(),
    fc.constant(new Date()),
  ),
  fc
    .record({
      option: fc.constantFrom("maxParallel", "timeoutMs", "taskTimeoutMs", "maxAttempts", "priority", "maxDepth"),
      value: fc.oneof(fc.constantFrom(-1, 0, 1.5, Number.NaN, Infinity, 1e12), hostileString, fc.bigInt()),
    })
    .filter(
      ({ option, value }) => !(option === "priority" && Number.isInteger(value) && Math.abs(value as number) <= 1000),
    )
    .map(({ option, value }) => ({ [option]: value })),
  fc
    .record({
      option: fc.constantFrom("workflow", "queue", "idempotencyKey"),
      value: fc.oneof(
        unstorableString.map((s) => `k${s}`),
        fc.integer(),
        fc.constant(""),
        fc.constant("x".repeat(600)),
      ),
    })
    .map(({ option, value }) => ({ [option]: value })),
  fc
    .oneof(
      unstorableString,
      hostileLeaf.filter(
        (v) =>
          typeof v !== "string" &&
          v !== null &&
          typeof v !== "boolean" &&
          !(typeof v === "number" && Number.isFinite(v)),
      ),
    )
    .map((input) => ({ input: { deep: [input] } })),
  fc.record({ realTimeNotifications: fc.constantFrom("sometimes", 1) }),
  fc.record({ queues: fc.constantFrom({ q: -1 }, { "": 1 }, { "q\u0000": 1 }) }),
  protoObject,
  fc.constantFrom({ unknownOption: 1 }, { optimizationLevel: "max" }, { failFast: "no" }),
);

/** decomposeGoal options that must be refused. */
const badDecomposeOptions: fc.Arbitrary<unknown> = fc.oneof(
  fc.oneof(fc.integer(), hostileString, fc.constant([])),
  fc
    .record({
      option: fc.constantFrom("maxDepth", "timeoutMs", "cache", "steps", "catalogue", "upstream"),
      value: fc.oneof(fc.constantFrom(-1, 0, 1.5, Number.NaN, 1e12, "x", [1]), fc.constant([{ name: "s\u0000" }])),
    })
    .filter(({ option, value }) => !(option === "upstream" && Array.isArray(value)))
    .map(({ option, value }) => ({ [option]: value })),
  fc.constantFrom({ unknown: true }, { steps: { a: 5 } }),
);

/** A decomposer result that stands for a decomposer throwing a BigInt. */
const THROW = Symbol("throw");

/** A graph that validation refuses (a hostile graph that happens to validate is skipped). */
const refusedGraph = hostileGraph.filter((input) => collectGraphIssues(input).graph === null);

/**
 * Whether decomposeGoal refuses `answer` from a decomposer: it reads an array as the tasks, and
 * gives an object without a goal the goal it asked for.
 */
function refusedAnswer(answer: unknown): boolean {
  const plain = answer !== null && typeof answer === "object" && Object.getPrototypeOf(answer) === Object.prototype;
  const read = Array.isArray(answer)
    ? { goal: "plan it", tasks: answer }
    : plain
      ? { goal: "plan it", ...answer }
      : answer;
  return collectGraphIssues(read).graph === null;
}

describe.each(STORES)("hostile input at the store-backed entry points, on %s", (kind) => {
  const orch = useOrchestrator(kind, { onError: () => undefined });
  let stored: Awaited<ReturnType<typeof snapshot>>;
  let storedRunId: string;

  beforeAll(async () => {
    const done = await orch().composeFromTaskGraph(graph(), steps, { workflow: "stored" });
    expect(done.status).toBe("completed");
    storedRunId = done.runId;
    await orch().submit(graph("a submitted run"), { workflow: "nobody-runs-this" });
    stored = await snapshot(orch());
  });

  const expectUnchanged = async () => expect(await snapshot(orch())).toEqual(stored);

  /** Runs `call`; it must reject with a typed error of one of `classes`. */
  async function refused(call: () => Promise<unknown>, ...classes: (abstract new (...args: never[]) => HtdagError)[]) {
    let outcome: unknown;
    try {
      outcome = await call();
    } catch (error) {
      outcome = error;
    }
    expectTyped(outcome, ...classes);
    expectNoPollution();
  }

  it("composeFromTaskGraph and submit refuse hostile graphs and options with a typed error", async () => {
    const cases = caseCounter(`${kind}: composeFromTaskGraph/submit(hostile graph or options)`);
    const call = fc.oneof(
      fc.record({ graph: refusedGraph, options: fc.constant({}) }),
      fc.record({ graph: fc.constant(graph("valid graph, bad options")), options: badRunOptions }),
    );
    await fc.assert(
      fc.asyncProperty(call, fc.boolean(), async ({ graph: input, options }, viaSubmit) => {
        cases.count();
        if (viaSubmit) {
          const submitOptions =
            options !== null && typeof options === "object" && Object.getPrototypeOf(options) === Object.prototype
              ? { workflow: "fuzz", ...options }
              : options;
          await refused(() => orch().submit(input as TaskGraph, submitOptions as never));
        } else {
          await refused(() => orch().composeFromTaskGraph(input as TaskGraph, steps, options as never));
        }
      }),
      { numRuns: 250 },
    );
    cases.report(250);
    await expectUnchanged();
  });

  it("composeFromTaskGraph refuses steps of the wrong type", async () => {
    const cases = caseCounter(`${kind}: composeFromTaskGraph(hostile steps)`);
    const badSteps = fc.oneof(
      hostileLeaf.filter((v) => typeof v !== "object" || v === null || v instanceof Date),
      fc.constant([]),
      fc.dictionary(
        fc.constantFrom("a", "b", "__proto__"),
        hostileLeaf.filter((v) => typeof v !== "function"),
      ),
    );
    await fc.assert(
      fc.asyncProperty(badSteps, async (hostile) => {
        cases.count();
        // `{}` and `{ a: … }` are objects of steps that lack the graph's: its validation names them.
        await refused(
          () => orch().composeFromTaskGraph(graph("bad steps"), hostile as Steps),
          InvalidOptionError,
          GraphValidationError,
        );
      }),
      { numRuns: 100 },
    );
    cases.report(100);
    await expectUnchanged();
  });

  it("decomposeGoal refuses hostile goals, options and decompositions with a typed error", async () => {
    const cases = caseCounter(`${kind}: decomposeGoal(hostile goal, options or result)`);
    const call = fc.oneof(
      fc.record({
        goal: fc.oneof(
          unstorableString.map((s) => `plan ${s}`),
          fc.constant("x".repeat(10_001)),
          hostileLeaf.filter((v) => typeof v !== "string"),
        ),
        options: fc.constant({}),
        result: fc.constant({ tasks: [{ id: "a" }] }),
      }),
      fc.record({
        goal: fc.constant("plan it"),
        options: badDecomposeOptions,
        result: fc.constant({ tasks: [{ id: "a" }] }),
      }),
      fc.record({
        goal: fc.constant("plan it"),
        options: fc.constant({}),
        // A value that happens to be a valid answer (an empty list of tasks, tasks without a goal) is
        // not hostile: each is judged as decomposeGoal reads a decomposer's answer.
        result: fc.oneof(refusedGraph.filter(refusedAnswer), hostileValue.filter(refusedAnswer), fc.constant(THROW)),
      }),
    );
    await fc.assert(
      fc.asyncProperty(call, async ({ goal, options, result }) => {
        cases.count();
        const decomposer = () => {
          if (result === THROW) {
            throw 10n;
          }
          return result as never;
        };
        await refused(
          () => orch().decomposeGoal(goal as string, decomposer, options as never),
          DecompositionError,
          InvalidOptionError,
        );
      }),
      { numRuns: 250 },
    );
    cases.report(250);
    await expectUnchanged();
  });

  it("run control and listRuns refuse hostile ids, reasons and filters", async () => {
    const cases = caseCounter(`${kind}: cancel/pause/resume/retry/getRun/listRuns(hostile)`);
    const call = fc.oneof(
      fc.record({
        op: fc.constantFrom("cancelRun", "pauseRun", "resumeRun", "getRun", "retryRun"),
        runId: fc.oneof(hostileLeaf, fc.uuid()),
        arg: fc.constant(undefined),
      }),
      fc.record({
        op: fc.constantFrom("cancelRun", "pauseRun"),
        runId: fc.constant("stored"),
        arg: fc.oneof(unstorableString, fc.constant("x".repeat(10_001)), fc.integer(), fc.constant({})),
      }),
      fc.record({
        op: fc.constant("retryRun"),
        runId: fc.constant("stored"),
        arg: fc.oneof(
          fc.integer(),
          hostileString.map((fromTask) => ({ fromTask })),
          unstorableString.map((fromTask) => ({ fromTask })),
        ),
      }),
      fc.record({
        op: fc.constant("listRuns"),
        runId: fc.constant(undefined),
        arg: fc.oneof(
          badRunOptions.filter(
            (o) =>
              !(
                o !== null &&
                typeof o === "object" &&
                "workflow" in o &&
                typeof o.workflow === "string" &&
                !o.workflow.includes("\u0000")
              ),
          ),
          fc.record({ workflow: unstorableString }),
          fc.record({ limit: fc.constantFrom(0, -1, 1e9, "5") }),
          fc.record({ status: hostileString }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(call, async ({ op, runId, arg }) => {
        cases.count();
        const id = runId === "stored" ? storedRunId : runId;
        const control = orch() as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
        await refused(() => (op === "listRuns" ? control.listRuns!(arg) : control[op]!(id, arg)));
      }),
      { numRuns: 250 },
    );
    cases.report(250);
    await expectUnchanged();
  });

  it("fails a task whose step returns what JSON cannot hold, with a typed error; other runs stay as they were", async () => {
    const cases = caseCounter(`${kind}: step output(hostile)`);
    const output = fc.oneof(
      hostileLeaf.filter(
        (v) =>
          v instanceof Date ||
          typeof v === "bigint" ||
          typeof v === "function" ||
          typeof v === "symbol" ||
          v instanceof Map ||
          (typeof v === "number" && !Number.isFinite(v)),
      ),
      fc.constantFrom(cyclic(0), cyclic(3), jsonBomb(40), nested(1, 5_000, "array"), [1, undefined, 2], {
        a: [undefined],
      }),
      unstorableString.map((s) => ({ text: s })),
      fc.constant({ toJSON: () => 10n }),
    );
    await fc.assert(
      fc.asyncProperty(output, async (value) => {
        cases.count();
        const result = await orch().composeFromTaskGraph(
          graph("hostile output"),
          { ...steps, b: async () => value },
          { maxAttempts: 2, backoff: { baseMs: 1, maxMs: 1, jitter: 0 } },
        );
        expect(result.status).toBe("failed");
        const task = result.tasks.find((t) => t.id === "b");
        expect(task).toMatchObject({ status: "failed", attempts: 1 });
        expect((task?.error as { code?: string } | undefined)?.code).toMatch(
          /^(NON_JSON_OUTPUT|UNSTORABLE_OUTPUT|OUTPUT_TOO_LARGE)$/,
        );
      }),
      { numRuns: 30 },
    );
    cases.report(30);
    const after = await snapshot(orch());
    const storedRuns = JSON.parse(stored.runs) as { row: { id: string } }[];
    const runsNow = JSON.parse(after.runs) as { row: { id: string } }[];
    expect(runsNow.filter((r) => storedRuns.some((s) => s.row.id === r.row.id))).toEqual(storedRuns);
    // The runs this test made are stored now: the tests after it compare against them too.
    stored = after;
  });

  // Findings, each a test that failed before its fix.
  it("refuses options that are not an object (was: composeFromTaskGraph(graph, steps, 5) ran the graph)", async () => {
    await refused(() => orch().composeFromTaskGraph(graph("five"), steps, 5 as never), InvalidOptionError);
    await refused(() => orch().submit(graph("five"), "w" as never), InvalidOptionError);
    await expectUnchanged();
  });

  it("names text PostgreSQL cannot store in options and goals (was: a raw DatabaseError)", async () => {
    await expect(orch().composeFromTaskGraph(graph("nul"), steps, { idempotencyKey: "k\u0000" })).rejects.toThrow(
      /invalid option `idempotencyKey` in composeFromTaskGraph: expected text without a NUL character/,
    );
    await expect(orch().decomposeGoal("a\u0000b", () => ({ goal: "a", tasks: [{ id: "a" }] }))).rejects.toThrow(
      /the goal holds a NUL character \(\\u0000\), which PostgreSQL cannot store/,
    );
    await expect(orch().cancelRun(storedRunId, "why\u0000")).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(orch().listRuns({ workflow: "w\u0000" })).rejects.toBeInstanceOf(InvalidOptionError);
    await expectUnchanged();
  });

  it('validates decomposeGoal\'s options before the decomposer runs (was: `maxDepth: "x"` blamed the decomposer)', async () => {
    let called = 0;
    const decomposer = () => {
      called++;
      return { goal: "plan it", tasks: [{ id: "a" }] };
    };
    await expect(orch().decomposeGoal("plan it", decomposer, { maxDepth: "x" } as never)).rejects.toThrow(
      /invalid option `maxDepth` in decomposeGoal/,
    );
    await expect(orch().decomposeGoal("plan it", decomposer, { timeoutMs: 1e12 })).rejects.toBeInstanceOf(
      InvalidOptionError,
    );
    expect(called).toBe(0);
  });

  it("fails a task whose output is cyclic at once (was: RangeError, retried as if transient)", async () => {
    let calls = 0;
    const result = await orch().composeFromTaskGraph(graph("cyclic output"), {
      ...steps,
      b: async () => {
        calls++;
        return cyclic(1);
      },
    });
    expect(calls).toBe(1);
    const error = result.tasks.find((t) => t.id === "b")?.error as { code?: string; message?: string } | undefined;
    expect(error?.code).toBe("NON_JSON_OUTPUT");
    expect(error?.message).toContain("output.next.self refers back to an object that holds it (a cycle)");
    expect(new NonJsonOutputError("b", "x").code).toBe("NON_JSON_OUTPUT");
  });
});
