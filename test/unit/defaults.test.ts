/**
 * Defaults are defined once (src/defaults.ts): every schema applies exactly those values, the CLI
 * uses them, the JSDoc `@default` of every public option states them, and each public options
 * interface has the keys of its schema and fits its input (the `expectTypeOf` checks are compile-time:
 * `npm run typecheck` fails on a mismatch).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { z } from "zod";
import { mergeSettings, type PartialSettings, type Settings } from "../../src/cli/settings.js";
import { dashboardOptionsSchema, resolveDashboardOptions } from "../../src/dashboard/options.js";
import { llmDecomposerOptionsSchema, type LlmDecomposerOptions } from "../../src/decomposers/llm/options.js";
import { llmStepOptionsSchema } from "../../src/decomposers/llm/step.js";
import {
  CLI_DEFAULTS,
  DASHBOARD_DEFAULTS,
  EXECUTION_DEFAULTS,
  LIST_RUNS_DEFAULTS,
  LISTEN_DEFAULTS,
  LLM_DECOMPOSER_DEFAULTS,
  LLM_STEP_DEFAULTS,
  NOTIFICATIONS_DEFAULTS,
  OPTIMIZER_DEFAULTS,
  ORCHESTRATOR_DEFAULTS,
  RECENT_EVENTS_DEFAULTS,
  RUN_DEFAULTS,
  RULE_DECOMPOSER_DEFAULTS,
} from "../../src/defaults.js";
import { backoffSchema, DEFAULT_GRAPH_LIMITS } from "../../src/graph/task-graph.js";
import { optimizeOptionsSchema, type OptimizeOptions } from "../../src/optimizer/types.js";
import type { DashboardOptions } from "../../src/orchestrator/dashboard-port.js";
import { listRunsOptionsSchema } from "../../src/orchestrator/list-runs-options.js";
import {
  executionDefaultsSchema,
  orchestratorOptionsSchema,
  resolveOrchestratorOptions,
  type ExecutionDefaultsInput,
  type OrchestratorOptions,
} from "../../src/orchestrator/options.js";
import { runOptionsSchema, type RunOptions } from "../../src/orchestrator/run-options.js";
import type { ListRunsOptions } from "../../src/orchestrator/runs.js";

const root = join(import.meta.dirname, "../..");

describe("every schema applies the defaults of src/defaults.ts", () => {
  it("createOrchestrator, with its execution defaults", () => {
    expect(resolveOrchestratorOptions({})).toStrictEqual({ ...ORCHESTRATOR_DEFAULTS, defaults: EXECUTION_DEFAULTS });
    expect(executionDefaultsSchema.parse({})).toStrictEqual(EXECUTION_DEFAULTS);
    expect(backoffSchema.parse({})).toStrictEqual(EXECUTION_DEFAULTS.backoff);
  });

  it("a run, and the graph limits a run validates with", () => {
    expect(runOptionsSchema.parse({})).toStrictEqual(RUN_DEFAULTS);
    expect(DEFAULT_GRAPH_LIMITS).toStrictEqual({
      maxTasks: ORCHESTRATOR_DEFAULTS.maxTasks,
      maxInputBytes: ORCHESTRATOR_DEFAULTS.maxInputBytes,
      maxDepth: RUN_DEFAULTS.maxDepth,
    });
  });

  it("the dashboard and listRuns", () => {
    expect(dashboardOptionsSchema.parse({})).toStrictEqual(DASHBOARD_DEFAULTS);
    expect(resolveDashboardOptions({})).toMatchObject({ ...DASHBOARD_DEFAULTS, token: null });
    expect(listRunsOptionsSchema.parse({})).toStrictEqual(LIST_RUNS_DEFAULTS);
  });

  it("the LLM decomposer (provider and model are required) and the optimizer", () => {
    expect(llmDecomposerOptionsSchema.parse({ provider: "openai", model: "m" })).toStrictEqual({
      provider: "openai",
      model: "m",
      ...LLM_DECOMPOSER_DEFAULTS,
    });
    expect(optimizeOptionsSchema.parse({})).toStrictEqual(OPTIMIZER_DEFAULTS);
  });

  it("llmStep (provider and model are required)", () => {
    expect(llmStepOptionsSchema.parse({ provider: "anthropic", model: "m" })).toStrictEqual({
      provider: "anthropic",
      model: "m",
      ...LLM_STEP_DEFAULTS,
    });
  });

  it("the CLI, whose maxParallel is the library's", () => {
    expect(mergeSettings([])).toStrictEqual({
      maxParallel: CLI_DEFAULTS.maxParallel,
      decomposer: CLI_DEFAULTS.decomposer,
      provider: CLI_DEFAULTS.provider,
      model: CLI_DEFAULTS.models.openai,
    });
    expect(mergeSettings([], { ANTHROPIC_API_KEY: "k" })).toMatchObject({
      provider: "anthropic",
      model: CLI_DEFAULTS.models.anthropic,
    });
    expect(CLI_DEFAULTS.maxParallel).toBe(EXECUTION_DEFAULTS.maxParallel);
  });
});

/** A value as a JSDoc `@default` writes it: strings quoted, objects as `{ key: value, … }`. */
function render(value: unknown): string {
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value).map(([key, v]) => `${key}: ${render(v)}`);
    return `{ ${entries.join(", ")} }`;
  }
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/** The `@default` text of each property of `interface name` in `file`, digits' `_` removed. */
async function jsdocDefaults(file: string, name: string): Promise<Map<string, string>> {
  const source = await readFile(join(root, file), "utf8");
  const body = new RegExp(`export interface ${name}\\b[^{]*\\{([\\s\\S]*?)\\n\\}`).exec(source)?.[1];
  if (body === undefined) {
    throw new Error(`no interface ${name} in ${file}`);
  }
  const found = new Map<string, string>();
  for (const [, comment = "", property = ""] of body.matchAll(/\/\*\*([\s\S]*?)\*\/\s*(?:readonly\s+)?(\w+)\??:/g)) {
    const text = comment
      .split("\n")
      .map((line) => line.replace(/^\s*\*\s?/, ""))
      .join(" ");
    const stated = /@default\s+(.*?)\s*(?=@\w|$)/.exec(text)?.[1];
    if (stated !== undefined) {
      found.set(property, stated.replace(/\s+/g, " ").replace(/(\d)_(?=\d)/g, "$1"));
    }
  }
  return found;
}

