import { describe, expect, it } from "vitest";
import { aesGcmCodec, DecompositionError, type Decomposer, type Steps } from "../../src/index.js";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import { STORES, useOrchestrator } from "../helpers/stores.js";

const byGoal: Decomposer = {
  name: "by-goal",
  decompose: (goal) => {
    if (/user/i.test(goal)) {
      return [{ id: "schema" }, { id: "api", dependsOn: ["schema"] }];
    }
    if (/order/i.test(goal)) {
      return [{ id: "schema" }, { id: "api", dependsOn: ["schema"] }, { id: "link_users", dependsOn: ["api"] }];
    }
    if (/billing/i.test(goal)) {
      return [{ id: "schema" }];
    }
    return null;
  },
};

describe.each(STORES)("decompose and compose on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("decomposeGoal validates, records the graph and the decomposition", async () => {
    const graph = await orch().decomposeGoal("Build user service API", byGoal, {
      steps: { schema: async () => 1, api: async () => 2 },
    });
    expect(graph.tasks.map((t) => [t.id, t.dependsOn])).toEqual([
      ["schema", []],
      ["api", ["schema"]],
    ]);
    expect(graph.decomposer).toBe("by-goal");
    expect(graph.source).toBe("function");
    const { rows } = await orch().db.query<{ goal: string; source: string }>(
      `SELECT goal, source FROM htdag.decompositions WHERE graph_id = $1`,
      [graph.id],
    );
    expect(rows).toEqual([{ goal: "Build user service API", source: "function" }]);
    const stored = await orch().db.query(`SELECT 1 FROM htdag.graphs WHERE id = $1`, [graph.id]);
    expect(stored.rowCount).toBe(1);
  });

  it("a decomposer that throws, returns garbage, null or a bad graph gives a DecompositionError naming the goal", async () => {
    const cases: [Decomposer, RegExp][] = [
      [
        () => {
          throw new Error("model offline");
        },
        /"Plan a trip".*threw: model offline/,
      ],
      [() => 42 as never, /"Plan a trip".*returned number/],
      [() => null, /"Plan a trip".*returned null/],
      [
        () => [
          { id: "a", dependsOn: ["a"] },
          { id: "b", dependsOn: ["zz"] },
        ],
        /invalid graph:[\s\S]*tasks\[0\]\.dependsOn\[0\][\s\S]*tasks\[1\]\.dependsOn\[0\]/,
      ],
    ];
    for (const [decomposer, message] of cases) {
      const error = await orch()
        .decomposeGoal("Plan a trip", decomposer)
        .catch((e) => e);
      expect(error).toBeInstanceOf(DecompositionError);
      expect(error.message).toMatch(message);
    }
  });

  it("composeFromGoal decomposes with the steps as catalogue and runs the graph", async () => {
    let seenCatalogue: string[] = [];
    const decomposer: Decomposer = (goal, ctx) => {
      seenCatalogue = ctx.catalogue.map((c) => c.name);
      return [{ id: "greet", input: { who: "{{ goal }}" } }];
    };
    const result = await orch().composeFromGoal("world", decomposer, {
      greet: async (ctx) => `hello ${(ctx.input as { who: string }).who}`,
    });
    expect(seenCatalogue).toEqual(["greet"]);
    expect(result.outputs).toEqual({ greet: "hello world" });
    expect(result.workflow).toBe("world");
  });

  it("composeMultipleWorkflows: a dependant starts after its dependency and sees its outputs; a failure fails only dependants", async () => {
    const events: string[] = [];
    const steps = (name: string, fail = false): Steps => ({
      schema: async () => {
        events.push(`${name}:schema`);
        if (fail) {
          throw new Error(`${name} schema broke`);
        }
        return `${name}-schema`;
      },
      api: async (ctx) => {
        events.push(`${name}:api`);
        return { service: name, upstream: ctx.runInput };
      },
      link_users: async (ctx) => {
        events.push(`${name}:link`);
        return (ctx.runInput as { workflows: Record<string, Record<string, unknown>> }).workflows.user_service?.api;
      },
    });
    const result = await orch().composeMultipleWorkflows(
      [
        { name: "user_service", goal: "Build user service API" },
        { name: "order_service", goal: "Build order service API", dependsOn: ["user_service"] },
        { name: "billing", goal: "Build billing schema" },
        { name: "reports", goal: "Build user reports", dependsOn: ["billing"] },
      ],
      byGoal,
      {
        user_service: steps("users"),
        order_service: steps("orders"),
        billing: steps("billing", true),
        reports: steps("reports"),
      },
      { maxAttempts: 1 },
    );
    expect(result.status).toBe("failed");
    expect(result.runs.user_service?.status).toBe("completed");
    expect(result.runs.order_service?.status).toBe("completed");
    expect(result.runs.billing?.status).toBe("failed");
    expect(result.runs.reports).toEqual({
      status: "cancelled",
      error: { message: "workflow billing did not complete, so reports did not start" },
    });
    const orders = result.runs.order_service as { outputs: Record<string, unknown> };
    expect(orders.outputs.link_users).toEqual({ service: "users", upstream: null });
    expect(events.indexOf("orders:schema")).toBeGreaterThan(events.indexOf("users:api"));
    expect(events.some((e) => e.startsWith("reports"))).toBe(false);
  });

  it("composeMultipleWorkflows with parallel false runs one workflow at a time", async () => {
    let running = 0;
    let peak = 0;
    const slow: Steps = {
      schema: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return 1;
      },
      api: async () => 2,
    };
    const result = await orch().composeMultipleWorkflows(
      ["Build user API", "Build billing"],
      byGoal,
      { build_user_api: slow, build_billing: slow },
      { parallel: false },
    );
    expect(result.status).toBe("completed");
    expect(Object.keys(result.runs)).toEqual(["build_user_api", "build_billing"]);
    expect(peak).toBe(1);
  });

  it("expands a lazy composite at run time with its dependencies' outputs", async () => {
    let seenParent: unknown;
    const decomposer: Decomposer = (goal, ctx) => {
      if (!ctx.parent) {
        return [
          { id: "list" },
          { id: "process", kind: "composite", expand: "lazy", dependsOn: ["list"], description: "process each file" },
          { id: "summary", dependsOn: ["process"] },
        ];
      }
      seenParent = ctx.parent.depsOutputs;
      const files = ctx.parent.depsOutputs.list as string[];
      return files.map((f) => ({ id: `file_${f}`, step: "handle", input: { file: f } }));
    };
    const steps: Steps = {
      list: async () => ["a", "b"],
      handle: async (ctx) => `${(ctx.input as { file: string }).file}!`,
      summary: async (ctx) => ctx.deps.process,
    };
    const result = await orch().composeFromGoal("lazy files", decomposer, steps);
    expect(result.status).toBe("completed");
    expect(seenParent).toEqual({ list: ["a", "b"] });
    expect(result.outputs.summary).toEqual({ "process/file_a": "a!", "process/file_b": "b!" });
    expect(result.tasks.map((t) => [t.id, t.parentId])).toEqual([
      ["list", null],
      ["process", null],
      ["summary", null],
      ["process/file_a", "process"],
      ["process/file_b", "process"],
    ]);
  });
});

