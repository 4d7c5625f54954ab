/**
 * The run's reviser (docs/living-plans.md): for a claim with `replan`, reads the run's plan as it stands,
 * asks the run's decomposer for a revision (`ctx.revision`), and merges and validates its answer
 * into the rows `apply_revision` applies. The decomposition's cost travels with it.
 */
import type { Decomposer } from "../graph/decomposer.js";
import type { Task } from "../graph/task-graph.js";
import { emptyUsage, type ServicedContext } from "../decomposers/services.js";
import { decode } from "../composer/attempt.js";
import {
  bindRevision,
  revisionRequestOf,
  type PlanTask,
  type RevisionOutcome,
  type RevisionSettings,
  type StoredPlan,
} from "../composer/revision.js";
import type { PayloadCodec } from "../store/codec.js";
import type { RevisionQueries } from "../store/revisions.js";
import type { ClaimedTask } from "../store/tasks.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { catalogueOf, decomposerName } from "./decompose.js";
import type { ModelPrice } from "./options.js";
import { costOf } from "./usage.js";

/** Time a decomposer may take for one revision, in ms. */
const REVISION_TIMEOUT_MS = 120_000;

/** What a run's reviser needs. */
export interface ReviserDeps {
  revisions: RevisionQueries;
  codec: PayloadCodec | undefined;
  telemetry?: Telemetry;
  /** Prices per model: the revision's cost from its tokens (docs/usage-and-budgets.md). */
  pricing?: Readonly<Record<string, ModelPrice>>;
  /** Rejects with BudgetExceededError when the run's budget is reached: no decomposer call then. */
  checkBudget?: () => Promise<void>;
}

/** The reviser of run `runId`: asks `decomposer` for each revision its claims ask for. */
export function reviserFor(
  runId: string,
  decomposer: Decomposer,
  settings: RevisionSettings,
  deps: ReviserDeps,
): (task: ClaimedTask) => Promise<RevisionOutcome> {
  const decompose = typeof decomposer === "function" ? decomposer : decomposer.decompose;
  const name = decomposerName(decomposer);
  return async (task) => {
    const plan = await storedPlan(runId, deps);
    if (plan.revision >= plan.maxRevisions) {
      // Out of revisions since the failure asked (another revision took the last one, and this one
      // was released as stale): apply_revision would refuse any plan, so the decomposer is not
      // asked; the task fails with its own error.
      return { kind: "declined" };
    }
    await deps.checkBudget?.();
    const usage = emptyUsage();
    const ctx: ServicedContext = {
      catalogue: catalogueOf(settings.steps),
      depth: 0,
      signal: AbortSignal.timeout(REVISION_TIMEOUT_MS),
      revision: revisionRequestOf(plan, task.taskId, task.replan!),
      // Never the cache nor the patterns: a revision answers this run's failure, not the goal.
      services: { usage, cache: null, patterns: null, ...(deps.telemetry ? { telemetry: deps.telemetry } : {}) },
    };
    const started = performance.now();
    const result = await decompose(plan.goal, ctx);
    if (result === null) {
      return { kind: "declined" };
    }
    const answer = Array.isArray(result) ? result : result.tasks;
    const rows = bindRevision(plan, task.taskId, answer, settings);
    // revise_locked charges the run with the revision's calls and tokens, and this cost.
    const costUsd = costOf(deps.pricing, usage.model ?? "unknown", usage.inputTokens, usage.outputTokens);
    return {
      kind: "plan",
      plan: {
        revision: plan.revision,
        rows,
        record: {
          decomposer: name,
          source: usage.source ?? "function",
          ...(usage.model ? { model: usage.model } : {}),
          llmCalls: usage.llmCalls,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
          repairs: usage.repairs,
          ...(costUsd === null ? {} : { costUsd }),
          latencyMs: performance.now() - started,
        },
      },
    };
  };
}

/** The run's plan as it stands, inputs and outputs decoded. */
async function storedPlan(runId: string, deps: ReviserDeps): Promise<StoredPlan> {
  const stored = await deps.revisions.plan(runId);
  if (!stored) {
    throw new Error(`run ${runId} has no plan to revise: it was deleted`);
  }
  const tasks: PlanTask[] = stored.tasks.map((row) => ({
    id: row.id,
    status: row.status,
    spec: {
      ...(row.spec as unknown as Task),
      ...(row.input === null || row.input === undefined
        ? {}
        : { input: decode(deps.codec, row.input) as Task["input"] }),
    },
    output: decode(deps.codec, row.output),
    error: row.error,
    replan: row.replan,
  }));
  return { revision: stored.revision, maxRevisions: stored.maxRevisions, goal: stored.goal, tasks };
}
