/**
 * Learned patterns (docs/decomposers.md, docs/optimizer.md): the graph of a run is recorded against its normalised goal
 * and its structure, counting successes and failures. When the same normalised goal comes again,
 * the hybrid decomposer reuses the structure whose confidence (successes / runs) reaches
 * `patternConfidenceThreshold`, instead of asking the model.
 */
import type { PayloadCodec } from "../store/codec.js";
import type { Db } from "../store/db.js";
import { createPatternQueries, type PatternRow } from "../store/patterns.js";
import { childrenOf, isComposite } from "../graph/hierarchy.js";
import { hashOf, normalizeGoal } from "./normalize.js";
import { servicesOf } from "./services.js";
import type { Task, TaskSpec } from "../graph/task-graph.js";
import type { DecomposerContext } from "../graph/decomposer.js";
import { hasFallbackStep } from "../graph/fallback.js";

/** When a pattern may answer. */
export interface PatternPolicy {
  /** Least share of successful runs among the pattern's runs. @default 0.85 */
  patternConfidenceThreshold?: number;
  /** Least number of successful runs. @default 2 */
  patternMinSuccesses?: number;
}

export const DEFAULT_PATTERN_POLICY: Required<PatternPolicy> = {
  patternConfidenceThreshold: 0.85,
  patternMinSuccesses: 2,
};

/** The confidence of a pattern: successes over all recorded runs (0 with none). */
export function patternConfidence(pattern: Pick<PatternRow, "successes" | "failures">): number {
  const runs = pattern.successes + pattern.failures;
  return runs === 0 ? 0 : pattern.successes / runs;
}

/**
 * A hash of what a graph does, leaving out descriptions (wording changes do not make a new
 * pattern), the order of the tasks and the order of dependencies.
 */
export function structureHash(tasks: readonly TaskSpec[]): string {
  const shapes = tasks.map(({ description: _description, dependsOn, ...rest }) => ({
    ...rest,
    dependsOn: [...(dependsOn ?? [])].sort(),
  }));
  return hashOf(shapes.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
}

/**
 * Records the outcome of a run of `graph` as a pattern of its goal. Call it after each finished
 * run; the hybrid decomposer reads the patterns back. With `run.codec`, task inputs are stored
 * encoded (pass the orchestrator's codec, so that its decompositions can read them).
 *
 * @example
 * const result = await orch.composeFromTaskGraph(graph, steps);
 * await recordPattern(orch.db, orch.options.schema, graph.goal, graph, result.status === "completed");
 */
export async function recordPattern(
  db: Db,
  schema: string,
  goal: string,
  graph: { tasks: readonly TaskSpec[] },
  succeeded: boolean,
  run: { workflow?: string; runId?: string; codec?: PayloadCodec } = {},
): Promise<void> {
  await createPatternQueries(db, schema, run.codec).record({
    normalizedGoal: normalizeGoal(goal),
    structureHash: structureHash(graph.tasks),
    tasks: graph.tasks,
    succeeded,
    workflow: run.workflow ?? null,
    runId: run.runId ?? null,
  });
}

/**
 * The tasks of the best pattern of `goal` that `policy` accepts and whose steps the catalogue
 * still offers; null when there is none (or `ctx` carries no pattern store).
 */
export async function findPattern(
  goal: string,
  ctx: DecomposerContext,
  policy: PatternPolicy = {},
): Promise<PatternRow | null> {
  const patterns = servicesOf(ctx).patterns;
  if (patterns === null || ctx.parent !== undefined) {
    return null;
  }
  const threshold = policy.patternConfidenceThreshold ?? DEFAULT_PATTERN_POLICY.patternConfidenceThreshold;
  const minSuccesses = policy.patternMinSuccesses ?? DEFAULT_PATTERN_POLICY.patternMinSuccesses;
  const stepNames = new Set(ctx.catalogue.map((entry) => entry.name));
  const eligible = (await patterns.forGoal(normalizeGoal(goal)))
    .filter((p) => p.successes >= minSuccesses && patternConfidence(p) >= threshold)
    // With the fallback step bound, every learned plan has steps to run.
    .filter((p) => stepNames.size === 0 || hasFallbackStep(stepNames) || stepsOffered(p.tasks as Task[], stepNames))
    .sort((a, b) => patternConfidence(b) - patternConfidence(a) || b.successes - a.successes);
  return eligible[0] ?? null;
}

/** Whether every atomic task names a step of the catalogue (by `step`, else by its id). */
function stepsOffered(tasks: readonly Task[], stepNames: ReadonlySet<string>): boolean {
  if (!Array.isArray(tasks)) {
    return false;
  }
  const children = childrenOf(tasks.map((t) => ({ ...t, dependsOn: t.dependsOn ?? [] })));
  return tasks.every(
    (task) => isComposite(task, children) || task.expand === "lazy" || stepNames.has(task.step ?? task.id),
  );
}
