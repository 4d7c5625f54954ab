/**
 * What the goal commands share: the decomposer the settings ask for (with the built-in catalogue's
 * rules), the orchestrator on the settings' store, and planning a goal with a helpful error.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { hybridDecomposer } from "../decomposers/hybrid.js";
import { llmDecomposer } from "../decomposers/llm/decomposer.js";
import { apiKeyVariable } from "../decomposers/llm/options.js";
import { llmStep } from "../decomposers/llm/step.js";
import type { Steps } from "../composer/steps.js";
import { FALLBACK_STEP } from "../graph/fallback.js";
import { ruleDecomposer, type RuleDecomposer } from "../decomposers/rules.js";
import { RuleMatchTimeoutError } from "../decomposers/rule-safety.js";
import type { TaskGraph } from "../graph/task-graph.js";
import type { Decomposer } from "../graph/decomposer.js";
import { DecompositionError, HtdagError, InvalidOptionError } from "../errors.js";
import { createOrchestrator } from "../create-orchestrator.js";
import type { Orchestrator } from "../orchestrator/orchestrator.js";
import { ORCHESTRATOR_DEFAULTS } from "../defaults.js";
import { DEFAULT_DATA_DIR } from "../store/connect.js";
import { checkSeed } from "../store/pglite-seed.js";
import { builtinRules, builtinSteps, EXAMPLE_GOALS, workflowFor, BUILTIN_WORKFLOW } from "./catalogue/index.js";
import { resolveSettings, type Settings } from "./settings.js";

/** `--decomposer llm|hybrid` without the provider's API key in the environment. */
export class MissingApiKeyError extends HtdagError {
  readonly variable: string;

  constructor(decomposer: string, provider: string, variable: string) {
    super(
      "MISSING_API_KEY",
      `--decomposer ${decomposer} with provider ${provider} needs an API key: set ${variable} ` +
        `(or use --decomposer rules, which needs no key)`,
    );
    this.variable = variable;
  }
}

/** The built-in rules as a decomposer. */
export function builtinRuleDecomposer(): RuleDecomposer {
  return ruleDecomposer(builtinRules, { name: "builtin-rules" });
}

/** The decomposer `settings.decomposer` names; LLM ones read the provider's key from `env`. */
export function buildDecomposer(settings: Settings, env: NodeJS.ProcessEnv = process.env): Decomposer {
  if (settings.decomposer === "rules") {
    return builtinRuleDecomposer();
  }
  const variable = apiKeyVariable(settings.provider);
  if (!env[variable]) {
    throw new MissingApiKeyError(settings.decomposer, settings.provider, variable);
  }
  const llm = llmDecomposer({ provider: settings.provider, model: settings.model });
  return settings.decomposer === "llm" ? llm : hybridDecomposer({ rules: builtinRuleDecomposer(), llm });
}

/**
 * The built-in catalogue with the fallback `"*"`: an llmStep with the settings' provider and model,
 * for the tasks of an LLM-planned run that name no built-in step (free-form tasks). `retry` and
 * `resume` bind it always: a run planned by the rules has no such task, so it is never called.
 */
export function fallbackSteps(settings: Pick<Settings, "provider" | "model">): Steps {
  return { ...builtinSteps, [FALLBACK_STEP]: llmStep({ provider: settings.provider, model: settings.model }) };
}

/**
 * The steps a goal is planned and run with: the built-in catalogue, and with an LLM decomposer
 * (`llm`, `hybrid`) the fallback too, so that the model may plan free-form tasks and any goal runs
 * end to end (docs/cli.md, docs/llm-steps.md). The rules get no fallback: it would let a rule's
 * misspelt step pass validation.
 */
export function stepsFor(settings: Settings): Steps {
  return settings.decomposer === "rules" ? builtinSteps : fallbackSteps(settings);
}

