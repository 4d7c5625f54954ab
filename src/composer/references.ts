/**
 * Input references: `{ "$from": "task", "path": "a[0].b" }` is replaced by that value, and a string
 * may embed `{{ task.a[0].b }}`. `goal` and `input` (the run's input) are referable too.
 */
import type { Condition } from "../graph/task-graph.js";
import { TEMPLATE_EXPRESSION } from "../graph/validate-references.js";
import { getPath } from "./json-path.js";

/** What references can point at: dependency outputs by task id, plus `goal` and `input`. */
export type ReferenceScope = Readonly<Record<string, unknown>>;

const TEMPLATE = /\{\{\s*([A-Za-z0-9_][A-Za-z0-9_.:/-]*?)((?:\.[^\s.[\]{}]+|\[\d+\])*)\s*\}\}/g;

/** Returns `input` with every reference replaced by the value it points at. */
export function resolveReferences(input: unknown, scope: ReferenceScope): unknown {
  if (typeof input === "string") {
    return resolveTemplate(input, scope);
  }
  if (Array.isArray(input)) {
    return input.map((item) => resolveReferences(item, scope));
  }
  if (input !== null && typeof input === "object") {
    const record = input as Record<string, unknown>;
    if (typeof record.$from === "string" && Object.keys(record).every((k) => k === "$from" || k === "path")) {
      return getPath(scope[record.$from], typeof record.path === "string" ? record.path : undefined);
    }
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, resolveReferences(v, scope)]));
  }
  return input;
}

function resolveTemplate(text: string, scope: ReferenceScope): unknown {
  const whole = /^\{\{\s*([^}]+?)\s*\}\}$/.exec(text);
  if (whole?.[1]) {
    // A string that is only a reference keeps the referenced value's type (a number stays a number).
    return lookup(whole[1], scope);
  }
  return text.replace(TEMPLATE, (_match, taskId: string, path: string) => {
    const value = getPath(scope[taskId], path.replace(/^\./, ""));
    return value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  });
}

function lookup(expression: string, scope: ReferenceScope): unknown {
  const match = /^([A-Za-z0-9_][A-Za-z0-9_:/-]*)(.*)$/.exec(expression);
  if (!match) {
    return undefined;
  }
  const [, head = "", rest = ""] = match;
  // Task ids may hold dots; prefer the longest id that exists in scope.
  if (!(head in scope)) {
    const ids = Object.keys(scope).filter(
      (id) => expression === id || expression.startsWith(`${id}.`) || expression.startsWith(`${id}[`),
    );
    const id = ids.sort((a, b) => b.length - a.length)[0];
    return id === undefined ? undefined : getPath(scope[id], expression.slice(id.length).replace(/^\./, ""));
  }
  return getPath(scope[head], rest.replace(/^\./, ""));
}

/**
 * Ids `task` reads (in its input, by `$from` or template, and in its `when`) that are not in
 * `local`: upstream tasks beyond its direct dependencies. A template whose id holds dots yields
 * every candidate prefix (`a.b.c` → `a`, `a.b`, `a.b.c`); the lookup keeps the longest that exists.
 */
export function unresolvedReferences(
  task: { input?: unknown; when?: Condition },
  local: ReadonlySet<string>,
): string[] {
  const found = new Set<string>();
  const walk = (value: unknown): void => {
    if (typeof value === "string") {
      for (const match of value.matchAll(TEMPLATE_EXPRESSION)) {
        templateCandidates(match[1] ?? "", local).forEach((id) => found.add(id));
      }
    } else if (Array.isArray(value)) {
      value.forEach(walk);
    } else if (value !== null && typeof value === "object") {
      const record = value as Record<string, unknown>;
      if (typeof record.$from === "string") {
        if (!local.has(record.$from)) {
          found.add(record.$from);
        }
      } else {
        Object.values(record).forEach(walk);
      }
    }
  };
  const conditions = (condition: Condition): void => {
    if ("task" in condition) {
      if (!local.has(condition.task)) {
        found.add(condition.task);
      }
    } else if ("all" in condition) {
      condition.all.forEach(conditions);
    } else if ("any" in condition) {
      condition.any.forEach(conditions);
    } else {
      conditions(condition.not);
    }
  };
  walk(task.input);
  if (task.when) {
    conditions(task.when);
  }
  return [...found];
}

function templateCandidates(expression: string, local: ReadonlySet<string>): string[] {
  const head = /^[^.[]*/.exec(expression)?.[0] ?? "";
  if (head === "" || local.has(head)) {
    return [];
  }
  const candidates: string[] = [];
  for (let i = 0; i < expression.length; i++) {
    if (expression[i] === "." || expression[i] === "[") {
      candidates.push(expression.slice(0, i));
    }
  }
  candidates.push(expression);
  // A prefix in scope already (a direct dependency whose id holds dots) is what the lookup takes.
  return candidates.some((id) => local.has(id)) ? [] : candidates;
}
