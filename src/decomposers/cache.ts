/**
 * The decomposition cache (docs/decomposers.md): an LLM plan is stored under a hash of the normalised
 * goal, the decomposer's name and options, the catalogue and the model, so that asking again for
 * the same goal with the same steps costs no call. Only top-level first plans are cached: a lazy
 * expansion depends on its dependencies' outputs, and a revision on a run's outputs and failure,
 * which differ from run to run.
 */
import { hashOf, normalizeGoal } from "./normalize.js";
import { servicesOf } from "./services.js";
import type { TaskSpec } from "../graph/task-graph.js";
import type { CatalogueEntry, DecomposerContext, DecomposerResult } from "../graph/decomposer.js";

/** Bumped when the cached graph's meaning changes, so old entries stop matching. */
const CACHE_FORMAT = 1;

/** What, besides the goal and the catalogue, decides a decomposer's answer. */
export interface CacheIdentity {
  /** The decomposer's name. */
  name: string;
  /** The model that answers, if any. */
  model: string | null;
  /** Options that change the answer (temperature, depth, prompt…), never secrets. */
  options: Record<string, unknown>;
}

/** The cache key of `goal` for `identity` over `catalogue`: a hex SHA-256. */
export function decompositionCacheKey(
  goal: string,
  identity: CacheIdentity,
  catalogue: readonly CatalogueEntry[],
): string {
  return hashOf({
    format: CACHE_FORMAT,
    goal: normalizeGoal(goal),
    decomposer: identity.name,
    model: identity.model,
    options: identity.options,
    catalogue: [...catalogue].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
  });
}

/**
 * Answers from the cache when `ctx` carries one and it holds the goal; otherwise calls `produce`
 * and stores what it returns. A hit is returned with `source: "cache"`.
 */
export async function withCache(
  goal: string,
  ctx: DecomposerContext,
  identity: CacheIdentity,
  produce: () => Promise<DecomposerResult>,
): Promise<DecomposerResult> {
  const services = servicesOf(ctx);
  if (services.cache === null || ctx.parent !== undefined || ctx.revision !== undefined) {
    return produce();
  }
  const key = decompositionCacheKey(goal, identity, ctx.catalogue);
  services.usage.cacheKey = key;
  services.usage.source = "cache";
  const hit = await services.cache.lookup(key);
  if (hit !== null) {
    return { goal, tasks: hit.tasks as TaskSpec[], source: "cache" };
  }
  const result = await produce();
  if (result !== null) {
    const tasks = Array.isArray(result) ? result : result.tasks;
    await services.cache.store({
      key,
      goal,
      decomposer: identity.name,
      model: services.usage.model ?? identity.model,
      tasks,
    });
  }
  return result;
}
