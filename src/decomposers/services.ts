/**
 * What `decomposeGoal` lends to the decomposers that need more than the goal: the decomposition
 * cache, the learned patterns, and a usage record they fill in (LLM calls, tokens, repairs), which
 * `decomposeGoal` stores with the decomposition and puts in the `decomposition:*` events.
 *
 * The services travel on the decomposer context as `ctx.services`; a decomposer called without
 * them (a lazy expansion, a direct call in a test) still works, without cache or patterns.
 */
import type { DecompositionCache } from "../store/decomposition-cache.js";
import type { PatternStore } from "../store/patterns.js";
import type { GraphSource } from "../graph/task-graph.js";
import type { DecomposerContext } from "../graph/decomposer.js";
import type { Telemetry } from "../telemetry/telemetry.js";

/** What one decomposition cost and how it was answered. */
export interface DecompositionUsage {
  /** Requests sent to the model (SDK-level retries of one request count once). */
  llmCalls: number;
  inputTokens: number;
  outputTokens: number;
  /** Local repairs plus re-asks. */
  repairs: number;
  /** Each repair, in order, e.g. `tasks[2].dependsOn[0]: dropped self-dependency on "b"`. */
  repairActions: string[];
  /** The model that answered, as the provider reported it. */
  model?: string;
  /** The cache key looked up, when the cache was consulted. */
  cacheKey?: string;
  /** The rule that matched, when rules answered. */
  rule?: string;
  /** The route tried last; the graph's own `source` says which one answered. */
  source?: GraphSource;
}

/** The services a decomposer may use. */
export interface DecompositionServices {
  usage: DecompositionUsage;
  /** The decomposition cache; null when absent or bypassed (`decomposeGoal(…, { cache: false })`). */
  cache: DecompositionCache | null;
  /** The learned patterns; null when absent. */
  patterns: PatternStore | null;
  /** Deepest hierarchy `decomposeGoal` will accept. */
  maxDepth?: number;
  /** Traces each LLM call (a span with the GenAI conventions) and counts its tokens; absent when off. */
  telemetry?: Telemetry;
}

/** A decomposer context that may carry services. */
export type ServicedContext = DecomposerContext & { services?: DecompositionServices };

/** A usage record with nothing counted yet. */
export function emptyUsage(): DecompositionUsage {
  return { llmCalls: 0, inputTokens: 0, outputTokens: 0, repairs: 0, repairActions: [] };
}

/** The services on `ctx`, or stand-ins (no cache, no patterns, a usage record nobody reads). */
export function servicesOf(ctx: DecomposerContext): DecompositionServices {
  return (ctx as ServicedContext).services ?? { usage: emptyUsage(), cache: null, patterns: null };
}

/** `ctx` with some services replaced; the usage record stays shared. */
export function withServices(
  ctx: DecomposerContext,
  patch: Partial<Omit<DecompositionServices, "usage">>,
): ServicedContext {
  return { ...ctx, services: { ...servicesOf(ctx), ...patch } };
}

/** Records one repair action. */
export function recordRepair(usage: DecompositionUsage, action: string): void {
  usage.repairs += 1;
  usage.repairActions.push(action);
}
