import { describe, expect, it } from "vitest";
import { z } from "zod";
import { RulesFileError, parseRulesText } from "../../src/decomposers/rules-file.js";
import { InvalidOptionError } from "../../src/errors.js";
import { collectGraphIssues } from "../../src/graph/validate.js";
import { parseEvent } from "../../src/notifications/catalogue.js";
import { parseOptions } from "../../src/options.js";
import { orchestratorOptionsSchema } from "../../src/orchestrator/options.js";
import { runOptionsSchema } from "../../src/orchestrator/run-options.js";

/** The message of the InvalidOptionError that parsing `value` throws. */
function messageOf(schema: z.ZodType, value: unknown, where: string): string {
  try {
    parseOptions(schema, value, where);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionError);
    return (error as InvalidOptionError).message;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
}

const orchestrator = (value: unknown) => messageOf(orchestratorOptionsSchema, value, "createOrchestrator");
const run = (value: unknown) => messageOf(runOptionsSchema, value, "composeFromGoal");

/** zod's own wording, which an htdag message never shows. */
const ZOD_PHRASES = [
  "Too small",
  "Too big",
  "Invalid input",
  "Invalid option",
  "expected expected",
  "received received",
];

describe("option errors read as sentences", () => {
  const cases: [string, string][] = [
    [
      orchestrator({ defaults: { maxAttempts: 0 } }),
      "invalid option `defaults.maxAttempts` in createOrchestrator: expected an integer of at least 1, received number 0",
    ],
    [
      orchestrator({ defaults: { maxAttempts: 1.5 } }),
      "invalid option `defaults.maxAttempts` in createOrchestrator: expected an integer, received number 1.5",
    ],
    [
      orchestrator({ defaults: { maxAttempts: "3" } }),
      'invalid option `defaults.maxAttempts` in createOrchestrator: expected an integer, received the string "3"',
    ],
    [
      orchestrator({ defaults: { maxAttempts: 101 } }),
      "invalid option `defaults.maxAttempts` in createOrchestrator: expected an integer of at most 100, received number 101",
    ],
    [
      orchestrator({ database: 42 }),
      'invalid option `database` in createOrchestrator: expected a postgres:// URL, "memory://", "pglite:<dir>" ' +
        "or a pg.Pool, received number 42",
    ],
    [
      orchestrator({ poolSise: 3 }),
      "invalid option `poolSise` in createOrchestrator: expected only known options (unknown: poolSise), received number 3",
    ],
    [
      orchestrator({ channel: "Bad-Channel" }),
      "invalid option `channel` in createOrchestrator: expected a lower-case SQL identifier (a letter or _, then " +
        'letters, digits or _, at most 63 characters), received the string "Bad-Channel"',
    ],
    [
      orchestrator({ defaults: { queue: "" } }),
      'invalid option `defaults.queue` in createOrchestrator: expected a string of at least 1 character, received the string ""',
    ],
    [
      orchestrator({ defaults: { backoff: { jitter: 2 } } }),
      "invalid option `defaults.backoff.jitter` in createOrchestrator: expected a number of at most 1, received number 2",
    ],
    [
      orchestrator({ migrate: "yes" }),
      'invalid option `migrate` in createOrchestrator: expected a boolean, received the string "yes"',
    ],
    [
      orchestrator("nope"),
      'invalid option `(options)` in createOrchestrator: expected an object, received the string "nope"',
    ],
    [
      run({ optimizationLevel: "max" }),
      "invalid option `optimizationLevel` in composeFromGoal: expected one of " +
        '"none", "basic", "advanced", "aggressive", received the string "max"',
    ],
    [
      run({ queues: { gpu: 0 } }),
      "invalid option `queues.gpu` in composeFromGoal: expected an integer of at least 1, received number 0",
    ],
    [
      run({ input: { callback: () => 1 } }),
      "invalid option `input.callback` in composeFromGoal: expected a string, a number, a boolean, null, an array " +
        "or an object, received a function",
    ],
  ];

  it.each(cases)("%s", (message, sentence) => {
    expect(message).toBe(sentence);
  });

  it("never shows zod's own wording", () => {
    for (const [message] of cases) {
      for (const phrase of ZOD_PHRASES) {
        expect(message).not.toContain(phrase);
      }
    }
  });
});

