/**
 * Input references: `{ "$from": "task", "path": "a[0].b" }` is replaced by that value, and a string
 * may embed `{{ task.a[0].b }}`. `goal` and `input` (the run's input) are referable too.
 */
import { getPath } from "./json-path.js";

/** What references can point at: dependency outputs by task id, plus `goal` and `input`. */
export type ReferenceScope = Readonly<Record<string, unknown>>;

const TEMPLATE = /\{\{\s*([A-Za-z0-9_][A-Za-z0-9_.:/-]*?)((?:\.[^\s.[\]{}]+|\[\d+\])*)\s*\}\}/g;

/** Returns `input` with every reference replaced by the value it points at. */
export function resolveReferences(input: unknown, scope: ReferenceScope): unknown {
  if (typeof input === "string") return resolveTemplate(input, scope);
  if (Array.isArray(input)) return input.map((item) => resolveReferences(item, scope));
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
  if (!match) return undefined;
  const [, head = "", rest = ""] = match;
  // Task ids may hold dots; prefer the longest id that exists in scope.
  if (!(head in scope)) {
    const ids = Object.keys(scope).filter((id) => expression === id || expression.startsWith(`${id}.`) || expression.startsWith(`${id}[`));
    const id = ids.sort((a, b) => b.length - a.length)[0];
    return id === undefined ? undefined : getPath(scope[id], expression.slice(id.length).replace(/^\./, ""));
  }
  return getPath(scope[head], rest.replace(/^\./, ""));
}
