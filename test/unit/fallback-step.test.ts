/**
 * The "*" fallback step (design.md §14) in each place that looks steps up: validation, binding,
 * the LLM decomposer's prompt, schema and repair, and the CLI's steps.
 */
import { describe, expect, it } from "vitest";
import { bindGraph } from "../../src/composer/bind.js";
import { defineStep, findStep, stepEntryOf, type Steps } from "../../src/composer/steps.js";
import { repairPlan } from "../../src/decomposers/repair.js";
import { catalogueLines, pickableStepNames, systemPrompt } from "../../src/decomposers/llm/prompt.js";
import { planJsonSchema } from "../../src/decomposers/llm/schema.js";
import { collectGraphIssues, validateGraph } from "../../src/graph/validate.js";
import { FALLBACK_STEP } from "../../src/graph/fallback.js";
import { builtinSteps, builtinWorkflows } from "../../src/cli/catalogue/index.js";
import { fallbackSteps, stepsFor } from "../../src/cli/session.js";
import type { Settings } from "../../src/cli/settings.js";

const GRAPH = {
  goal: "Plan a picnic",
  tasks: [
    { id: "menu", description: "Choose the food" },
    { id: "invite", step: "send_invites", dependsOn: ["menu"] },
  ],
};

describe("validation with the fallback", () => {
  it("accepts tasks whose step has no function when '*' is bound, and reports them otherwise", () => {
    expect(collectGraphIssues(GRAPH, { stepNames: ["note", FALLBACK_STEP] }).issues).toEqual([]);
    const without = collectGraphIssues(GRAPH, { stepNames: ["note"] }).issues;
    expect(without.map((issue) => [issue.code, issue.path])).toEqual([
      ["unknown_step", "tasks[0].id"],
      ["unknown_step", "tasks[1].step"],
    ]);
  });
});

describe("step lookup with the fallback", () => {
  const fallback = defineStep({ timeoutMs: 1_234, maxAttempts: 5, run: () => "fallback" });
  const own = defineStep({ timeoutMs: 99, run: () => "own" });

  it("finds a task's own step first, then '*'", () => {
    const steps: Steps = { menu: own, [FALLBACK_STEP]: fallback };
    expect(stepEntryOf(steps, "menu")).toBe(own);
    expect(stepEntryOf(steps, "send_invites")).toBe(fallback);
    expect(stepEntryOf({ menu: own }, "send_invites")).toBeUndefined();
    expect(findStep(new Map(Object.entries(steps)), "send_invites")).toBe(fallback);
  });

  it("binds the tasks the fallback runs with its settings and their own step names", () => {
    const graph = validateGraph(GRAPH, { stepNames: ["menu", FALLBACK_STEP] });
    const defaults = {
      maxAttempts: 3,
      timeoutMs: 60_000,
      backoff: { kind: "exponential" as const, baseMs: 100, maxMs: 1_000, jitter: 0 },
      priority: 0,
      queue: "default",
    };
    const { tasks } = bindGraph(graph, { menu: own, [FALLBACK_STEP]: fallback }, defaults);
    expect(tasks.map((t) => [t.id, t.step, t.timeout_ms, t.max_attempts])).toEqual([
      ["menu", "menu", 99, 3],
      ["invite", "send_invites", 1_234, 5],
    ]);
  });
});

describe("the LLM decomposer with a fallback in the catalogue", () => {
  const catalogue = [
    { name: "get_weather", description: "Get the weather" },
    { name: FALLBACK_STEP, description: "anything" },
  ];

  it("offers the catalogue's steps without '*', and says free-form tasks are allowed", () => {
    expect(pickableStepNames(catalogue)).toEqual(["get_weather"]);
    expect(catalogueLines(catalogue)).toEqual([
      "- get_weather: Get the weather",
      '(free-form tasks allowed: "step": null, with a description that says exactly what to do)',
    ]);
    expect(catalogueLines([{ name: FALLBACK_STEP }])).toEqual([
      '(free-form tasks allowed: "step": null, with a description that says exactly what to do)',
    ]);
    expect(systemPrompt(true, undefined, false, true)).toContain(
      'Free-form tasks are fine: an atomic task with "step": null',
    );
    expect(systemPrompt(true, undefined, false, false)).not.toContain("Free-form");
  });

  it("lets an atomic task's step be null in the schema, and repair keeps that null", () => {
    const schema = planJsonSchema({ stepNames: ["get_weather"], allowComposite: false, freeForm: true });
    const step = (schema as { properties: { tasks: { items: { properties: { step: unknown } } } } }).properties.tasks
      .items.properties.step;
    expect(JSON.stringify(step)).toContain('"get_weather"');
    expect(JSON.stringify(step)).toContain('"null"');
    expect(JSON.stringify(step)).not.toContain('"*"');
    const task = { id: "get_weathr", description: "Say hi", step: null, kind: "atomic", dependsOn: [], input: null };
    const actions: string[] = [];
    const kept = repairPlan([task] as never, { stepNames: ["get_weather"], freeForm: true }, (a) => actions.push(a));
    expect(kept[0]?.step).toBeNull();
    const guessed = repairPlan([task] as never, { stepNames: ["get_weather"] }, (a) => actions.push(a));
    expect(guessed[0]?.step).toBe("get_weather");
  });
});

describe("the CLI's steps", () => {
  const settings = (decomposer: Settings["decomposer"]): Settings => ({
    maxParallel: 10,
    decomposer,
    provider: "anthropic",
    model: "claude-sonnet-4-5",
  });

  it("binds an llmStep fallback with an LLM decomposer, and only the catalogue with rules", () => {
    expect(stepsFor(settings("rules"))).toBe(builtinSteps);
    for (const decomposer of ["llm", "hybrid"] as const) {
      const steps = stepsFor(settings(decomposer));
      expect(Object.keys(steps)).toEqual([...Object.keys(builtinSteps), FALLBACK_STEP]);
      expect(steps[FALLBACK_STEP]).toMatchObject({ kind: "htdag.step", run: expect.any(Function) });
    }
  });

  it("retry and resume bind the fallback for every built-in workflow", () => {
    const steps = fallbackSteps(settings("rules"));
    expect(Object.keys(steps)).toEqual([...Object.keys(builtinSteps), FALLBACK_STEP]);
    const workflows = builtinWorkflows(steps);
    expect(Object.values(workflows).every((bound) => bound === steps)).toBe(true);
    expect(Object.values(builtinWorkflows()).every((bound) => bound === builtinSteps)).toBe(true);
  });
});