describe("expectations of each kind of zod issue", () => {
  const schema = z
    .strictObject({
      positive: z.number().gt(0),
      below: z.number().lt(10),
      tags: z.array(z.string()).min(2),
      code: z.string().length(3),
      short: z.string().max(1),
      email: z.email(),
      prefix: z.string().startsWith("ab"),
      pattern: z.string().regex(/^[a-z]+$/),
      named: z.string().regex(/^[a-z]+$/, "lower-case letters only"),
      step: z.number().multipleOf(5),
      literal: z.literal("x"),
      checked: z.string().refine((text) => text.length > 3, "a string longer than 3 characters"),
      refined: z.string().refine((text) => text.length > 3),
      either: z.union([z.string(), z.number()]),
      shape: z.discriminatedUnion("kind", [z.object({ kind: z.literal("a") }), z.object({ kind: z.literal("b") })]),
    })
    .partial();
  const expectation = (value: Record<string, unknown>) =>
    messageOf(schema, value, "test").replace(/^invalid option `[^`]+` in test: expected /, "");

  it.each([
    [{ positive: 0 }, "a number greater than 0, received number 0"],
    [{ below: 10 }, "a number less than 10, received number 10"],
    [{ tags: ["a"] }, "an array of at least 2 items, received an array of 1"],
    [{ code: "ab" }, 'a string of exactly 3 characters, received the string "ab"'],
    [{ short: "ab" }, 'a string of at most 1 character, received the string "ab"'],
    [{ email: "me" }, 'an email address, received the string "me"'],
    [{ prefix: "x" }, 'a string starting with "ab", received the string "x"'],
    [{ pattern: "A" }, 'a string matching /^[a-z]+$/, received the string "A"'],
    [{ named: "A" }, 'lower-case letters only, received the string "A"'],
    [{ step: 3 }, "a multiple of 5, received number 3"],
    [{ literal: "y" }, '"x", received the string "y"'],
    [{ checked: "ab" }, 'a string longer than 3 characters, received the string "ab"'],
    [{ refined: "ab" }, 'a valid value, received the string "ab"'],
    [{ either: true }, "a string or a number, received boolean true"],
    [{ shape: { kind: "c" } }, 'one of "a", "b", received the string "c"'],
  ])("%j: expected %s", (value, text) => {
    expect(expectation(value)).toBe(text);
  });

  it("uses a message the schema gave, even one that reads like zod's", () => {
    const custom = z.strictObject({ n: z.number().min(1, "Too small: give at least one") });
    expect(messageOf(custom, { n: 0 }, "test")).toBe(
      "invalid option `n` in test: expected Too small: give at least one, received number 0",
    );
  });
});

describe("graph validation messages", () => {
  it("name the expectation in the same words, without zod's", () => {
    const issues = collectGraphIssues({
      goal: "g",
      tasks: [
        { id: "a", maxAttempts: 0 },
        { id: "b", timeoutMs: "5" },
        { id: "c", backoff: { kind: "sometimes" } },
      ],
    }).issues;
    expect(issues.map((issue) => `${issue.path}: ${issue.message}`)).toEqual([
      "tasks[0].maxAttempts: expected an integer of at least 1, received number 0",
      'tasks[1].timeoutMs: expected an integer, received the string "5"',
      'tasks[2].backoff.kind: expected one of "exponential", "linear", "constant", received the string "sometimes"',
    ]);
    expect(issues.map((issue) => issue.code)).toEqual(["invalid_field", "invalid_field", "invalid_field"]);
  });
});

describe("rules files and events", () => {
  it("a rules file's problems say what was expected and what was given", () => {
    const error = (() => {
      try {
        parseRulesText("- name: a\n  match: hi\n  flags: x\n  tasks: []\n", "rules.yaml");
      } catch (caught) {
        return caught as RulesFileError;
      }
      throw new Error("expected the rules file to be refused");
    })();
    expect(error.problems).toEqual([
      'rules.0.flags: expected RegExp flags among d, i, m, s, u, v, received the string "x"',
      "rules.0.tasks: expected an array of at least 1 item, received an array of 0",
    ]);
  });

  it("an event that does not fit the catalogue names the field in the same words", () => {
    expect(() =>
      parseEvent({ id: "7", type: "task:progress", runId: "r", createdAt: new Date(0).toISOString(), payload: {} }),
    ).toThrow(/\(payload\.\w+: expected a number, received undefined\)/);
  });
});
