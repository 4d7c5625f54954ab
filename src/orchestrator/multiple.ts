/**
 * composeMultipleWorkflows: several goals as workflows, in parallel or in sequence; a workflow
 * that depends on others starts after they complete and sees their outputs; a failed workflow
 * fails its dependants (never started) but not its independent siblings.
 */
import { InvalidOptionError } from "../errors.js";
import type { Steps } from "../composer/steps.js";
import type { RunResult } from "./run-result.js";
import type { RunOptions } from "./run-options.js";
import { slugify } from "./slug.js";

/** One workflow of a composition. */
export interface WorkflowGoal {
  name: string;
  goal: string;
  /** Names of workflows that must complete first; their outputs reach this one. @default [] */
  dependsOn?: string[];
}

/** Options of composeMultipleWorkflows. */
export interface MultipleOptions extends Omit<RunOptions, "workflow" | "idempotencyKey" | "input"> {
  /** Run independent workflows at the same time; false runs them one after another. @default true */
  parallel?: boolean;
}

/** What a composition returns. A workflow that never started (a dependency failed) has status "cancelled". */
export interface MultipleResult {
  status: "completed" | "failed";
  runs: Record<string, RunResult | { status: "cancelled"; error: { message: string } }>;
}

/** Composes one workflow from its goal; given its upstream outputs. */
export type ComposeOne = (
  goal: string,
  steps: Steps,
  options: RunOptions,
  upstream: Record<string, unknown>,
) => Promise<RunResult>;

export function normalizeGoals(goals: readonly (string | WorkflowGoal)[]): Required<WorkflowGoal>[] {
  if (!Array.isArray(goals) || goals.length === 0) {
    throw new InvalidOptionError(
      "goals",
      "a non-empty array of goal strings or { name, goal, dependsOn }",
      goals,
      "composeMultipleWorkflows",
    );
  }
  const list = goals.map((g, i) => {
    if (typeof g === "string") {
      return { name: slugify(g), goal: g, dependsOn: [] };
    }
    if (!g || typeof g.goal !== "string" || typeof g.name !== "string") {
      throw new InvalidOptionError(
        `goals[${i}]`,
        "a goal string or { name, goal, dependsOn }",
        g,
        "composeMultipleWorkflows",
      );
    }
    return { name: g.name, goal: g.goal, dependsOn: g.dependsOn ?? [] };
  });
  const names = new Set<string>();
  for (const [i, w] of list.entries()) {
    if (names.has(w.name)) {
      throw new InvalidOptionError(
        `goals[${i}].name`,
        "a name no other workflow uses",
        w.name,
        "composeMultipleWorkflows",
      );
    }
    names.add(w.name);
  }
  for (const [i, w] of list.entries()) {
    for (const dep of w.dependsOn) {
      if (!names.has(dep)) {
        throw new InvalidOptionError(
          `goals[${i}].dependsOn`,
          `names of workflows in this composition (${[...names].join(", ")})`,
          dep,
          "composeMultipleWorkflows",
        );
      }
    }
  }
  return list;
}

export async function composeMultiple(
  goals: readonly (string | WorkflowGoal)[],
  stepsByWorkflow: Record<string, Steps>,
  options: MultipleOptions,
  composeOne: ComposeOne,
): Promise<MultipleResult> {
  const workflows = normalizeGoals(goals);
  for (const w of workflows) {
    if (!stepsByWorkflow?.[w.name]) {
      throw new InvalidOptionError(
        `stepsByWorkflow.${w.name}`,
        "the steps of that workflow",
        undefined,
        "composeMultipleWorkflows",
      );
    }
  }
  const { parallel = true, ...runOptions } = options;
  const runs: MultipleResult["runs"] = {};
  const started = new Map<string, Promise<RunResult | null>>();
  let chain: Promise<unknown> = Promise.resolve();
  const start = (w: Required<WorkflowGoal>): Promise<RunResult | null> => {
    const existing = started.get(w.name);
    if (existing) {
      return existing;
    }
    const promise = (async () => {
      const upstream = await Promise.all(
        w.dependsOn.map(async (dep) => [dep, await start(workflows.find((x) => x.name === dep)!)] as const),
      );
      const failedDep = upstream.find(([, r]) => r?.status !== "completed");
      if (failedDep) {
        runs[w.name] = {
          status: "cancelled",
          error: { message: `workflow ${failedDep[0]} did not complete, so ${w.name} did not start` },
        };
        return null;
      }
      const outputs = Object.fromEntries(upstream.map(([dep, r]) => [dep, r!.outputs]));
      // In sequence mode each workflow waits for the previous one, whatever their dependencies.
      const turn = parallel ? Promise.resolve() : chain;
      const run = turn.then(() =>
        composeOne(w.goal, stepsByWorkflow[w.name]!, { ...runOptions, workflow: w.name }, outputs),
      );
      if (!parallel) {
        chain = run.catch(() => undefined);
      }
      const result = await run;
      runs[w.name] = result;
      return result;
    })();
    started.set(w.name, promise);
    return promise;
  };
  await Promise.all(workflows.map(start));
  const ordered = Object.fromEntries(workflows.map((w) => [w.name, runs[w.name]!]));
  return {
    status: Object.values(ordered).every((r) => r.status === "completed") ? "completed" : "failed",
    runs: ordered,
  };
}
