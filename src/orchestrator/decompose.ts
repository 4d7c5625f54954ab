/** decomposeGoal: runs a decomposer, validates what it returns, records the graph. */
import { RUN_DEFAULTS } from "../defaults.js";
import { DecompositionError, GraphValidationError } from "../errors.js";
import type { TaskGraph } from "../graph/task-graph.js";
import type { CatalogueEntry, Decomposer, DecomposerContext, DecomposerFunction } from "../graph/decomposer.js";
import { validateGraph } from "../graph/validate.js";
import {
  emptyUsage,
  type DecompositionServices,
  type DecompositionUsage,
  type ServicedContext,
} from "../decomposers/services.js";
import type { Db } from "../store/db.js";
import { createDecompositionQueries, type DecompositionQueries } from "../store/decomposition-cache.js";
import { createPatternQueries } from "../store/patterns.js";
import { createRedactor, type Redactor } from "../store/redact.js";
import type { PayloadCodec } from "../store/codec.js";
import type { Steps } from "../composer/steps.js";
import { toStepDefinition } from "../composer/steps.js";
import type { EventQueries } from "../store/events.js";
import { ATTRIBUTE, SPAN } from "../telemetry/names.js";
import type { Span } from "@opentelemetry/api";
import { inSpan } from "../telemetry/spans.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import type { GraphQueries } from "../store/graphs.js";
import { z } from "zod";
import { checkGoal, resolveDecomposeOptions, type DecomposeOptions } from "./decompose-options.js";

export type { DecomposeOptions } from "./decompose-options.js";

export interface DecomposeDeps {
  graphs: GraphQueries;
  events: EventQueries;
  channel: string | null;
  /** NOTIFY decomposition events (they are stored either way). */
  notify: boolean;
  limits: { maxTasks: number; maxInputBytes: number };
  /** The store and schema: decomposers that need the cache or learned patterns get them through ctx.services. */
  db?: Db;
  schema?: string;
  /** Encodes task inputs in the cache and the patterns (the graphs' own store encodes its). @default none */
  codec?: PayloadCodec;
  /** Cleans a failure's message before it is recorded and sent as an event. @default the patterns only */
  redactor?: Redactor;
  /** Traces each decomposition (`htdag.decompose`) and the LLM calls in it. @default none */
  telemetry?: Telemetry;
}

/** The name a decomposer is recorded under. */
export function decomposerName(decomposer: Decomposer): string {
  return typeof decomposer === "function" ? decomposer.name || "function" : decomposer.name;
}

/** Builds the catalogue decomposers see from bound steps. */
export function catalogueOf(steps: Steps): CatalogueEntry[] {
  return Object.entries(steps).map(([name, entry]) => {
    const step = toStepDefinition(entry);
    return {
      name,
      ...(step.description ? { description: step.description } : {}),
      ...(step.input ? { inputSchema: z.toJSONSchema(step.input, { unrepresentable: "any" }) } : {}),
    };
  });
}

export async function decomposeGoal(
  deps: DecomposeDeps,
  goal: unknown,
  decomposer: Decomposer,
  given: DecomposeOptions = {},
  /** Told what the decomposition cost, once it succeeded (composeFromGoal charges it to the run). */
  onUsage?: (usage: DecompositionUsage) => void,
): Promise<TaskGraph> {
  // Before anything is stored or run: a bad goal or option records no decomposition.
  checkGoal(goal);
  const options = resolveDecomposeOptions(given) ?? {};
  const name = decomposerName(decomposer);
  const decompose = typeof decomposer === "function" ? decomposer : decomposer?.decompose;
  if (typeof decompose !== "function") {
    throw new DecompositionError(goal, "the decomposer must be a function or an object with a `decompose` function");
  }
  if (!deps.telemetry) {
    return decomposeWith(deps, goal, name, decompose, options, onUsage);
  }
  return inDecomposeSpan(deps.telemetry, goal, name, async (span) => {
    const graph = await decomposeWith(deps, goal, name, decompose, options, onUsage);
    span.setAttributes({ [ATTRIBUTE.graphId]: graph.id, [ATTRIBUTE.tasks]: graph.tasks.length });
    return graph;
  });
}

/** Runs `work` inside an `htdag.decompose` span (a child of the active span) naming the goal and the decomposer. */
export function inDecomposeSpan<T>(
  telemetry: Telemetry,
  goal: string,
  decomposer: string,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return inSpan(
    telemetry.tracer,
    { name: SPAN.decompose, attributes: { [ATTRIBUTE.goal]: goal, [ATTRIBUTE.decomposer]: decomposer } },
    work,
  );
}

