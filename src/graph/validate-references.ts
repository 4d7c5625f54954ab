/**
 * Reference checks of validation: a task may only read the outputs of tasks it waits for.
 * - in `input`, `{ "$from": id, "path"?: string }` and strings embedding `{{ id.some.path[0] }}`
 *   must name a transitive dependency, or the reserved names `goal` and `input` (the run's goal
 *   and input, always available);
 * - a `when` condition's `task` must name a transitive dependency;
 * - `forEach.from` must name a direct dependency (own or inherited from an ancestor).
 * "Dependency" means a run-time dependency (see `hierarchy.ts`).
 */
import type { GraphIssue } from "../errors.js";
import { didYouMean } from "./suggest.js";
import type { Condition, Json, MergedTask, Task } from "./task-graph.js";
import { upstreamQuery, type UpstreamQuery } from "./upstream.js";
import type { RuntimeGraph } from "./validate-cycles.js";
import { formatPath } from "./validate-schema.js";
import type { KnownIds, TaskEntry } from "./validate-structure.js";

/** Names an `input` reference may use besides task ids. */
export const RESERVED_REFERENCE_NAMES: readonly string[] = ["goal", "input"];

/** Matches `{{ expression }}` inside a string. */
export const TEMPLATE_EXPRESSION = /\{\{\s*([^{}]*?)\s*\}\}/g;

interface Reference {
  target: string;
  path: string;
  kind: "input" | "when" | "forEach";
  /** Tasks merged into the referring task that run before the reference is read: always readable. */
  earlier?: ReadonlySet<string>;
  /** The task merged into the referring one that makes the reference, if not the task itself. */
  by?: string;
}

/** Report every reference, in every task, that names something the task does not wait for. */
export function checkReferences(
  entries: readonly TaskEntry[],
  knownIds: KnownIds,
  runtime: RuntimeGraph,
): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const found: { node: number; references: Reference[] }[] = [];
  entries.forEach((entry, node) => {
    const { input, when, forEach, merged } = entry.task;
    if (input === undefined && when === undefined && forEach === undefined && merged === undefined) {
      return;
    }
    const references =
      merged === undefined
        ? referencesOf(entry.task, `tasks[${entry.index}]`, knownIds, issues)
        : mergedReferences(entry, knownIds, issues);
    if (references.length > 0) {
      found.push({ node, references });
    }
  });
  if (found.length === 0) {
    return issues;
  }
  const context: Context = {
    knownIds,
    runtime,
    isUpstream: upstreamQuery(
      runtime.graph,
      runtime.order,
      found.map(({ node }) => node),
    ),
  };
  for (const { node, references } of found) {
    const taskId = (entries[node] as TaskEntry).task.id;
    for (const reference of references) {
      const problem = referenceProblem(reference, taskId, node, context);
      if (problem !== undefined) {
        issues.push({
          code: "bad_reference",
          path: reference.path,
          message: referenceMessage(problem, reference, taskId, runtime),
        });
      }
    }
  }
  return issues;
}

interface Context {
  knownIds: KnownIds;
  runtime: RuntimeGraph;
  isUpstream: UpstreamQuery;
}

type Problem = "unknown" | "self" | "not_direct" | "not_upstream";

/** What is wrong with a reference, or undefined if it is sound. */
function referenceProblem(reference: Reference, taskId: string, node: number, context: Context): Problem | undefined {
  const { target, kind } = reference;
  if (kind === "input" && RESERVED_REFERENCE_NAMES.includes(target)) {
    return undefined;
  }
  if (reference.earlier?.has(target)) {
    return undefined;
  }
  if (!context.knownIds.has(target)) {
    return "unknown";
  }
  if (target === taskId) {
    return "self";
  }
  const targetNode = context.runtime.nodeOf.get(target);
  if (targetNode === undefined) {
    return undefined;
  } // the target failed its own checks, reported there
  if (kind === "forEach") {
    return (context.runtime.graph.waitsFor[node] as readonly number[]).includes(targetNode) ? undefined : "not_direct";
  }
  return context.isUpstream(node, targetNode) ? undefined : "not_upstream";
}

function referenceMessage(
  problem: Problem,
  { target, kind, by }: Reference,
  taskId: string,
  runtime: RuntimeGraph,
): string {
  const name =
    by === undefined ? JSON.stringify(taskId) : `${JSON.stringify(by)} (merged into ${JSON.stringify(taskId)})`;
  const quoted = JSON.stringify(target);
  switch (problem) {
    case "unknown": {
      const reserved = kind === "input" ? ` (or use "goal" or "input")` : "";
      return `task ${name} refers to ${quoted}, which is not a task in this graph${didYouMean(target, runtime.nodeOf.keys())}; fix the id${reserved}`;
    }
    case "self":
      return by === undefined
        ? `task ${name} refers to its own output; refer to one of its dependencies instead`
        : `task ${name} refers to ${quoted}, which runs after it; refer to a task merged before it or to a dependency instead`;
    case "not_direct":
      return `task ${name} iterates over the output of ${quoted}, which is not a direct dependency; add ${quoted} to its dependsOn`;
    case "not_upstream": {
      const [use, where] = kind === "when" ? ["tests", "condition"] : ["reads", "input"];
      return `task ${name} ${use} the output of ${quoted} in its ${where}, but ${quoted} is not among its dependencies (direct or transitive), so it may not have run yet; add ${quoted} to dependsOn`;
    }
  }
}

