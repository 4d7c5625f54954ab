/**
 * Value checks of validation, around the shape checks: before them, values no walk should meet
 * (a cycle, a stack-deep nesting, a "JSON bomb" of shared references; see value-guard.ts), so
 * that zod and `JSON.stringify` only see values they walk in bounded time; after them, text that
 * PostgreSQL cannot store (a NUL, an unpaired surrogate), which would fail the statement that
 * stores the graph with a database error instead of an issue that names the task.
 */
import { describeValue, type GraphIssue } from "../errors.js";
import { findUnstorable, type UnstorableText } from "./storable-text.js";
import { formatPath } from "./validate-schema.js";
import { MAX_VALUE_DEPTH, valueHazard } from "./value-guard.js";

/** Largest value a task field other than `input` may hold, in bytes of JSON. */
const MAX_FIELD_BYTES = 16 * 1024 * 1024;
/**
 * `input` is measured exactly after parsing (`input_too_large`); this walk only stops inputs
 * whose JSON would be many times the limit (shared references written out), before serialising them.
 */
const INPUT_WALK_FACTOR = 8;

/** Fields whose values are task ids, which the id pattern keeps to ASCII. */
const ID_FIELDS: ReadonlySet<string> = new Set(["id", "parentId", "dependsOn"]);
/** Any NUL or surrogate, paired or not: the cheap test before the exact one. */
// eslint-disable-next-line no-control-regex -- NUL is the character looked for
const SUSPECT_TEXT = /[\u0000\ud800-\udfff]/;

/**
 * The value issues of one raw task, under `tasks[index]`: `hazards` (a cycle, a stack-deep
 * nesting, a JSON bomb; the task must not be parsed) and `unstorable` (text PostgreSQL refuses,
 * at most one per task; the task is parsed, so that its other problems are reported too).
 */
export function taskValueIssues(
  raw: unknown,
  index: number,
  maxInputBytes: number,
): { hazards: GraphIssue[]; unstorable: GraphIssue[] } {
  const hazards: GraphIssue[] = [];
  const unstorable: GraphIssue[] = [];
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { hazards, unstorable };
  }
  for (const [field, value] of Object.entries(raw)) {
    const hazard = isFlat(value) ? null : fieldHazard(raw, index, field, value, maxInputBytes);
    if (hazard !== null) {
      hazards.push(hazard);
      continue;
    }
    if (unstorable.length > 0 || ID_FIELDS.has(field) || (typeof value === "string" && !SUSPECT_TEXT.test(value))) {
      continue;
    }
    const found = findUnstorable(value, formatPath(`tasks[${index}]`, [field]));
    if (found !== null) {
      unstorable.push(unstorableIssue(found));
    }
  }
  return { hazards, unstorable };
}

function fieldHazard(
  raw: object,
  index: number,
  field: string,
  value: unknown,
  maxInputBytes: number,
): GraphIssue | null {
  const isInput = field === "input";
  const maxBytes = isInput ? INPUT_WALK_FACTOR * maxInputBytes : MAX_FIELD_BYTES;
  const hazard = valueHazard(value, { maxDepth: MAX_VALUE_DEPTH, maxBytes });
  if (hazard === null) {
    return null;
  }
  if (isInput && hazard.kind === "too_large") {
    return {
      code: "input_too_large",
      path: `tasks[${index}].input`,
      message:
        `input of task ${describeId((raw as { id?: unknown }).id)} is more than ${maxBytes} bytes of JSON, ` +
        `more than limits.maxInputBytes ${maxInputBytes}; pass large data by reference (a URL, a file path, ` +
        `or {"$from": taskId}) or raise limits.maxInputBytes`,
    };
  }
  return {
    code: "invalid_field",
    path: formatPath(`tasks[${index}]`, [field, ...hazard.path]),
    message: hazard.message,
  };
}

/** The task's id as written, or what it is when it is not a string (it may be anything). */
function describeId(id: unknown): string {
  return typeof id === "string" ? JSON.stringify(id.slice(0, 128)) : `(id: ${describeValue(id)})`;
}

/** A primitive, or an array or object of primitives (`dependsOn`, most inputs): nothing to walk. */
function isFlat(value: unknown): boolean {
  if (value === null || typeof value !== "object") {
    return true;
  }
  const members = Array.isArray(value) ? value : Object.values(value);
  return members.length < 10_000 && members.every((member) => member === null || typeof member !== "object");
}

/** Text of the graph's own fields (`goal`, `id`, …) that PostgreSQL cannot store, one issue each. */
export function unstorableFieldIssues(fields: Record<string, unknown> | null): GraphIssue[] {
  return Object.entries(fields ?? {}).flatMap(([field, value]) => {
    const found = typeof value === "string" ? findUnstorable(value, field) : null;
    return found === null ? [] : [unstorableIssue(found)];
  });
}

function unstorableIssue(found: UnstorableText): GraphIssue {
  return {
    code: "unstorable_text",
    path: found.path,
    message: `holds ${found.what}, which PostgreSQL cannot store; remove it, or encode the value (e.g. base64)`,
  };
}
