import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { RulesFileError } from "../../src/decomposers/rules-file.js";
import { ruleDecomposer, type Rule } from "../../src/decomposers/rules.js";
import { emptyUsage, type ServicedContext } from "../../src/decomposers/services.js";
import { validateGraph } from "../../src/graph/validate.js";
import { loadCatalogue, loadRecords } from "../eval/taskbench.js";

const rules: Rule[] = [
  {
    name: "weather",
    match: /^(?:what's|get) the weather in (?<city>[a-z ]+?)(?: on (?<date>.+))?$/i,
    tasks: [
      {
        id: "forecast",
        step: "get_weather",
        description: "Weather in {{city}}",
        input: { location: "{{ city }}", date: "{{date}}" },
      },
      {
        id: "report",
        step: "take_note",
        dependsOn: ["forecast"],
        input: { content: "{{ forecast.summary }} for {{goal}}", lines: ["{{city}}", 3] },
      },
    ],
  },
  {
    name: "numbered",
    match: /^call (\d+) then (\d+)$/,
    tasks: [
      { id: "call_{{1}}", step: "make_voice_call" },
      { id: "call_{{2}}", step: "make_voice_call", dependsOn: ["call_{{1}}"] },
    ],
  },
  {
    name: "function",
    match: (goal) => (goal.startsWith("note:") ? { text: goal.slice(5).trim() } : null),
    tasks: [{ id: "note", step: "take_note", input: { content: "{{text}}" } }],
  },
  { name: "fallback-weather", match: "weather", tasks: [{ id: "generic", step: "get_weather" }] },
];
const decomposer = ruleDecomposer(rules);

describe("ruleDecomposer", () => {
  it("fills named captures everywhere, an absent group with the empty string, and leaves run-time references alone", () => {
    const result = decomposer.decompose("What's the weather in Lisbon on Friday");
    expect(result).toEqual({
      goal: "What's the weather in Lisbon on Friday",
      source: "rules",
      tasks: [
        {
          id: "forecast",
          step: "get_weather",
          description: "Weather in Lisbon",
          input: { location: "Lisbon", date: "Friday" },
        },
        {
          id: "report",
          step: "take_note",
          dependsOn: ["forecast"],
          input: { content: "{{ forecast.summary }} for What's the weather in Lisbon on Friday", lines: ["Lisbon", 3] },
        },
      ],
    });
    expect(decomposer.match("get the weather in Porto")?.tasks[0]?.input).toEqual({ location: "Porto", date: "" });
  });

  it("fills numbered captures, in ids and dependencies, and the result validates", () => {
    const result = decomposer.decompose("call 12 then 34");
    expect(result?.tasks.map((t) => [t.id, t.dependsOn ?? []])).toEqual([
      ["call_12", []],
      ["call_34", ["call_12"]],
    ]);
    expect(validateGraph(result, { stepNames: ["make_voice_call"] }).tasks).toHaveLength(2);
  });

  it("tries rules in order: the first match answers, later ones are not consulted", () => {
    expect(decomposer.match("get the weather in Oslo")?.rule).toBe("weather");
    expect(decomposer.match("weather, please")?.rule).toBe("fallback-weather");
    expect(decomposer.match("note: buy milk")).toMatchObject({
      rule: "function",
      tasks: [{ input: { content: "buy milk" } }],
    });
  });

  it("returns null when no rule matches", () => {
    expect(decomposer.decompose("book a flight to Paris")).toBeNull();
  });

  it("hands out fresh copies: changing one result does not change the next", () => {
    const first = decomposer.decompose("get the weather in Oslo");
    (first!.tasks[0]!.input as Record<string, unknown>).location = "changed";
    expect(decomposer.decompose("get the weather in Oslo")?.tasks[0]?.input).toEqual({ location: "Oslo", date: "" });
  });

  it("ignores the global flag's lastIndex, so the same goal matches every time", () => {
    const global = ruleDecomposer([{ name: "g", match: /^ping$/g, tasks: [{ id: "pong" }] }]);
    expect([global.match("ping")?.rule, global.match("ping")?.rule, global.match("ping")?.rule]).toEqual([
      "g",
      "g",
      "g",
    ]);
  });

  it("records the rule and the source on the usage of the context", () => {
    const ctx: ServicedContext = {
      catalogue: [],
      depth: 0,
      signal: new AbortController().signal,
      services: { usage: emptyUsage(), cache: null, patterns: null },
    };
    decomposer.decompose("call 1 then 2", ctx);
    expect(ctx.services?.usage).toMatchObject({ rule: "numbered", source: "rules", llmCalls: 0 });
  });

  it("rejects bad rules, naming the rule and the fix", () => {
    const bad = (rules: unknown) => () => ruleDecomposer(rules as Rule[]);
    expect(
      bad([
        { name: "a", match: /a/, tasks: [{ id: "x" }] },
        { name: "a", match: /b/, tasks: [{ id: "y" }] },
      ]),
    ).toThrow(/`rules\[1\]\.name`.*a name no other rule has/);
    expect(bad([{ name: "a", match: /a/, tasks: [] }])).toThrow(/`rules\[0\]\.tasks`.*non-empty array/);
    expect(bad([{ name: "a", match: 42, tasks: [{ id: "x" }] }])).toThrow(InvalidOptionError);
    expect(bad([{ name: "a", match: "(unclosed", tasks: [{ id: "x" }] }])).toThrow(
      /`rules\[0\]\.match`.*valid regular expression/,
    );
    expect(bad("rules.yaml")).toThrow(/`rules`/);
  });
});

describe("rules files", () => {
  let directory = "";
  beforeAll(async () => void (directory = await mkdtemp(join(tmpdir(), "htdag-rules-"))));
  afterAll(async () => rm(directory, { recursive: true, force: true }));

  it("loads YAML with a list of patterns, flags and placeholders", async () => {
    const path = join(directory, "rules.yaml");
    await writeFile(
      path,
      [
        "rules:",
        "  - name: deploy",
        "    match: ['^deploy (?<service>[a-z-]+) to (?<env>staging|prod)$', '^ship (?<service>[a-z-]+)$']",
        "    tasks:",
        "      - { id: build, step: build, input: { service: '{{service}}' } }",
        "      - { id: release, step: release, dependsOn: [build], input: { env: '{{env}}' } }",
        "  - name: case-sensitive",
        "    flags: ''",
        "    match: '^STATUS$'",
        "    tasks: [{ id: status }]",
      ].join("\n"),
    );
    const fromFile = await ruleDecomposer.fromFile(path);
    expect(fromFile.decompose("Deploy api-gateway to prod")?.tasks).toEqual([
      { id: "build", step: "build", input: { service: "api-gateway" } },
      { id: "release", step: "release", dependsOn: ["build"], input: { env: "prod" } },
    ]);
    expect(fromFile.match("ship billing")?.tasks[1]?.input).toEqual({ env: "" });
    expect(fromFile.match("STATUS")?.rule).toBe("case-sensitive");
    expect(fromFile.match("status")).toBeNull();
  });

  it("reports every problem of a file at once, with paths", () => {
    const text =
      "rules:\n  - name: a\n    match: '(bad'\n    tasks: [{ id: x }]\n  - name: b\n    match: 'ok'\n    tasks: [{ id: y }]\n  - name: c\n    match: '[z'\n    tasks: [{ id: z }]\n";
    let caught: unknown;
    try {
      ruleDecomposer.fromText(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(RulesFileError);
    expect((caught as RulesFileError).problems).toHaveLength(2);
    expect((caught as RulesFileError).problems.join("\n")).toMatch(/rules\[0\]\.match[\s\S]*rules\[2\]\.match/);
    expect(() => ruleDecomposer.fromText("rules:\n  - name: a\n    tasks: []\n")).toThrow(
      /rules\.0\.match[\s\S]*rules\.0\.tasks/,
    );
    expect(() => ruleDecomposer.fromText("rules: [unclosed")).toThrow(/invalid YAML at line 1/);
  });

  it("names a file it cannot read", async () => {
    await expect(ruleDecomposer.fromFile(join(directory, "missing.yaml"))).rejects.toThrow(
      /missing\.yaml is invalid:\n {2}- cannot read it/,
    );
  });

  it("the dailylife example file answers single-tool TaskBench requests with the gold tool, and nothing else", async () => {
    const dailylife = await ruleDecomposer.fromFile("examples/rules/dailylife.yaml");
    const tools = loadCatalogue().map((tool) => tool.name);
    const records = loadRecords();
    const answered = records.flatMap((record) => {
      const result = dailylife.decompose(record.user_request);
      return result === null ? [] : [{ record, graph: validateGraph(result, { stepNames: tools }) }];
    });
    expect(answered.length).toBe(62);
    for (const { record, graph } of answered) {
      expect(graph.tasks.map((t) => t.step)).toEqual(record.nodes.map((n) => n.tool));
    }
    expect(dailylife.decompose("I want to make a video call to phone number 1234567890.")?.tasks[0]?.input).toEqual({
      phone_number: "1234567890",
    });
  });
});
