/**
 * Rules against catastrophic regular expressions and hostile rules files: a pattern that repeats
 * a repeated part is refused when loaded, any other slow match is cut at `matchTimeoutMs` with a
 * typed RuleMatchTimeoutError, and a rules file is rules or a RulesFileError (never a crash or a hang).
 */
import { readFile } from "node:fs/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { RulesFileError } from "../../src/decomposers/rules-file.js";
import { RuleMatchTimeoutError } from "../../src/decomposers/rule-safety.js";
import { ruleDecomposer } from "../../src/decomposers/rules.js";
import { builtinRules } from "../../src/cli/catalogue/rules.js";
import { caseCounter, expectTyped, hostileString } from "./hostile.js";

const atom = fc.constantFrom("a", "\\w", "[a-z]", "\\d", ".", "(?:ab)", "[^,]");
const tasks = [{ id: "t" }];

describe("catastrophic patterns", () => {
  it("refuses a repeated part that itself repeats without bound, in code and in rules files", () => {
    const cases = caseCounter("ruleDecomposer(nested repetition)");
    const nested = fc
      .tuple(
        atom,
        fc.constantFrom("+", "*", "{1,}"),
        fc.constantFrom("+", "*", "{2,}", "+?"),
        fc.constantFrom("", "$", "b"),
      )
      .map(([inner, q1, q2, tail]) => `^(${inner}${q1})${q2}${tail}`);
    fc.assert(
      fc.property(nested, fc.boolean(), (pattern, asString) => {
        cases.count();
        const error = catchError(() =>
          ruleDecomposer([{ name: "r", match: asString ? pattern : new RegExp(pattern), tasks }]),
        );
        expectTyped(error, InvalidOptionError);
        expect((error as Error).message).toMatch(/repeats without bound/);
        const file = catchError(() =>
          ruleDecomposer.fromText(
            `rules:\n  - name: r\n    match: ${JSON.stringify(pattern)}\n    tasks: [{ id: t }]\n`,
          ),
        );
        expectTyped(file, RulesFileError);
      }),
      { numRuns: 200 },
    );
    cases.report(200);
  });

  it("cuts any other slow match at matchTimeoutMs with a RuleMatchTimeoutError naming the rule", () => {
    const cases = caseCounter("ruleDecomposer.match(overlapping alternation, long goal)");
    const slow = fc.constantFrom("^(a|a)*$", "^(a|aa)*$", "^(?:a|a?)+$".replace("+", "*"), "^(\\w|a)*$");
    let timedOut = 0;
    fc.assert(
      fc.property(slow, fc.integer({ min: 28, max: 10_000 }), (pattern, length) => {
        cases.count();
        const decomposer = ruleDecomposer([{ name: "slow", match: pattern, tasks }], { matchTimeoutMs: 20 });
        const outcome = catchError(() => decomposer.match(`${"a".repeat(length)}!`), true);
        if (outcome !== null) {
          expectTyped(outcome, RuleMatchTimeoutError);
          expect((outcome as RuleMatchTimeoutError).rule).toBe("slow");
          timedOut++;
        }
      }),
      { numRuns: 40 },
    );
    cases.report(40);
    console.log(`  timed out: ${timedOut}`);
    expect(timedOut).toBeGreaterThan(0);
  });

  it("(a+)+$ against a long goal was a hang of seconds; now it is refused when loaded", () => {
    expect(() => ruleDecomposer([{ name: "bad", match: /^(a+)+$/, tasks }])).toThrow(
      "invalid option `rules[0].match` in ruleDecomposer: expected a pattern without a repeated part that itself repeats without bound ((a+)+ can take time",
    );
  });

  it("accepts the built-in rules and the example rules file (no false alarm)", async () => {
    expect(ruleDecomposer(builtinRules).rules.length).toBe(builtinRules.length);
    const text = await readFile(new URL("../../examples/rules/dailylife.yaml", import.meta.url), "utf8");
    expect(ruleDecomposer.fromText(text).rules.length).toBeGreaterThan(10);
  });

  it("refuses a matchTimeoutMs that is not a positive integer", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, "100"]) {
      expect(() => ruleDecomposer(builtinRules, { matchTimeoutMs: bad as number })).toThrow(InvalidOptionError);
    }
  });
});

describe("hostile rules files", () => {
  const bomb = (fanout: number, levels: number) => {
    const lines = [`l0: &l0 [${Array(fanout).fill('"lol"').join(", ")}]`];
    for (let i = 1; i < levels; i++) {
      lines.push(
        `l${i}: &l${i} [${Array(fanout)
          .fill(`*l${i - 1}`)
          .join(", ")}]`,
      );
    }
    return `${lines.join("\n")}\nrules:\n  - name: r\n    match: x\n    tasks: [*l${levels - 1}]\n`;
  };
  const text = fc.oneof(
    fc.string({ unit: "binary", maxLength: 200 }),
    fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 2, max: 9 })).map(([f, l]) => bomb(f, l)),
    fc
      .tuple(hostileString, hostileString, fc.constantFrom("(", "[", "(?<", "\\", "(a+)+", "*", "{99999999999}"))
      .map(
        ([name, match, junk]) =>
          `rules:\n  - name: ${JSON.stringify(name)}\n    match: ${JSON.stringify(match + junk)}\n    tasks: [{ id: t }]\n`,
      ),
  );

  it("gives rules or a RulesFileError", () => {
    const cases = caseCounter("ruleDecomposer.fromText(hostile rules file)");
    fc.assert(
      fc.property(text, (source) => {
        cases.count();
        const outcome = catchError(() => ruleDecomposer.fromText(source), true);
        if (outcome !== null) {
          expectTyped(outcome, RulesFileError, InvalidOptionError);
        }
      }),
      { numRuns: 400 },
    );
    cases.report(400);
  });

  it("refuses a billion-laughs rules file (was: the yaml library's untyped ReferenceError)", () => {
    const error = catchError(() => ruleDecomposer.fromText(bomb(9, 9)));
    expectTyped(error, RulesFileError);
    expect((error as RulesFileError).problems[0]).toMatch(/more than 100 alias expansions/);
  });
});

function catchError(fn: () => unknown, orNull = false): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  if (orNull) {
    return null;
  }
  throw new Error("expected an error");
}
