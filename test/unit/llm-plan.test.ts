import { describe, expect, it } from "vitest";
import { z } from "zod";
import { decompositionCacheKey, type CacheIdentity } from "../../src/decomposers/cache.js";
import { extractJson, readPlan, type PlannedTask } from "../../src/decomposers/llm/parse.js";
import { planJsonSchema, toStrict } from "../../src/decomposers/llm/schema.js";
import { normalizeGoal } from "../../src/decomposers/normalize.js";
import { patternConfidence, structureHash } from "../../src/decomposers/patterns.js";
import { nearMatch, repairPlan } from "../../src/decomposers/repair.js";

/** Every object node of a JSON schema. */
function objects(node: unknown, found: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(node)) {
    node.forEach((item) => objects(item, found));
  } else if (node !== null && typeof node === "object") {
    const record = node as Record<string, unknown>;
    if (record.type === "object") {
      found.push(record);
    }
    Object.values(record).forEach((value) => objects(value, found));
  }
  return found;
}

describe("plan JSON schema (strict structured output)", () => {
  const schema = planJsonSchema({ stepNames: ["get_weather", "send_email"], allowComposite: true });

  it("lists every property as required, allows no others, and has no oneOf or $schema", () => {
    const nodes = objects(schema);
    expect(nodes).toHaveLength(2);
    for (const node of nodes) {
      expect(node.additionalProperties).toBe(false);
      expect(node.required).toEqual(Object.keys(node.properties as object));
    }
    expect(JSON.stringify(schema)).not.toMatch(/oneOf|\$schema/);
    const task = nodes[1]!.properties as Record<string, Record<string, unknown>>;
    expect(Object.keys(task)).toEqual(["id", "description", "step", "kind", "dependsOn", "input"]);
    expect(task.step!.anyOf).toEqual([{ type: "string", enum: ["get_weather", "send_email"] }, { type: "null" }]);
    expect(task.kind!.enum).toEqual(["atomic", "composite"]);
    expect(task.input!.type).toEqual(["string", "null"]);
  });

  it("allows only atomic tasks at the deepest level, and any step name without a catalogue", () => {
    const task = objects(planJsonSchema({ stepNames: [], allowComposite: false }))[1]!.properties as Record<
      string,
      Record<string, unknown>
    >;
    expect(task.kind!.enum).toEqual(["atomic"]);
    expect(task.step!.type).toEqual(["string", "null"]);
  });

  it("makes optional fields required and nullable, and rewrites oneOf to anyOf", () => {
    const shape = z.object({
      a: z.string().optional(),
      b: z.discriminatedUnion("k", [z.object({ k: z.literal("x") }), z.object({ k: z.literal("y"), n: z.number() })]),
    });
    const strict = toStrict(z.toJSONSchema(shape, { target: "draft-7" }) as Record<string, unknown>);
    expect(strict.required).toEqual(["a", "b"]);
    expect((strict.properties as Record<string, unknown>).a).toEqual({ anyOf: [{ type: "string" }, { type: "null" }] });
    expect(JSON.stringify(strict)).not.toContain("oneOf");
    expect((strict.properties as Record<string, { anyOf: unknown[] }>).b!.anyOf).toHaveLength(2);
  });
});

