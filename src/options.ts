/**
 * Parsing of options at the public edge with zod, turning the first problem into an
 * `InvalidOptionError` that names the option, what was expected and what was given:
 * "invalid option `defaults.maxAttempts` in createOrchestrator: expected an integer of at least 1,
 * received number 0" (the words come from option-messages.ts).
 * A leaf module: every layer may import it.
 */
import type { z } from "zod";
import { InvalidOptionError } from "./errors.js";
import { closestIssue, expectationOf, schemaAt, valueAt } from "./option-messages.js";

/** How a caller names its options in errors, when not by their path (the CLI names flags and env vars). */
export interface OptionNaming {
  /** The name of the option at a dotted path, e.g. `--max-parallel` for `maxParallel`. @default the path */
  name?: (path: string) => string;
  /** The fix sentence of an error about the option at a dotted path. @default none */
  fix?: (path: string) => string | undefined;
  /** Where the options came from, for the message ("in environment"); "" leaves it out. @default `where` */
  where?: string;
}

/** Parses `value` with `schema`, or throws an `InvalidOptionError` for the first issue found. */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
  naming: OptionNaming = {},
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) {
    return result.data;
  }
  const first = result.error.issues[0];
  if (!first) {
    throw new InvalidOptionError("(options)", "valid options", value, where);
  }
  const issue = closestIssue(first);
  const received = valueAt(value, issue.path);
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0] ?? "";
    const name = [...issue.path.map(String), key].filter(Boolean).join(".");
    throw optionError(name, expectationOf(issue, received), valueAt(received, [key]), where, naming);
  }
  const option = issue.path.length > 0 ? issue.path.map(String).join(".") : "(options)";
  const given = issue.code === "invalid_key" ? issue.path.at(-1) : received;
  throw optionError(option, expectationOf(issue, received, schemaAt(schema, issue.path)), given, where, naming);
}

function optionError(
  path: string,
  expected: string,
  received: unknown,
  where: string,
  naming: OptionNaming,
): InvalidOptionError {
  const place = naming.where ?? where;
  return new InvalidOptionError(
    naming.name?.(path) ?? path,
    expected,
    received,
    place === "" ? undefined : place,
    naming.fix?.(path),
  );
}
