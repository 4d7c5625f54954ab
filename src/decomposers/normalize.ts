/**
 * Normal forms shared by the decomposition cache and the learned patterns: a goal reduced to what
 * matters for planning, a JSON rendering that does not depend on key order, and a hash of it.
 */
import { createHash } from "node:crypto";

/**
 * A goal in normal form: Unicode NFKC, lower case, runs of whitespace collapsed to one space,
 * surrounding whitespace and trailing sentence punctuation removed. Two goals that differ only in
 * case, spacing or a final full stop share a cache entry and a pattern; paraphrases do not.
 *
 * @example
 * normalizeGoal("  Audit the  dependencies of ./app. ") // "audit the dependencies of ./app"
 */
export function normalizeGoal(goal: string): string {
  return goal
    .normalize("NFKC")
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim()
    .replace(/[\s.!?;,]+$/u, "");
}

/**
 * JSON with object keys sorted at every level, so that equal values give equal strings.
 * `undefined` members are left out, as `JSON.stringify` does.
 */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (value === null || typeof value !== "object") {
    return value;
  }
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) {
      sorted[key] = sortKeys(member);
    }
  }
  return sorted;
}

/** Hex SHA-256 of the stable JSON of `value`. */
export function hashOf(value: unknown): string {
  return createHash("sha256").update(stableStringify(value)).digest("hex");
}
