/**
 * Hostile graphs and graph files, fuzzed: `validateGraph` and the file parsers give back a graph
 * PostgreSQL can store, or a typed `GraphValidationError` naming where the problem is; never a
 * crash (a stack overflow, an out-of-memory), a hang, or a polluted Object.prototype.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GraphValidationError } from "../../src/errors.js";
import { loadGraphFile, parseGraphText } from "../../src/graph/file.js";
import { ESCAPED_UNSTORABLE } from "../../src/graph/storable-text.js";
import { validateGraph } from "../../src/graph/validate.js";
import { valueHazard } from "../../src/graph/value-guard.js";
import {
  caseCounter,
  cyclic,
  expectNoPollution,
  expectTyped,
  hostileGraph,
  hostileShape,
  hostileString,
  jsonBomb,
  nested,
  unstorableString,
} from "./hostile.js";

/** Runs `fn`; a thrown error must be a GraphValidationError, a returned graph must be storable. */
function validOrTyped(fn: () => unknown): "valid" | "invalid" {
  let graph: unknown;
  try {
    graph = fn();
  } catch (error) {
    const typed = expectTyped(error, GraphValidationError) as GraphValidationError;
    expect(typed.issues.length).toBeGreaterThan(0);
    for (const issue of typed.issues) {
      expect(issue.path).toEqual(expect.any(String));
      expect(issue.message).toEqual(expect.any(String));
    }
    return "invalid";
  } finally {
    expectNoPollution();
  }
  const json = JSON.stringify(graph);
  expect(ESCAPED_UNSTORABLE.test(json)).toBe(false);
  return "valid";
}

/** A valid graph with `value` as the field `field` of its second task. */
function withField(field: string, value: unknown): unknown {
  return { goal: "hostile field", tasks: [{ id: "a" }, { id: "b", dependsOn: ["a"], [field]: value }] };
}

const bombYaml = (fanout: number, levels: number): string => {
  const names = Array.from({ length: levels }, (_, i) => `l${i}`);
  const lines = [`${names[0]}: &${names[0]} [${Array(fanout).fill('"lol"').join(", ")}]`];
  for (let i = 1; i < levels; i++) {
    lines.push(
      `${names[i]}: &${names[i]} [${Array(fanout)
        .fill(`*${names[i - 1]}`)
        .join(", ")}]`,
    );
  }
  return `${lines.join("\n")}\ngoal: bomb\ntasks:\n  - id: a\n    input: *${names[levels - 1]}\n`;
};

describe("validateGraph against hostile graphs", () => {
  it("gives back a storable graph or a GraphValidationError, for any junk", () => {
    const cases = caseCounter("validateGraph(hostile graph)");
    const outcomes = { valid: 0, invalid: 0 };
    fc.assert(
      fc.property(hostileGraph, (input) => {
        cases.count();
        outcomes[validOrTyped(() => validateGraph(input))]++;
      }),
      { numRuns: 1500 },
    );
    cases.report(1500);
    console.log(`  outcomes: ${JSON.stringify(outcomes)}`);
    expect(outcomes.invalid).toBeGreaterThan(0);
  });

  it("names the field of a cycle, a stack-deep nesting or a JSON bomb in any field of a task", () => {
    const cases = caseCounter("validateGraph(hostile shape in a task field)");
    const fields = fc.constantFrom(
      "input",
      "when",
      "merged",
      "forEach",
      "backoff",
      "dependsOn",
      "step",
      "unknownField",
    );
    fc.assert(
      fc.property(fields, hostileShape, (field, shape) => {
        cases.count();
        expect(validOrTyped(() => validateGraph(withField(field, shape)))).toBe("invalid");
      }),
      { numRuns: 300 },
    );
    cases.report(300);
  });

  // Findings: each of these crashed or hung validation before it had the value guard.
  it("refuses a condition nested 20,000 levels deep (was: RangeError, Maximum call stack size exceeded)", () => {
    const error = catchError(() =>
      validateGraph(withField("when", nested({ task: "a", op: "truthy" }, 20_000, "not"))),
    );
    expect(error).toBeInstanceOf(GraphValidationError);
    expect((error as GraphValidationError).issues[0]).toMatchObject({
      code: "invalid_field",
      message: "nested more than 200 levels deep; flatten it",
    });
    expect((error as GraphValidationError).issues[0]?.path).toMatch(/^tasks\[1\]\.when\.not\.not/);
  });

  it("refuses an input that is a JSON bomb of shared references (was: out of memory, the process died)", () => {
    const error = catchError(() => validateGraph(withField("input", { c: jsonBomb(100), d: cyclic(0) })));
    expect((error as GraphValidationError).issues).toEqual([
      expect.objectContaining({ code: "input_too_large", path: "tasks[1].input" }),
    ]);
    const loop = catchError(() => validateGraph(withField("input", { c: cyclic(2) })));
    expect((loop as GraphValidationError).issues[0]).toMatchObject({
      path: "tasks[1].input.c.next.next.self",
      message: expect.stringContaining("(a cycle)"),
    });
  });

  it("refuses a JSON bomb in a condition's value and in a merged task (was: hang)", () => {
    for (const field of ["when", "merged"]) {
      const value =
        field === "when" ? { task: "a", op: "eq", value: jsonBomb(60) } : [{ id: "m", input: jsonBomb(60) }];
      const error = catchError(() => validateGraph(withField(field, value)));
      expect((error as GraphValidationError).issues[0]?.message).toMatch(/is more than \d+ bytes as JSON/);
    }
  });

  it("names text PostgreSQL cannot store, in any string of the graph (was: accepted, then a DatabaseError)", () => {
    const cases = caseCounter("validateGraph(unstorable text)");
    const where = fc.constantFrom("goal", "id", "description", "step", "queue", "inputValue", "inputKey", "whenValue");
    fc.assert(
      fc.property(where, unstorableString, fc.string({ maxLength: 5 }), (at, bad, around) => {
        cases.count();
        const text = `${around}${bad}${around}`;
        const task: Record<string, unknown> = { id: "b", dependsOn: ["a"] };
        const graph: Record<string, unknown> = { goal: "unstorable", tasks: [{ id: "a" }, task] };
        if (at === "goal" || at === "id") {
          graph[at] = text;
        } else if (at === "inputValue") {
          task.input = { deep: [{ value: text }] };
        } else if (at === "inputKey") {
          task.input = { [text]: 1 };
        } else if (at === "whenValue") {
          task.when = { task: "a", op: "eq", value: text };
        } else {
          task[at] = text;
        }
        const error = catchError(() => validateGraph(graph));
        const issues = (error as GraphValidationError).issues.filter((i) => i.code === "unstorable_text");
        expect(issues).toHaveLength(1);
        expect(issues[0]?.path).toMatch(at === "goal" || at === "id" ? at : /^tasks\[1\]\./);
        expect(issues[0]?.message).toMatch(/holds (a NUL character|an unpaired UTF-16 surrogate)/);
      }),
      { numRuns: 200 },
    );
    cases.report(200);
  });
});