/**
 * What to print before opening the settings' store when it is a new embedded one (docs/cli.md#first-run):
 * a line naming its folder, which says it takes seconds when the shipped data dir does not fit and
 * initdb must run. Null for an existing store or Postgres.
 */
export async function newEmbeddedStoreNotice(settings: Settings): Promise<string | null> {
  const database = settings.database ?? `pglite:${DEFAULT_DATA_DIR}`;
  if (!database.startsWith("pglite:")) {
    return null;
  }
  const dir = database.slice("pglite:".length) || DEFAULT_DATA_DIR;
  if (existsSync(join(dir, "PG_VERSION"))) {
    return null;
  }
  const seed = await checkSeed(settings.schema ?? ORCHESTRATOR_DEFAULTS.schema);
  return seed.usable
    ? `creating the embedded database in ${dir}…`
    : `creating the embedded database in ${dir} with initdb (first run only; a few seconds, as ${seed.reason})…`;
}

/** Opens the orchestrator on the settings' store (PGlite in ./.htdag by default). */
export async function openOrchestrator(settings: Settings): Promise<Orchestrator> {
  // Errors that must not stop a run (a failed heartbeat) are printed, never swallowed.
  return createOrchestrator({
    ...(settings.database ? { database: settings.database } : {}),
    ...(settings.schema ? { schema: settings.schema } : {}),
    onError: (error) => process.stderr.write(`htdag: ${error instanceof Error ? error.message : String(error)}\n`),
  });
}

/** Opens the orchestrator on the settings of `program`'s flags (and config file, env), runs `fn`, closes it. */
export async function withOrchestrator(
  program: Command,
  fn: (orch: Orchestrator, settings: Settings) => Promise<void>,
): Promise<void> {
  const settings = await resolveSettings(program.opts());
  const orch = await openOrchestrator(settings);
  try {
    await fn(orch, settings);
  } finally {
    await orch.close();
  }
}

/** A goal's graph and the workflow its run is recorded under. */
export interface Plan {
  graph: TaskGraph;
  workflow: string;
  /** The steps it runs with (the built-in catalogue, and the fallback with an LLM decomposer). */
  steps: Steps;
}

/** Throws when `goal` is empty, before any store is opened. */
export function assertGoal(goal: string): void {
  if (goal.trim() === "") {
    throw new InvalidOptionError("goal", `a goal such as ${JSON.stringify(EXAMPLE_GOALS[0])}`, goal);
  }
}

/**
 * Decomposes `goal` with the built-in catalogue (and the fallback in `steps`, when there is one); a
 * goal no one knows gets examples of goals that work.
 */
export async function planGoal(
  orch: Orchestrator,
  goal: string,
  decomposer: Decomposer,
  steps: Steps = builtinSteps,
): Promise<Plan> {
  assertGoal(goal);
  try {
    const graph = await orch.decomposeGoal(goal, decomposer, { steps });
    const rule = graph.source === "llm" ? undefined : builtinRuleDecomposer().match(goal)?.rule;
    return { graph, workflow: rule ? workflowFor(rule) : BUILTIN_WORKFLOW, steps };
  } catch (error) {
    // Only "no rule matched" gets the examples; a rule that took too long says so itself.
    if (
      !(error instanceof DecompositionError) ||
      error.cause instanceof RuleMatchTimeoutError ||
      decomposerName(decomposer) !== "builtin-rules"
    ) {
      throw error;
    }
    throw new DecompositionError(
      goal,
      `no built-in rule matches it. Try one of: ${EXAMPLE_GOALS.map((g) => JSON.stringify(g)).join(", ")}; ` +
        "or plan any goal with an LLM: --decomposer hybrid (needs OPENAI_API_KEY or ANTHROPIC_API_KEY)",
      { cause: error },
    );
  }
}

function decomposerName(decomposer: Decomposer): string | undefined {
  return typeof decomposer === "function" ? undefined : (decomposer as { name?: string }).name;
}
