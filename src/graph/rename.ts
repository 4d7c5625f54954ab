/**
 * Renaming task ids inside a task: its id, `dependsOn`, `parentId`, and every reference to another
 * task's output (`{ "$from": id }` and `{{ id.path }}` in `input`, `when.task`, `forEach.from`).
 * A lazy composite's children are namespaced under it with this (`file` → `process/file`).
 */
import type { Condition, Json, TaskSpec } from "./task-graph.js";
import { TEMPLATE_EXPRESSION, templateTarget } from "./validate-references.js";

/**
 * `spec` with every id in `renamed` replaced by its new name, wherever the task names a task.
 * Ids not in `renamed` (the run's other tasks, `goal`, `input`) are left as they are.
 */
export function renameTaskIds(spec: TaskSpec, renamed: ReadonlyMap<string, string>): TaskSpec {
  const rename = (id: string): string => renamed.get(id) ?? id;
  return {
    ...spec,
    id: rename(spec.id),
    ...(spec.dependsOn ? { dependsOn: spec.dependsOn.map(rename) } : {}),
    ...(spec.parentId ? { parentId: rename(spec.parentId) } : {}),
    ...(spec.input !== undefined ? { input: renameInput(spec.input as Json, renamed) } : {}),
    ...(spec.when ? { when: renameCondition(spec.when as Condition, rename) } : {}),
    ...(spec.forEach ? { forEach: { ...spec.forEach, from: rename(spec.forEach.from) } } : {}),
  };
}

function renameCondition(condition: Condition, rename: (id: string) => string): Condition {
  if ("task" in condition) {
    return { ...condition, task: rename(condition.task) };
  }
  if ("all" in condition) {
    return { all: condition.all.map((inner) => renameCondition(inner, rename)) };
  }
  if ("any" in condition) {
    return { any: condition.any.map((inner) => renameCondition(inner, rename)) };
  }
  return { not: renameCondition(condition.not, rename) };
}

function renameInput(value: Json, renamed: ReadonlyMap<string, string>): Json {
  if (typeof value === "string") {
    return value.includes("{{") ? renameTemplates(value, renamed) : value;
  }
  if (Array.isArray(value)) {
    return value.map((item) => renameInput(item, renamed));
  }
  if (value === null || typeof value !== "object") {
    return value;
  }
  const copy: { [key: string]: Json } = {};
  for (const [key, inner] of Object.entries(value)) {
    copy[key] =
      key === "$from" && typeof inner === "string" ? (renamed.get(inner) ?? inner) : renameInput(inner, renamed);
  }
  return copy;
}

/** `{{ a.b }}` → `{{ parent/a.b }}` when `a` is renamed; the rest of each expression is kept. */
function renameTemplates(text: string, renamed: ReadonlyMap<string, string>): string {
  return text.replace(TEMPLATE_EXPRESSION, (whole: string, expression: string) => {
    const target = templateTarget(expression, renamed);
    const name = renamed.get(target);
    return name === undefined ? whole : whole.replace(expression, name + expression.slice(target.length));
  });
}
