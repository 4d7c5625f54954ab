/** Evaluation of `when` conditions: data over dependency outputs, never code. */
import type { Condition } from "../graph/task-graph.js";
import { getPath } from "./json-path.js";

/** True when `condition` holds for the given outputs (by task id). */
export function evaluateCondition(condition: Condition, outputs: Readonly<Record<string, unknown>>): boolean {
  if ("all" in condition) {
    return condition.all.every((c) => evaluateCondition(c, outputs));
  }
  if ("any" in condition) {
    return condition.any.some((c) => evaluateCondition(c, outputs));
  }
  if ("not" in condition) {
    return !evaluateCondition(condition.not, outputs);
  }
  const actual = getPath(outputs[condition.task], condition.path);
  const expected = condition.value;
  switch (condition.op) {
    case "eq":
      return deepEqual(actual, expected);
    case "ne":
      return !deepEqual(actual, expected);
    case "gt":
      return typeof actual === typeof expected && (actual as number) > (expected as number);
    case "lt":
      return typeof actual === typeof expected && (actual as number) < (expected as number);
    case "in":
      return Array.isArray(expected) && expected.some((e) => deepEqual(actual, e));
    case "exists":
      return actual !== undefined && actual !== null;
    case "truthy":
      return Boolean(actual) && !(Array.isArray(actual) && actual.length === 0);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
