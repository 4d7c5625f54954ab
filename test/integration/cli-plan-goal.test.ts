/**
 * `planGoal`, the CLI's planning: a goal no built-in rule matches gets examples of goals that work;
 * a rule that took too long to match says so itself (before, it was reported as "no built-in rule
 * matches", which is how a loaded CI machine's 100 ms watchdog showed up in a test).
 */
import { describe, expect, it } from "vitest";
import { planGoal } from "../../src/cli/session.js";
import { ruleDecomposer } from "../../src/decomposers/rules.js";
import { useOrchestrator } from "../helpers/stores.js";

describe("planGoal", () => {
  const orch = useOrchestrator("postgres");
  const tasks = [{ id: "t" }];

  it("names a rule that took too long, not a goal that matched nothing", async () => {
    const slow = ruleDecomposer([{ name: "slow", match: "^(a|a)*$", tasks }], {
      name: "builtin-rules",
      matchTimeoutMs: 5,
    });
    const error = await planGoal(orch(), `${"a".repeat(40)}!`, slow).catch((e: unknown) => e as Error);
    expect(String(error)).toMatch(/rule "slow" took longer than 5 ms \(matchTimeoutMs\)/);
    expect(String(error)).not.toMatch(/no built-in rule matches/);
  });

  it("gives examples for a goal no rule matches", async () => {
    const none = ruleDecomposer([{ name: "only", match: "^only$", tasks }], { name: "builtin-rules" });
    await expect(planGoal(orch(), "bake a cake", none)).rejects.toThrow(/no built-in rule matches it\. Try one of/);
  });
});