/** Runs the decomposer and records the decomposition, its graph and its events. */
async function decomposeWith(
  deps: DecomposeDeps,
  goal: string,
  name: string,
  decompose: DecomposerFunction,
  options: DecomposeOptions,
  onUsage: ((usage: DecompositionUsage) => void) | undefined,
): Promise<TaskGraph> {
  const started = performance.now();
  const store = deps.db && deps.schema ? createDecompositionQueries(deps.db, deps.schema, deps.codec) : null;
  const services = servicesFor(deps, store, options);
  await deps.events.emit(
    { type: "decomposition:started", payload: { goal, decomposer: name } },
    deps.channel,
    undefined,
    deps.notify,
  );
  try {
    const graph = await runDecomposer(goal, name, decompose, options, deps, services);
    await deps.graphs.recordGraph(graph);
    const latencyMs = performance.now() - started;
    await record(
      deps,
      store,
      { graphId: graph.id, goal, decomposer: name, source: graph.source, latencyMs },
      services.usage,
    );
    await deps.events.emit(
      {
        type: "decomposition:completed",
        payload: {
          goal,
          decomposer: name,
          graphId: graph.id,
          source: graph.source,
          tasks: graph.tasks.length,
          latencyMs,
          ...accounting(services.usage),
        },
      },
      deps.channel,
      undefined,
      deps.notify,
    );
    onUsage?.(services.usage);
    return graph;
  } catch (error) {
    const failure =
      error instanceof DecompositionError
        ? error
        : new DecompositionError(goal, `the decomposer threw: ${(error as Error)?.message ?? String(error)}`, {
            cause: error,
          });
    const source = services.usage.source ?? "function";
    // A decomposer's error may quote its config (a key, a connection string): stored only redacted.
    const message = (deps.redactor ?? createRedactor()).text(failure.message);
    await record(
      deps,
      store,
      { graphId: null, goal, decomposer: name, source, latencyMs: performance.now() - started, error: message },
      services.usage,
    );
    await deps.events.emit(
      {
        type: "decomposition:failed",
        payload: { goal, decomposer: name, error: message, source, ...accounting(services.usage) },
      },
      deps.channel,
      undefined,
      deps.notify,
    );
    throw failure;
  }
}

/** The cache (unless `cache: false`), the learned patterns and a fresh usage record. */
function servicesFor(
  deps: DecomposeDeps,
  store: DecompositionQueries | null,
  options: DecomposeOptions,
): DecompositionServices {
  return {
    usage: emptyUsage(),
    cache: options.cache === false ? null : (store?.cache ?? null),
    patterns: deps.db && deps.schema ? createPatternQueries(deps.db, deps.schema, deps.codec) : null,
    maxDepth: options.maxDepth ?? RUN_DEFAULTS.maxDepth,
    ...(deps.telemetry ? { telemetry: deps.telemetry } : {}),
  };
}

/** What a decomposition cost, for its events. */
function accounting(usage: DecompositionUsage) {
  return {
    llmCalls: usage.llmCalls,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    repairs: usage.repairs,
    ...(usage.model ? { model: usage.model } : {}),
    ...(usage.cacheKey ? { cacheKey: usage.cacheKey } : {}),
    ...(usage.rule ? { rule: usage.rule } : {}),
  };
}

async function record(
  deps: DecomposeDeps,
  store: DecompositionQueries | null,
  row: { graphId: string | null; goal: string; decomposer: string; source: string; latencyMs: number; error?: string },
  usage: DecompositionUsage,
): Promise<void> {
  if (store === null) {
    return deps.graphs.recordDecomposition(row);
  }
  await store.record({
    ...row,
    model: usage.model ?? null,
    cacheKey: usage.cacheKey ?? null,
    llmCalls: usage.llmCalls,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    repairs: usage.repairs,
  });
}

async function runDecomposer(
  goal: string,
  name: string,
  decompose: (g: string, c: DecomposerContext) => unknown,
  options: DecomposeOptions,
  deps: DecomposeDeps,
  services: DecompositionServices,
): Promise<TaskGraph> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const controller = new AbortController();
  const signal = controller.signal;
  const catalogue = options.catalogue ?? (options.steps ? catalogueOf(options.steps) : []);
  const ctx: ServicedContext = {
    catalogue,
    depth: 0,
    signal,
    services,
    ...(options.upstream ? { upstream: options.upstream } : {}),
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new DecompositionError(goal, `the decomposer took longer than ${timeoutMs} ms (timeoutMs)`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  // The timer ends with the decomposition: nothing rejects later, unobserved.
  const result = await Promise.race([Promise.resolve().then(() => decompose(goal, ctx)), timedOut]).finally(() =>
    clearTimeout(timer),
  );
  if (result === null || result === undefined) {
    throw new DecompositionError(
      goal,
      `decomposer ${name} returned ${String(result)}: no rule or model knew this goal`,
    );
  }
  const input = Array.isArray(result) ? { goal, tasks: result } : result;
  if (typeof input !== "object" || !Array.isArray((input as { tasks?: unknown }).tasks)) {
    throw new DecompositionError(
      goal,
      `decomposer ${name} returned ${typeof input === "object" ? "an object without a tasks array" : typeof input}; return an array of tasks or { goal, tasks }`,
    );
  }
  try {
    return validateGraph(
      { goal, ...(input as object) },
      {
        limits: { ...deps.limits, maxDepth: options.maxDepth ?? RUN_DEFAULTS.maxDepth },
        ...(options.steps ? { stepNames: Object.keys(options.steps) } : {}),
        defaults: { decomposer: name, source: "function" },
      },
    );
  } catch (error) {
    if (!(error instanceof GraphValidationError)) {
      throw error;
    }
    throw new DecompositionError(
      goal,
      `decomposer ${name} returned an invalid graph:\n${error.issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`,
      { issues: error.issues, cause: error },
    );
  }
}
