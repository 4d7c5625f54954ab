/**
 * The scenario of one goal in the re-planning evaluation (replan-eval.ts): the gold plan as the first
 * answer, the task whose tool fails for good (the middle one in plan order), the revision that
 * replaces it with its substitute (substitutes.ts) and re-points its dependants, and the catalogue's
 * tools as echo-like steps that count their executions per (run, task).
 */
import { defineStep, type Steps } from "../../src/composer/steps.js";
import { NonRetryableError } from "../../src/errors.js";
import type { CatalogueEntry } from "../../src/graph/decomposer.js";
import { SUBSTITUTES } from "./substitutes.js";
import { goldPlan, type TaskBenchRecord, type WireTask } from "./taskbench.js";

/** The goal being run: its gold plan, the task whose tool is broken, and the revision to answer. */
export interface Scenario {
  record: TaskBenchRecord;
  failedTask: string;
  error: string;
  gold: { tasks: WireTask[] };
  revised: { tasks: WireTask[] };
  substitute: string;
  revisionPrompts: string[];
}

/** The goal's scenario: the middle task in plan order fails, and the revision routes around it. */
export function scenarioOf(record: TaskBenchRecord): Scenario {
  const gold = goldPlan(record);
  const order = planOrder(gold.tasks);
  const failedTask = order[Math.floor(order.length / 2)]!;
  const node = record.nodes.find((n) => n.tool === failedTask)!;
  const substitute = SUBSTITUTES[node.tool]!;
  const args = Object.fromEntries(node.arguments.map((a) => [a.name, a.value]));
  // A tool appears once per record; a substitute the plan already uses gets its own id.
  const id = gold.tasks.some((t) => t.id === substitute.tool) ? `${substitute.tool}_instead` : substitute.tool;
  const revised = {
    tasks: gold.tasks.map((task): WireTask =>
      task.id === failedTask
        ? {
            id,
            description: `Call ${substitute.tool} instead of ${failedTask}`,
            step: substitute.tool,
            kind: "atomic",
            dependsOn: task.dependsOn,
            input: JSON.stringify(substitute.input(args)),
          }
        : { ...task, dependsOn: task.dependsOn.map((d) => (d === failedTask ? id : d)) },
    ),
  };
  return {
    record,
    failedTask,
    error: `${failedTask} is unavailable for request ${record.id}: the service answered 503`,
    gold,
    revised,
    substitute: id,
    revisionPrompts: [],
  };
}

/** Task ids in a topological order, ties kept in plan order. */
function planOrder(tasks: readonly WireTask[]): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < tasks.length) {
    const next = tasks.find((t) => !done.has(t.id) && t.dependsOn.every((d) => done.has(d)));
    if (!next) {
      throw new Error(`the gold plan has a cycle among ${tasks.filter((t) => !done.has(t.id)).map((t) => t.id)}`);
    }
    done.add(next.id);
    order.push(next.id);
  }
  return order;
}

/** The ids a revision prompt lists as completed (`- <id> [COMPLETED]: …`). */
export function completedIn(prompt: string): string[] {
  return [...prompt.matchAll(/^- (\S+) \[COMPLETED\]:/gm)].map((m) => m[1]!);
}

/**
 * One step per catalogue tool, echo-like: its output is the tool, its input and the ids of the
 * dependencies it read. Each execution is counted per (run, task); the scenario's broken tool throws.
 */
export function catalogueSteps(
  catalogue: readonly CatalogueEntry[],
  executions: Map<string, number>,
  current: () => Scenario | undefined,
): Steps {
  return Object.fromEntries(
    catalogue.map((entry) => [
      entry.name,
      defineStep({
        description: entry.description ?? entry.name,
        run: ({ runId, task, input, deps }) => {
          const key = `${runId}/${task.id}`;
          executions.set(key, (executions.get(key) ?? 0) + 1);
          const scenario = current();
          if (scenario && task.step === scenario.failedTask) {
            throw new NonRetryableError(scenario.error);
          }
          return { tool: entry.name, input, deps: Object.keys(deps).sort() };
        },
      }),
    ]),
  );
}