describe("reading the model's answer", () => {
  const actions: string[] = [];
  const record = (action: string) => actions.push(action);
  const task = { id: "a", description: "A", step: "get_weather", kind: "atomic", dependsOn: [], input: null };

  it("finds JSON inside code fences or prose, and says what it stripped", () => {
    actions.length = 0;
    expect(extractJson('```json\n{"tasks": []}\n```', record)).toEqual({ value: { tasks: [] } });
    expect(extractJson('Here is the plan:\n{"tasks": [1]}\nHope it helps!', record)).toEqual({ value: { tasks: [1] } });
    expect(actions).toEqual(["stripped markdown code fences around the JSON", "dropped text around the JSON"]);
  });

  it("reports invalid or empty JSON as an issue at $", () => {
    expect(extractJson('{"tasks": [', record)).toMatchObject({ issue: { code: "invalid_json", path: "$" } });
    expect(extractJson("   ", record)).toMatchObject({
      issue: { code: "invalid_json", message: expect.stringMatching(/empty/) },
    });
  });

  it("accepts common dialects: a bare array, depends_on, tool, a list sent as a string, a plan encoded twice", () => {
    actions.length = 0;
    const plan = readPlan(
      JSON.stringify(
        JSON.stringify([{ id: "a", tool: "get_weather", depends_on: '["b"]', description: "A", kind: "atomic" }]),
      ),
      record,
    );
    expect(plan.issues).toEqual([]);
    expect(plan.tasks).toEqual([
      { id: "a", description: "A", step: "get_weather", kind: "atomic", dependsOn: ["b"], input: null },
    ]);
    expect(actions).toEqual([
      "decoded a plan sent as a JSON string",
      'wrapped a bare array of tasks as {"tasks": [...]}',
      'tasks[0]: read "step" from "tool"',
      'tasks[0]: read "dependsOn" from "depends_on"',
      "tasks[0].dependsOn: read a list sent as a string",
    ]);
  });

  it("fills fields with a safe default, and reports missing ids and wrong types with their paths", () => {
    actions.length = 0;
    const plan = readPlan(
      {
        tasks: [
          { id: "a", step: "get_weather" },
          { description: "no id", kind: "atomic", dependsOn: [] },
          { ...task, id: "c", kind: "group", dependsOn: {} },
        ],
      },
      record,
    );
    expect(plan.tasks.map((t) => t.id)).toEqual(["a"]);
    expect(plan.tasks[0]).toEqual({
      id: "a",
      description: "a",
      step: "get_weather",
      kind: "atomic",
      dependsOn: [],
      input: null,
    });
    expect(plan.issues.map((i) => [i.path, i.code])).toEqual([
      ["tasks[1].id", "missing_field"],
      ["tasks[2].kind", "invalid_field"],
      ["tasks[2].dependsOn", "invalid_field"],
    ]);
    expect(actions).toContain("tasks[0].dependsOn: missing, set to []");
  });

  it("reports an answer that holds no task list, and an empty plan", () => {
    expect(readPlan({ answer: "sure" }, record).issues).toEqual([
      { code: "invalid_plan", path: "$", message: 'the answer must be an object {"tasks": [ … ]}' },
    ]);
    expect(readPlan({ tasks: [] }, record).issues[0]?.code).toBe("empty_plan");
  });
});

