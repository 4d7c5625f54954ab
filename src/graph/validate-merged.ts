/**
 * Checks of validation for tasks with `merged` tasks (a chain run in one attempt, see
 * task-graph.ts): the merged task is a plain atomic task, its members are plain tasks in a chain
 * with unique ids and registered steps. References from and to members are checked in
 * `validate-references.ts`.
 */
import type { GraphIssue } from "../errors.js";
import { didYouMean } from "./suggest.js";
import type { MergedTask, Task } from "./task-graph.js";
import type { KnownIds, TaskEntry } from "./validate-structure.js";

/** Fields that make a task more than "run this step once its dependencies succeeded". */
const NOT_IN_A_CHAIN = ["when", "forEach", "expand", "hedgeAfterMs", "recovers", "wait"] as const;

/**
 * Report every problem of every task with `merged`.
 * @param atomic whether the task at an entry position runs a step (no children, not composite)
 */
export function checkMerged(
  entries: readonly TaskEntry[],
  knownIds: KnownIds,
  atomic: (node: number) => boolean,
  stepNames: ReadonlySet<string> | undefined,
): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const seen = new Map<string, string>();
  entries.forEach(({ index, task }, node) => {
    if (task.merged === undefined) {
      return;
    }
    const base = `tasks[${index}]`;
    const name = JSON.stringify(task.id);
    const problem = (path: string, message: string) => issues.push({ code: "invalid_merge", path, message });
    if (!atomic(node)) {
      problem(
        `${base}.merged`,
        `task ${name} is a composite; only a task that runs a step can have tasks merged into it, so remove "merged"`,
      );
    }
    for (const field of planFields(task)) {
      problem(
        `${base}.${field}`,
        `task ${name} has merged tasks and sets "${field}"; a merged chain runs its steps unconditionally once its dependencies succeeded, so remove "${field}" or unmerge the chain`,
      );
    }
    task.merged.forEach((member, j) => {
      const at = `${base}.merged[${j}]`;
      const id = JSON.stringify(member.id);
      const clash = knownIds.has(member.id) ? "a task of the graph" : seen.get(member.id);
      if (clash !== undefined) {
        issues.push({
          code: "duplicate_id",
          path: `${at}.id`,
          message: `merged task id ${id} is already used by ${clash}; give every task a unique id`,
        });
      }
      seen.set(member.id, `a task merged into ${name}`);
      for (const field of [...planFields(member), ...(member.kind === "composite" ? ["kind"] : [])]) {
        problem(
          `${at}.${field}`,
          `task ${id}, merged into ${name}, sets "${field}"; a merged task only runs its step, so remove "${field}" or unmerge it`,
        );
      }
      if (member.parentId !== undefined && member.parentId !== task.parentId) {
        problem(
          `${at}.parentId`,
          `task ${id} is merged into ${name} but has parent ${JSON.stringify(member.parentId)}, not ${name}'s; merge only tasks with the same parent`,
        );
      }
      const allowed = j === 0 ? task.dependsOn : [task.merged![j - 1]!.id];
      for (const dep of member.dependsOn) {
        if (!allowed.includes(dep)) {
          problem(
            `${at}.dependsOn`,
            `task ${id}, merged into ${name}, depends on ${JSON.stringify(dep)}; in a merged chain the first task takes ${name}'s dependencies and each other one the task before it, so remove ${JSON.stringify(dep)}`,
          );
        }
      }
      const step = member.step ?? member.id;
      if (stepNames !== undefined && !stepNames.has(step)) {
        issues.push({
          code: "unknown_step",
          path: `${at}.${member.step === undefined ? "id" : "step"}`,
          message: `no step function named ${JSON.stringify(step)} for task ${id} (merged into ${name})${didYouMean(step, stepNames)}; register one under that name or set "step" to a registered one`,
        });
      }
    });
  });
  return issues;
}

function planFields(task: Task | MergedTask): string[] {
  const fields: string[] = NOT_IN_A_CHAIN.filter((field) => task[field] !== undefined);
  if (task.runIf !== undefined && task.runIf !== "allSucceeded") {
    fields.push("runIf");
  }
  return fields;
}
