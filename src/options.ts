/**
 * Parsing of options at the public edge with zod, turning the first problem into an
 * `InvalidOptionError` that names the option, what was expected and what was given.
 * A leaf module: every layer may import it.
 */
import type { z } from "zod";
import { InvalidOptionError } from "./errors.js";

/** Parses `value` with `schema`, or throws an `InvalidOptionError` for the first issue found. */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) {
    return result.data;
  }
  const issue = result.error.issues[0];
  if (!issue) {
    throw new InvalidOptionError("(options)", "valid options", value, where);
  }
  const option = issue.path.length > 0 ? issue.path.map(String).join(".") : "(options)";
  const received = valueAt(value, issue.path);
  const expected =
    issue.code === "unrecognized_keys"
      ? `only known options (unknown: ${issue.keys.join(", ")})`
      : issue.message.replace(/^Invalid input: /, "").replace(/^expected /, "");
  const name =
    issue.code === "unrecognized_keys"
      ? [...issue.path.map(String), issue.keys[0] ?? ""].filter(Boolean).join(".")
      : option;
  throw new InvalidOptionError(
    name,
    expected,
    issue.code === "unrecognized_keys" ? valueAt(received, [issue.keys[0] ?? ""]) : received,
    where,
  );
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") {
      return undefined;
    }
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