describe("graph files against hostile text", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "htdag-fuzz-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Graph-file text: JSON of a hostile graph, cut, spliced with junk, NULs or YAML syntax. */
  const hostileText = fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }),
    fc
      .tuple(
        hostileGraph.map((graph) => safeJson(graph)),
        fc.nat(),
        fc.oneof(
          hostileString,
          fc.constantFrom("\u0000", '"\\0"', '"\\u0000"', "&a", "*a", "<<: *a", "!!binary", "---\n", "%YAML 1.1\n"),
        ),
      )
      .map(([json, at, junk]) => json.slice(0, at % (json.length + 1)) + junk + json.slice(at % (json.length + 1))),
    fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 10 })).map(([f, l]) => bombYaml(f, l)),
    fc.integer({ min: 1, max: 2_000 }).map((levels) => `goal: deep\ntasks: ${"[".repeat(levels)}${"]".repeat(levels)}`),
  );

  it("parses JSON and YAML text to a storable graph or a GraphValidationError", () => {
    const cases = caseCounter("parseGraphText + validateGraph(hostile text)");
    fc.assert(
      fc.property(hostileText, fc.constantFrom("json", "yaml") as fc.Arbitrary<"json" | "yaml">, (text, format) => {
        cases.count();
        validOrTyped(() => validateGraph(parseGraphText(text, format)));
      }),
      { numRuns: 600 },
    );
    cases.report(600);
  });

  it("loads hostile files by name with a typed error", async () => {
    const cases = caseCounter("loadGraphFile(hostile file)");
    await fc.assert(
      fc.asyncProperty(hostileText, fc.constantFrom(".json", ".yaml", ".yml", ".txt", ""), async (text, extension) => {
        cases.count();
        const path = join(dir, `graph${extension}`);
        await writeFile(path, text);
        let outcome: unknown;
        try {
          outcome = await loadGraphFile(path);
        } catch (error) {
          outcome = error;
        }
        if (outcome instanceof Error) {
          expectTyped(outcome, GraphValidationError);
          expect(outcome.message).toContain(path);
        }
      }),
      { numRuns: 150 },
    );
    cases.report(150);
  });

  it("refuses a billion-laughs YAML graph before it expands (was: ReferenceError, untyped)", () => {
    const error = catchError(() => parseGraphText(bombYaml(9, 9), "yaml"));
    expect(error).toBeInstanceOf(GraphValidationError);
    expect((error as GraphValidationError).issues).toEqual([
      expect.objectContaining({
        code: "parse_error",
        path: "$",
        message: expect.stringContaining("more than 100 alias expansions"),
      }),
    ]);
    // A few aliases stay allowed.
    expect(parseGraphText(bombYaml(3, 2), "yaml")).toMatchObject({ goal: "bomb" });
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

/** JSON of a value JSON cannot quite hold: BigInts as numbers, cycles and bombs cut, the rest as JSON writes it. */
function safeJson(value: unknown): string {
  if (valueHazard(value, { maxDepth: 500, maxBytes: 10_000_000 }) !== null) {
    return '{"goal": "was too deep or too large to write", "tasks": []}';
  }
  const seen = new WeakSet<object>();
  return (
    JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item === "bigint") {
        return Number(item);
      }
      if (item !== null && typeof item === "object") {
        if (seen.has(item)) {
          return "[seen]";
        }
        seen.add(item);
      }
      return item;
    }) ?? "null"
  );
}