describe("local repair", () => {
  const planned = (
    id: string,
    step: string | null,
    dependsOn: string[] = [],
    kind: PlannedTask["kind"] = "atomic",
  ): PlannedTask => ({ id, description: id, step, kind, dependsOn, input: null });
  const steps = ["get_weather", "send_email", "send_sms", "book_flight"];

  it("drops self and repeated dependencies, maps near-miss ids and step names, and records each fix", () => {
    const actions: string[] = [];
    const repaired = repairPlan(
      [
        planned("fetch_weather", "Get-Weather"),
        planned("notify", "send_emial", ["fetch_wether", "notify", "fetch_weather"]),
        planned("book_flight", null),
      ],
      { stepNames: steps },
      (a) => actions.push(a),
    );
    expect(repaired.map((t) => [t.id, t.step, t.dependsOn])).toEqual([
      ["fetch_weather", "get_weather", []],
      ["notify", "send_email", ["fetch_weather"]],
      ["book_flight", "book_flight", []],
    ]);
    expect(actions).toEqual([
      'tasks[0].step: mapped unknown step "Get-Weather" to "get_weather"',
      'tasks[1].step: mapped unknown step "send_emial" to "send_email"',
      'tasks[1].dependsOn[0]: mapped unknown id "fetch_wether" to "fetch_weather"',
      'tasks[1].dependsOn[1]: dropped the self-dependency of "notify"',
      'tasks[1].dependsOn[2]: dropped a repeated dependency on "fetch_weather"',
      'tasks[2].step: missing, set to "book_flight", which the id names',
    ]);
  });

  it("leaves ambiguous and far-off names, and cycles, for validation and a re-ask", () => {
    const actions: string[] = [];
    const withMms = [...steps, "send_mms"];
    const repaired = repairPlan(
      [planned("a", "send_xms"), planned("b", "order_pizza", ["c"]), planned("c", "send_sms", ["b"])],
      { stepNames: withMms },
      (a) => actions.push(a),
    );
    expect(repaired.map((t) => [t.step, t.dependsOn])).toEqual([
      ["send_xms", []],
      ["order_pizza", ["c"]],
      ["send_sms", ["b"]],
    ]);
    expect(actions).toEqual([]);
    expect([
      nearMatch("send_xms", withMms),
      nearMatch("send_sma", withMms),
      nearMatch("SEND-SMS", withMms),
      nearMatch("sm", ["sms"]),
    ]).toEqual([undefined, "send_sms", "send_sms", undefined]);
  });

  it("drops exact duplicates, keeps different tasks under one id, and makes a composite that names a step atomic", () => {
    const actions: string[] = [];
    const repaired = repairPlan(
      [
        planned("a", "send_sms"),
        planned("a", "send_sms"),
        planned("a", "send_email"),
        planned("b", "send_sms", [], "composite"),
      ],
      { stepNames: steps },
      (a) => actions.push(a),
    );
    expect(repaired.map((t) => [t.id, t.step, t.kind])).toEqual([
      ["a", "send_sms", "atomic"],
      ["a", "send_email", "atomic"],
      ["b", "send_sms", "atomic"],
    ]);
    expect(actions).toEqual([
      'tasks[1]: dropped an exact duplicate of task "a"',
      'tasks[2].kind: task "b" names step "send_sms", so it is atomic',
    ]);
  });

  it("maps a dependency on the expanded composite's own dependencies", () => {
    const repaired = repairPlan(
      [planned("child", "send_sms", ["Build-Api"])],
      { stepNames: steps, outsideIds: ["build_api"] },
      () => {},
    );
    expect(repaired[0]?.dependsOn).toEqual(["build_api"]);
  });
});

describe("normal forms, cache keys and patterns", () => {
  const identity: CacheIdentity = { name: "llm", model: "gpt-x", options: { temperature: 0 } };
  const catalogue = [
    { name: "b", description: "B" },
    { name: "a", inputSchema: { type: "object" } },
  ];

  it("normalises case, spacing, Unicode width and a final full stop, but not wording", () => {
    expect(normalizeGoal("  Audit  the\tDependencies of ./app. ")).toBe("audit the dependencies of ./app");
    expect(normalizeGoal("Ｐｌａｎ a trip!")).toBe("plan a trip");
    expect(normalizeGoal("Plan a journey")).not.toBe(normalizeGoal("Plan a trip"));
  });

  it("keys the cache by normalised goal, decomposer, options, model and catalogue (in any order)", () => {
    const key = decompositionCacheKey("Plan a trip", identity, catalogue);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(decompositionCacheKey("  plan a TRIP.", identity, [...catalogue].reverse())).toBe(key);
    expect(
      new Set([
        key,
        decompositionCacheKey("Plan a trip", { ...identity, model: "gpt-y" }, catalogue),
        decompositionCacheKey("Plan a trip", { ...identity, name: "other" }, catalogue),
        decompositionCacheKey("Plan a trip", { ...identity, options: { temperature: 1 } }, catalogue),
        decompositionCacheKey("Plan a trip", identity, [...catalogue, { name: "c" }]),
        decompositionCacheKey("Plan a trip", identity, [{ name: "b", description: "changed" }, catalogue[1]!]),
      ]).size,
    ).toBe(6);
  });

  it("hashes a structure without descriptions or dependency order, and rates patterns by their share of successes", () => {
    const one = [{ id: "a", description: "x" }, { id: "b", dependsOn: ["a", "c"] }, { id: "c" }];
    const same = [{ id: "c" }, { id: "a", description: "y" }, { id: "b", dependsOn: ["c", "a"] }];
    expect(structureHash(one)).toBe(structureHash(same));
    expect(structureHash(one)).not.toBe(structureHash([...one.slice(0, 2), { id: "c", step: "s" }]));
    expect([
      patternConfidence({ successes: 0, failures: 0 }),
      patternConfidence({ successes: 17, failures: 3 }),
    ]).toEqual([0, 0.85]);
  });
});
