/**
 * The hybrid decomposer (docs/decomposers.md): the cheapest source that knows the goal answers.
 * Rules first (free, deterministic), then learned patterns (graphs of earlier successful runs of
 * the same normalised goal), then the decomposition cache, then the LLM. The graph's `source`
 * says which one answered. A revision of a running plan (`ctx.revision`) goes to the LLM alone:
 * rules, patterns and the cache know first plans, not this run's outputs and failure.
 */
import { InvalidOptionError } from "../errors.js";
import { withCache, type CacheIdentity } from "./cache.js";
import { findPattern, type PatternPolicy } from "./patterns.js";
import { ruleDecomposer, type Rule, type RuleDecomposer } from "./rules.js";
import { servicesOf, withServices } from "./services.js";
import type { TaskGraphInput, TaskSpec } from "../graph/task-graph.js";
import type { Decomposer, DecomposerContext, DecomposerResult } from "../graph/decomposer.js";

/** Options of {@link hybridDecomposer}. */
export interface HybridDecomposerOptions extends PatternPolicy {
  /** Rules tried first: a rule decomposer or the rules themselves. @default none */
  rules?: RuleDecomposer | readonly Rule[];
  /**
   * Asked when nothing else knows the goal, and for every revision of a running plan; usually an
   * `llmDecomposer`. @default none (the hybrid returns null)
   */
  llm?: Decomposer;
  /** Reuse graphs of earlier successful runs of the same normalised goal. @default true */
  patterns?: boolean;
  /** Look the goal up in the decomposition cache before asking `llm`, and store its answer. @default true */
  cache?: boolean;
  /** Name recorded on the graphs it makes. @default "hybrid" */
  name?: string;
}

/** A hybrid decomposer. */
export interface HybridDecomposer {
  readonly name: string;
  decompose(goal: string, ctx: DecomposerContext): Promise<TaskGraphInput | null>;
}

/**
 * A decomposer that tries rules → learned patterns → decomposition cache → `llm`, in that order.
 * Patterns and the cache need the store, which `orch.decomposeGoal` provides. A revision of a
 * running plan (`ctx.revision`) is asked of `llm` alone, bypassing the cache; null without one.
 *
 * @example
 * const decomposer = hybridDecomposer({
 *   rules: await ruleDecomposer.fromFile("rules.yaml"),
 *   llm: llmDecomposer({ provider: "openai", model: "gpt-4.1-mini" }),
 * });
 * const graph = await orch.decomposeGoal(goal, decomposer, { steps }); // graph.source: "rules" | "pattern" | "cache" | "llm"
 */
export function hybridDecomposer(options: HybridDecomposerOptions): HybridDecomposer {
  if (options === null || typeof options !== "object") {
    throw new InvalidOptionError(
      "(options)",
      "an object { rules?, llm?, patterns?, cache? }",
      options,
      "hybridDecomposer",
    );
  }
  const rules =
    options.rules === undefined
      ? undefined
      : Array.isArray(options.rules)
        ? ruleDecomposer(options.rules as readonly Rule[])
        : (options.rules as RuleDecomposer);
  if (rules !== undefined && typeof rules.decompose !== "function") {
    throw new InvalidOptionError(
      "rules",
      "a ruleDecomposer(…) or an array of rules",
      options.rules,
      "hybridDecomposer",
    );
  }
  const llm = options.llm;
  if (llm !== undefined && typeof llm !== "function" && typeof llm?.decompose !== "function") {
    throw new InvalidOptionError(
      "llm",
      "a decomposer such as llmDecomposer({ provider, model })",
      llm,
      "hybridDecomposer",
    );
  }
  const usePatterns = options.patterns ?? true;
  const useCache = options.cache ?? true;
  return {
    name: options.name ?? "hybrid",
    async decompose(goal, ctx) {
      if (ctx.revision !== undefined) {
        return llm === undefined ? null : reviseWith(llm, goal, ctx);
      }
      const usage = servicesOf(ctx).usage;
      const fromRules = rules?.decompose(goal, ctx) ?? null;
      if (fromRules !== null) {
        return fromRules;
      }
      if (usePatterns) {
        usage.source = "pattern";
        const pattern = await findPattern(goal, ctx, options);
        if (pattern !== null) {
          return { goal, tasks: pattern.tasks as TaskSpec[], source: "pattern" };
        }
      }
      if (llm === undefined) {
        return null;
      }
      // The hybrid owns the cache lookup, so the model's decomposer must not cache a second time.
      const inner = withServices(ctx, { cache: null });
      const ask = async () => asLlmResult(goal, await callDecomposer(llm, goal, inner));
      return asGraphInput(goal, useCache ? await withCache(goal, ctx, identityOf(llm), ask) : await ask());
    },
  };
}

/** A revision, asked of the LLM alone, with no cache on the way. */
async function reviseWith(llm: Decomposer, goal: string, ctx: DecomposerContext): Promise<TaskGraphInput | null> {
  return asGraphInput(goal, asLlmResult(goal, await callDecomposer(llm, goal, withServices(ctx, { cache: null }))));
}

function callDecomposer(decomposer: Decomposer, goal: string, ctx: DecomposerContext): Promise<DecomposerResult> {
  return Promise.resolve(typeof decomposer === "function" ? decomposer(goal, ctx) : decomposer.decompose(goal, ctx));
}

/** What decides the answer of `decomposer`, for the cache key. */
function identityOf(decomposer: Decomposer): CacheIdentity {
  const declared = (decomposer as { cacheIdentity?: CacheIdentity }).cacheIdentity;
  if (declared !== undefined) {
    return declared;
  }
  return {
    name: typeof decomposer === "function" ? decomposer.name || "function" : decomposer.name,
    model: null,
    options: {},
  };
}

/** The model's answer, marked as coming from the LLM unless it says otherwise. */
function asLlmResult(goal: string, result: DecomposerResult): DecomposerResult {
  if (result === null) {
    return null;
  }
  return Array.isArray(result) ? { goal, tasks: result, source: "llm" } : { ...result, source: result.source ?? "llm" };
}

function asGraphInput(goal: string, result: DecomposerResult): TaskGraphInput | null {
  if (result === null) {
    return null;
  }
  return Array.isArray(result) ? { goal, tasks: result } : result;
}
