/** decomposeGoal: runs a decomposer, validates what it returns, records the graph. */
import { DecompositionError, GraphValidationError } from "../errors.js";
import type { TaskGraph } from "../decomposers/task-graph.js";
import type { CatalogueEntry, Decomposer, DecomposerContext } from "../decomposers/types.js";
import { validateGraph } from "../decomposers/validate.js";
import type { Steps } from "../composer/steps.js";
import { toStepDefinition } from "../composer/steps.js";
import type { EventQueries } from "../store/events.js";
import type { GraphQueries } from "../store/graphs.js";
import { z } from "zod";

/** Options of decomposeGoal. */
export interface DecomposeOptions {
  /** Deepest hierarchy allowed. @default 5 */
  maxDepth?: number;
  /** Use the decomposition cache (rule/LLM/hybrid decomposers). @default true */
  cache?: boolean;
  /** Steps the graph may use; their names, descriptions and input schemas form the catalogue. @default none */
  steps?: Steps;
  /** The catalogue, when no steps are given. @default derived from `steps` */
  catalogue?: CatalogueEntry[];
  /** Time the decomposer may take, in ms. @default 60000 */
  timeoutMs?: number;
  /** Outputs of upstream workflows (composeMultipleWorkflows). @default none */
  upstream?: Record<string, unknown>;
}

export interface DecomposeDeps {
  graphs: GraphQueries;
  events: EventQueries;
  channel: string | null;
  limits: { maxTasks: number; maxInputBytes: number };
}

/** The name a decomposer is recorded under. */
export function decomposerName(decomposer: Decomposer): string {
  return typeof decomposer === "function" ? decomposer.name || "function" : decomposer.name;
}

/** Builds the catalogue decomposers see from bound steps. */
export function catalogueOf(steps: Steps): CatalogueEntry[] {
  return Object.entries(steps).map(([name, entry]) => {
    const step = toStepDefinition(entry);
    return { name, ...(step.description ? { description: step.description } : {}),
      ...(step.input ? { inputSchema: z.toJSONSchema(step.input, { unrepresentable: "any" }) } : {}) };
  });
}

export async function decomposeGoal(deps: DecomposeDeps, goal: unknown, decomposer: Decomposer, options: DecomposeOptions = {}): Promise<TaskGraph> {
  if (typeof goal !== "string" || goal.trim() === "") throw new DecompositionError(String(goal), "the goal must be a non-empty string");
  const name = decomposerName(decomposer);
  const decompose = typeof decomposer === "function" ? decomposer : decomposer?.decompose;
  if (typeof decompose !== "function") throw new DecompositionError(goal, "the decomposer must be a function or an object with a `decompose` function");
  const started = performance.now();
  await deps.events.emit({ type: "decomposition:started", payload: { goal, decomposer: name } }, deps.channel);
  try {
    const graph = await runDecomposer(goal, name, decompose, options, deps);
    await deps.graphs.recordGraph(graph);
    const latencyMs = performance.now() - started;
    await deps.graphs.recordDecomposition({ graphId: graph.id, goal, decomposer: name, source: graph.source, latencyMs });
    await deps.events.emit({ type: "decomposition:completed", payload: { goal, decomposer: name, graphId: graph.id,
      source: graph.source, tasks: graph.tasks.length, latencyMs } }, deps.channel);
    return graph;
  } catch (error) {
    const failure = error instanceof DecompositionError ? error : new DecompositionError(goal, `the decomposer threw: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    await deps.graphs.recordDecomposition({ graphId: null, goal, decomposer: name, source: "function",
      latencyMs: performance.now() - started, error: failure.message });
    await deps.events.emit({ type: "decomposition:failed", payload: { goal, decomposer: name, error: failure.message } }, deps.channel);
    throw failure;
  }
}

async function runDecomposer(goal: string, name: string, decompose: (g: string, c: DecomposerContext) => unknown,
  options: DecomposeOptions, deps: DecomposeDeps): Promise<TaskGraph> {
  const signal = AbortSignal.timeout(options.timeoutMs ?? 60_000);
  const catalogue = options.catalogue ?? (options.steps ? catalogueOf(options.steps) : []);
  const ctx: DecomposerContext = { catalogue, depth: 0, signal, ...(options.upstream ? { upstream: options.upstream } : {}) };
  const aborted = new Promise<never>((_, reject) => signal.addEventListener("abort", () =>
    reject(new DecompositionError(goal, `the decomposer took longer than ${options.timeoutMs ?? 60_000} ms (timeoutMs)`)), { once: true }));
  const result = await Promise.race([Promise.resolve(decompose(goal, ctx)), aborted]);
  if (result === null || result === undefined) throw new DecompositionError(goal, `decomposer ${name} returned ${String(result)}: no rule or model knew this goal`);
  const input = Array.isArray(result) ? { goal, tasks: result } : result;
  if (typeof input !== "object" || !Array.isArray((input as { tasks?: unknown }).tasks)) {
    throw new DecompositionError(goal, `decomposer ${name} returned ${typeof input === "object" ? "an object without a tasks array" : typeof input}; return an array of tasks or { goal, tasks }`);
  }
  try {
    return validateGraph({ goal, ...(input as object) }, {
      limits: { ...deps.limits, maxDepth: options.maxDepth ?? 5 },
      ...(options.steps ? { stepNames: Object.keys(options.steps) } : {}),
      defaults: { decomposer: name, source: "function" },
    });
  } catch (error) {
    if (!(error instanceof GraphValidationError)) throw error;
    throw new DecompositionError(goal, `decomposer ${name} returned an invalid graph:\n${error.issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`, { issues: error.issues, cause: error });
  }
}