/**
 * The references of a task with merged tasks and of each of them: each may read the ones merged
 * before it (and the task all of them), besides what the task waits for.
 */
function mergedReferences({ index, task }: TaskEntry, knownIds: KnownIds, issues: GraphIssue[]): Reference[] {
  const members = task.merged ?? [];
  const ids = new Set(members.map((member) => member.id));
  const known: KnownIds = { has: (id) => knownIds.has(id) || ids.has(id) };
  const references = members.flatMap((member, j) => {
    const earlier = new Set(members.slice(0, j).map((m) => m.id));
    return referencesOf(member, `tasks[${index}].merged[${j}]`, known, issues).map((r) => ({
      ...r,
      earlier,
      by: member.id,
    }));
  });
  return [...references, ...referencesOf(task, `tasks[${index}]`, known, issues).map((r) => ({ ...r, earlier: ids }))];
}

/** Every reference a task makes, plus issues for references that are malformed. */
function referencesOf(task: Task | MergedTask, base: string, knownIds: KnownIds, issues: GraphIssue[]): Reference[] {
  const references: Reference[] = [];
  if (task.input !== undefined) {
    collectInputReferences(task.input, ["input"], base, knownIds, references, issues);
  }
  if (task.when !== undefined) {
    collectConditionReferences(task.when, ["when"], base, references);
  }
  if (task.forEach !== undefined) {
    references.push({ target: task.forEach.from, path: `${base}.forEach.from`, kind: "forEach" });
  }
  return references;
}

function collectConditionReferences(
  condition: Condition,
  path: PropertyKey[],
  base: string,
  references: Reference[],
): void {
  if ("task" in condition) {
    references.push({ target: condition.task, path: formatPath(base, [...path, "task"]), kind: "when" });
  } else if ("all" in condition) {
    condition.all.forEach((inner, i) => collectConditionReferences(inner, [...path, "all", i], base, references));
  } else if ("any" in condition) {
    condition.any.forEach((inner, i) => collectConditionReferences(inner, [...path, "any", i], base, references));
  } else {
    collectConditionReferences(condition.not, [...path, "not"], base, references);
  }
}

/** Walk `value`, keeping `path` (shared, pushed and popped) at the current value. */
function collectInputReferences(
  value: Json,
  path: PropertyKey[],
  base: string,
  knownIds: KnownIds,
  references: Reference[],
  issues: GraphIssue[],
): void {
  if (typeof value === "string") {
    if (value.includes("{{")) {
      collectTemplateReferences(value, formatPath(base, path), knownIds, references, issues);
    }
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      collectInputReferences(value[i] as Json, path, base, knownIds, references, issues);
      path.pop();
    }
  } else if (value !== null && typeof value === "object") {
    if (Object.hasOwn(value, "$from")) {
      collectFromReference(value, path, base, references, issues);
      return;
    }
    for (const key in value) {
      path.push(key);
      collectInputReferences(value[key] as Json, path, base, knownIds, references, issues);
      path.pop();
    }
  }
}

function collectFromReference(
  value: { [key: string]: Json },
  path: readonly PropertyKey[],
  base: string,
  references: Reference[],
  issues: GraphIssue[],
): void {
  const target = value.$from;
  const at = formatPath(base, [...path, "$from"]);
  if (typeof target !== "string" || target === "") {
    issues.push({
      code: "bad_reference",
      path: at,
      message: `"$from" must be a task id string, received ${JSON.stringify(target)}`,
    });
  } else {
    references.push({ target, path: at, kind: "input" });
  }
  if (value.path !== undefined && typeof value.path !== "string") {
    issues.push({
      code: "bad_reference",
      path: formatPath(base, [...path, "path"]),
      message: `"path" of a "$from" reference must be a string like "items[0].id", received ${JSON.stringify(value.path)}`,
    });
  }
}

function collectTemplateReferences(
  text: string,
  path: string,
  knownIds: KnownIds,
  references: Reference[],
  issues: GraphIssue[],
): void {
  for (const match of text.matchAll(TEMPLATE_EXPRESSION)) {
    const expression = match[1] ?? "";
    if (expression === "") {
      issues.push({
        code: "bad_reference",
        path,
        message: `empty template "${match[0]}"; write {{ taskId.path }} or remove the braces`,
      });
      continue;
    }
    references.push({ target: templateTarget(expression, knownIds), path, kind: "input" });
  }
}

/**
 * The name a template expression starts with. Task ids may contain dots, so the longest prefix
 * ending at a `.` or `[` that is a known id wins; otherwise the text before the first `.` or `[`.
 */
export function templateTarget(expression: string, knownIds: KnownIds): string {
  const boundaries: number[] = [];
  for (let i = 0; i < expression.length; i++) {
    if (expression[i] === "." || expression[i] === "[") {
      boundaries.push(i);
    }
  }
  const first = boundaries[0] ?? expression.length;
  const head = expression.slice(0, first);
  if (RESERVED_REFERENCE_NAMES.includes(head)) {
    return head;
  }
  if (knownIds.has(expression)) {
    return expression;
  }
  for (let k = boundaries.length - 1; k >= 0; k--) {
    const prefix = expression.slice(0, boundaries[k]);
    if (knownIds.has(prefix)) {
      return prefix;
    }
  }
  return head;
}