/** Each public options interface, and the defaults its JSDoc must state (all keys unless `keys`). */
const DOCUMENTED: { file: string; name: string; defaults: Record<string, unknown>; keys?: string[] }[] = [
  { file: "src/orchestrator/options.ts", name: "OrchestratorOptions", defaults: ORCHESTRATOR_DEFAULTS },
  { file: "src/orchestrator/options.ts", name: "ExecutionDefaultsInput", defaults: EXECUTION_DEFAULTS },
  { file: "src/orchestrator/run-options.ts", name: "RunOptions", defaults: RUN_DEFAULTS },
  {
    file: "src/orchestrator/run-options.ts",
    name: "RunOptions",
    defaults: EXECUTION_DEFAULTS,
    keys: ["priority", "queue"],
  },
  {
    file: "src/orchestrator/decompose-options.ts",
    name: "DecomposeOptions",
    defaults: RUN_DEFAULTS,
    keys: ["maxDepth"],
  },
  {
    file: "src/decomposers/rules.ts",
    name: "RuleDecomposerOptions",
    defaults: RULE_DECOMPOSER_DEFAULTS,
    keys: ["matchTimeoutMs"],
  },
  { file: "src/graph/task-graph.ts", name: "GraphLimits", defaults: DEFAULT_GRAPH_LIMITS },
  { file: "src/orchestrator/dashboard-port.ts", name: "DashboardOptions", defaults: DASHBOARD_DEFAULTS },
  { file: "src/orchestrator/runs.ts", name: "ListRunsOptions", defaults: LIST_RUNS_DEFAULTS },
  { file: "src/decomposers/llm/options.ts", name: "LlmDecomposerOptions", defaults: LLM_DECOMPOSER_DEFAULTS },
  { file: "src/decomposers/llm/step.ts", name: "LlmStepOptions", defaults: LLM_STEP_DEFAULTS },
  { file: "src/optimizer/types.ts", name: "OptimizeOptions", defaults: OPTIMIZER_DEFAULTS },
  { file: "src/notifications/service.ts", name: "NotificationsOptions", defaults: NOTIFICATIONS_DEFAULTS },
  { file: "src/notifications/service.ts", name: "RecentEventsOptions", defaults: RECENT_EVENTS_DEFAULTS },
  {
    file: "src/notifications/service.ts",
    name: "ListenOptions",
    defaults: LISTEN_DEFAULTS,
    keys: ["pollIntervalMs"],
  },
  {
    file: "src/cli/settings.ts",
    name: "Settings",
    defaults: CLI_DEFAULTS,
    keys: ["maxParallel", "decomposer", "provider"],
  },
];