describe("payload codec", () => {
  it("stores inputs and outputs encrypted and returns them decrypted", async () => {
    const orch = await createOrchestrator({
      database: "memory://",
      codec: aesGcmCodec("correct horse battery staple"),
    });
    try {
      const graph = await orch.decomposeGoal("secret", () => [
        { id: "a", input: { card: "4111-1111" } },
        { id: "b", dependsOn: ["a"] },
      ]);
      const result = await orch.composeFromTaskGraph(graph, {
        a: async (ctx) => ({ token: `tok-${(ctx.input as { card: string }).card}` }),
        b: async (ctx) => ctx.deps.a,
      });
      expect(result.outputs).toEqual({ a: { token: "tok-4111-1111" }, b: { token: "tok-4111-1111" } });
      const { rows } = await orch.db.query<{ raw: string }>(
        `SELECT input::text || output::text AS raw FROM htdag.tasks WHERE run_id = $1 AND id = 'a'`,
        [result.runId],
      );
      expect(rows[0]?.raw).toContain("$htdag_enc");
      expect(rows[0]?.raw).not.toContain("4111");
    } finally {
      await orch.close();
    }
  });
});

describe("payload codec over everything a run stores", () => {
  it("keeps run inputs, task inputs (in the graph, specs, patterns and merged tasks) and outputs out of the store in clear", async () => {
    const codec = aesGcmCodec("correct horse battery staple");
    const orch = await createOrchestrator({ database: "memory://", codec });
    try {
      const steps: Steps = {
        a: async (ctx) => ({
          token: `tok-${(ctx.input as { card: string }).card}-${(ctx.runInput as { pin: string }).pin}`,
        }),
        b: async (ctx) => ({ again: (ctx.input as { t: string }).t, note: (ctx.input as { note: string }).note }),
      };
      const plan: Decomposer = () => [
        {
          id: "b",
          dependsOn: [],
          input: { t: { $from: "m", path: "token" }, note: "4111-memo" },
          merged: [{ id: "m", step: "a", input: { card: "4111-1111" } }],
        },
      ];
      const result = await orch.composeFromGoal("secret chain", plan, steps, { input: { pin: "4111-pin" } });
      expect(result.outputs).toEqual({ b: { again: "tok-4111-1111-4111-pin", note: "4111-memo" } });
      const { rows } = await orch.db.query<{ place: string; raw: string }>(`
        SELECT 'runs.input' AS place, input::text AS raw FROM htdag.runs
        UNION ALL SELECT 'tasks', spec::text || input::text || coalesce(output::text, '') FROM htdag.tasks
        UNION ALL SELECT 'graphs.tasks', tasks::text FROM htdag.graphs
        UNION ALL SELECT 'patterns.graph', graph::text FROM htdag.patterns`);
      expect(rows.map((r) => r.place).sort()).toEqual(["graphs.tasks", "patterns.graph", "runs.input", "tasks"]);
      for (const row of rows) {
        expect(`${row.place}: ${row.raw}`).not.toContain("4111");
      }
      const last = await orch.optimizer.lastRunGraph(result.workflow);
      expect(last?.graph.tasks[0]).toMatchObject({
        input: { note: "4111-memo" },
        merged: [{ input: { card: "4111-1111" } }],
      });
    } finally {
      await orch.close();
    }
  });
});

describe.each(STORES)("learning from runs on %s", (kind) => {
  const orch = useOrchestrator(kind);

  it("records the graph of each composeFromGoal run as a pattern with its successes and failures", async () => {
    let fail = false;
    const steps: Steps = {
      schema: async () => {
        if (fail) {
          throw new Error("no");
        }
        return 1;
      },
      api: async () => 2,
    };
    await orch().composeFromGoal("Build billing schema", byGoal, steps, { maxAttempts: 1 });
    await orch().composeFromGoal("build  BILLING schema", byGoal, steps, { maxAttempts: 1 });
    fail = true;
    await orch().composeFromGoal("Build billing schema", byGoal, steps, { maxAttempts: 1 });
    const { rows } = await orch().db.query<{ successes: number; failures: number }>(
      `SELECT successes, failures FROM htdag.patterns`,
    );
    expect(rows).toEqual([{ successes: 2, failures: 1 }]);
  });
});