describe("the JSDoc @default of every public option states the defaults module's value", () => {
  it.each(DOCUMENTED)("$name ($file)", async ({ file, name, defaults, keys }) => {
    const stated = await jsdocDefaults(file, name);
    for (const key of keys ?? Object.keys(defaults)) {
      const expected = render(defaults[key]);
      const text = stated.get(key);
      // A literal, optionally followed by a remark: `10 (the library's defaults.maxParallel)`.
      expect(
        text === expected || text?.startsWith(`${expected} `) || text?.startsWith(`${expected},`),
        `${name}.${key}: @default ${text ?? "(missing)"}, expected ${expected}`,
      ).toBe(true);
    }
  });

  it("the CLI's models per provider", async () => {
    const model = (await jsdocDefaults("src/cli/settings.ts", "Settings")).get("model");
    expect(model).toContain(JSON.stringify(CLI_DEFAULTS.models.openai));
    expect(model).toContain(JSON.stringify(CLI_DEFAULTS.models.anthropic));
  });
});

describe("each public options interface has its schema's keys and fits its input (checked by tsc)", () => {
  it("createOrchestrator and its execution defaults", () => {
    type Input = z.input<typeof orchestratorOptionsSchema>;
    expectTypeOf<keyof OrchestratorOptions>().toEqualTypeOf<keyof Input>();
    expectTypeOf<OrchestratorOptions>().toExtend<Input>();
    type Defaults = z.input<typeof executionDefaultsSchema>;
    expectTypeOf<keyof ExecutionDefaultsInput>().toEqualTypeOf<keyof Defaults>();
    expectTypeOf<ExecutionDefaultsInput>().toExtend<Defaults>();
  });

  it("a run", () => {
    type Input = z.input<typeof runOptionsSchema>;
    expectTypeOf<keyof RunOptions>().toEqualTypeOf<keyof Input>();
    expectTypeOf<RunOptions>().toExtend<Input>();
  });

  it("the dashboard and listRuns", () => {
    type Dashboard = z.input<typeof dashboardOptionsSchema>;
    expectTypeOf<keyof DashboardOptions>().toEqualTypeOf<keyof Dashboard>();
    expectTypeOf<DashboardOptions>().toExtend<Dashboard>();
    type List = z.input<typeof listRunsOptionsSchema>;
    expectTypeOf<keyof ListRunsOptions>().toEqualTypeOf<keyof List>();
    expectTypeOf<ListRunsOptions>().toExtend<List>();
  });

  it("the LLM decomposer and the optimizer", () => {
    type Llm = z.input<typeof llmDecomposerOptionsSchema>;
    expectTypeOf<keyof LlmDecomposerOptions>().toEqualTypeOf<keyof Llm>();
    expectTypeOf<LlmDecomposerOptions>().toExtend<Llm>();
    type Optimize = z.input<typeof optimizeOptionsSchema>;
    expectTypeOf<keyof OptimizeOptions>().toEqualTypeOf<keyof Optimize>();
    expectTypeOf<OptimizeOptions>().toExtend<Optimize>();
  });

  it("the CLI's settings", () => {
    expectTypeOf<keyof Settings>().toEqualTypeOf<keyof PartialSettings>();
  });
});
