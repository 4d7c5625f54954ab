/**
 * zod issues as plain words: what an option or field expected, for the messages of
 * `InvalidOptionError`, graph issues, rules files and events. zod's own issue messages ("Too small:
 * expected number to be >=1") are never shown; a message the schema wrote itself is.
 * A leaf module: every layer may import it.
 */
import { z } from "zod";
import { describeValue } from "./errors.js";

type Issue = z.core.$ZodIssue;

/**
 * One issue of a value parsed with `schema`, as a sentence's tail that names what was expected and
 * what was given: `expected a string of at least 1 character, received the string ""`.
 * @param root the value that was parsed; the received value is read from it at the issue's path.
 */
export function issueProblem(issue: Issue, root: unknown, schema?: z.core.$ZodType): string {
  const received = valueAt(root, issue.path);
  const expected = expectationOf(issue, received, schema === undefined ? undefined : schemaAt(schema, issue.path));
  return `expected ${expected}, received ${describeValue(received)}`;
}

/**
 * What `issue` asked for, as words that follow "expected": `an integer of at least 1`,
 * `one of "none", "basic"`. A message the schema gave wins over the one derived from the issue.
 * @param received the value the issue is about (zod leaves it out of the issue).
 * @param schema the schema at the issue's path, when known; it tells an integer from a number.
 */
export function expectationOf(issue: Issue, received: unknown, schema?: z.core.$ZodType): string {
  if (hasCustomMessage(issue, received)) {
    return issue.message;
  }
  switch (issue.code) {
    case "too_small":
    case "too_big":
      return boundExpectation(issue, schema);
    case "invalid_type":
      return typeExpectation(issue.expected === "number" && isInteger(schema) ? "int" : issue.expected);
    case "invalid_value":
      return valuesExpectation(issue.values);
    case "invalid_format":
      return formatExpectation(issue);
    case "not_multiple_of":
      return `a multiple of ${issue.divisor}`;
    case "unrecognized_keys":
      return `only known options (unknown: ${issue.keys.join(", ")})`;
    case "invalid_union":
      return unionExpectation(issue, received);
    case "invalid_key":
      return `a key that is ${issue.issues[0] ? expectationOf(issue.issues[0], issue.path.at(-1)) : "valid"}`;
    case "invalid_element":
      return `a ${issue.origin} whose elements are each ${issue.issues[0] ? expectationOf(issue.issues[0], undefined) : "valid"}`;
    case "custom":
      return "a valid value";
  }
}

/**
 * Whether the schema gave `issue` its message: zod keeps no flag for that, so the message is
 * compared with the one zod's configured locale would write for the same issue.
 */
export function hasCustomMessage(issue: Issue, received: unknown): boolean {
  const localeError = z.config().localeError;
  if (localeError === undefined) {
    return false;
  }
  const standard = localeError({ ...issue, input: received } as z.core.$ZodRawIssue);
  const text = typeof standard === "string" ? standard : standard?.message;
  return text !== undefined && text !== issue.message;
}

/** What a size counts, singular and plural, by the issue's `origin`. */
const SIZE_UNITS: Record<string, [string, string]> = {
  string: ["character", "characters"],
  array: ["item", "items"],
  set: ["item", "items"],
  map: ["entry", "entries"],
  file: ["byte", "bytes"],
};

/** `an integer of at least 1`, `a string of at most 100 characters`, `a number greater than 0`. */
function boundExpectation(
  issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig,
  schema: z.core.$ZodType | undefined,
): string {
  const atLeast = issue.code === "too_small";
  const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
  const strict = issue.inclusive === false;
  const relation = issue.exact
    ? "exactly"
    : strict
      ? atLeast
        ? "more than"
        : "fewer than"
      : atLeast
        ? "at least"
        : "at most";
  const unit = SIZE_UNITS[issue.origin];
  if (unit !== undefined) {
    return `${typeExpectation(issue.origin)} of ${relation} ${bound} ${bound === 1 || bound === 1n ? unit[0] : unit[1]}`;
  }
  if (issue.origin === "date") {
    return `a date ${atLeast ? "on or after" : "on or before"} ${new Date(Number(bound)).toISOString()}`;
  }
  const noun = issue.origin === "int" || issue.origin === "bigint" || isInteger(schema) ? "an integer" : "a number";
  return strict ? `${noun} ${atLeast ? "greater than" : "less than"} ${bound}` : `${noun} of ${relation} ${bound}`;
}

function isInteger(schema: z.core.$ZodType | undefined): boolean {
  return schema instanceof z.ZodNumber && schema.isInt;
}

/** Type names that do not read as "a <name>". */
const TYPE_NAMES: Record<string, string> = {
  int: "an integer",
  tuple: "an array",
  record: "an object",
  undefined: "undefined",
  null: "null",
  nan: "NaN",
  never: "no value",
  void: "no value",
  nonoptional: "a value",
};

/** `a number`, `an integer`, `an object`; a class name from `z.instanceof` as `an instance of Pool`. */
function typeExpectation(expected: string): string {
  const name = TYPE_NAMES[expected];
  if (name !== undefined) {
    return name;
  }
  if (/^[A-Z]/.test(expected)) {
    return `an instance of ${expected}`;
  }
  return `${/^[aeiou]/.test(expected) ? "an" : "a"} ${expected}`;
}

/** `"x"` for one value, `one of "none", "basic", "advanced"` for several. */
function valuesExpectation(values: readonly unknown[]): string {
  const shown = values.map((value) =>
    typeof value === "string" ? JSON.stringify(value) : typeof value === "bigint" ? `${value}n` : String(value),
  );
  return shown.length === 1 ? (shown[0] ?? "") : `one of ${shown.join(", ")}`;
}

/** String formats that do not read as "a string in <format> format". */
const FORMAT_NAMES: Record<string, string> = {
  email: "an email address",
  url: "a URL",
  uuid: "a UUID",
  datetime: "an ISO date-time",
  date: "an ISO date",
  time: "an ISO time",
};

/** `a string matching /^a$/`, `a string starting with "ab"`, `an email address`. */
function formatExpectation(issue: z.core.$ZodIssueInvalidStringFormat): string {
  const details = issue as { prefix?: string; suffix?: string; includes?: string };
  switch (issue.format) {
    case "regex":
      return `a string matching ${issue.pattern ?? "its pattern"}`;
    case "starts_with":
      return `a string starting with ${JSON.stringify(details.prefix)}`;
    case "ends_with":
      return `a string ending with ${JSON.stringify(details.suffix)}`;
    case "includes":
      return `a string containing ${JSON.stringify(details.includes)}`;
    default:
      return FORMAT_NAMES[issue.format] ?? `a string in ${issue.format} format`;
  }
}

/**
 * For a union that no alternative matched, the issue of the alternative whose type fit (it failed
 * deeper, at a field), with the path made whole; the union itself when every alternative failed at
 * its root, which {@link expectationOf} then lists.
 */
export function closestIssue(issue: Issue): Issue {
  if (issue.code !== "invalid_union") {
    return issue;
  }
  const fitting = issue.errors.filter(
    (branch) =>
      branch.length > 0 &&
      branch.every(
        (inner) => inner.path.length > 0 || (inner.code !== "invalid_type" && inner.code !== "invalid_value"),
      ),
  );
  const cost = (branch: readonly Issue[]) =>
    branch.reduce((sum, inner) => sum + 1 + (inner.code === "unrecognized_keys" ? 10 * inner.keys.length : 0), 0);
  const best = [...fitting].sort((a, b) => cost(a) - cost(b))[0]?.[0];
  if (best === undefined) {
    return issue;
  }
  const leaf = closestIssue(best);
  return { ...leaf, path: [...issue.path, ...leaf.path] } as Issue;
}

/** Each alternative's expectation: `a string, a number or an instance of Pool`. */
function unionExpectation(issue: z.core.$ZodIssueInvalidUnion, received: unknown): string {
  const options = (issue as { options?: readonly unknown[] }).options;
  if (issue.errors.length === 0) {
    if (options !== undefined && options.length > 0) {
      return valuesExpectation(options);
    }
    return issue.inclusive === false ? "a value that fits exactly one alternative" : "a valid value";
  }
  const alternatives = issue.errors.flatMap((branch) => {
    const first = branch[0];
    if (first === undefined) {
      return [];
    }
    const expectation = expectationOf(first, valueAt(received, first.path));
    return [
      first.path.length === 0
        ? expectation
        : `an object whose \`${first.path.map(String).join(".")}\` is ${expectation}`,
    ];
  });
  const unique = [...new Set(alternatives)];
  const last = unique.pop();
  if (last === undefined) {
    return "a valid value";
  }
  return unique.length === 0 ? last : `${unique.join(", ")} or ${last}`;
}

/**
 * The schema that checks the value at `path` inside `schema`, through wrappers (optional, default,
 * pipe, lazy), and through a union when exactly one alternative has that path; undefined otherwise.
 */
export function schemaAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): z.core.$ZodType | undefined {
  const def = schema._zod.def as unknown as Definition;
  const inner =
    def.innerType ?? (def.type === "pipe" ? pipeInput(def) : def.type === "lazy" ? lazyTarget(def) : undefined);
  if (inner !== undefined) {
    return schemaAt(inner as z.core.$ZodType, path);
  }
  const [key, ...rest] = path;
  if (path.length === 0) {
    return schema;
  }
  if (def.type === "union") {
    const found = (def.options as z.core.$ZodType[]).flatMap((option) => schemaAt(option, path) ?? []);
    return found.length === 1 ? found[0] : undefined;
  }
  const child = childSchema(def, key);
  return child === undefined ? undefined : schemaAt(child, rest);
}

/** A schema's definition, read field by field: its fields depend on its `type`. */
type Definition = Record<string, unknown> & { type: string };

function pipeInput(def: Definition): unknown {
  const input = def.in as z.core.$ZodType;
  return input._zod.def.type === "transform" ? def.out : input;
}

function lazyTarget(def: Definition): unknown {
  return (def.getter as () => unknown)();
}

function childSchema(def: Definition, key: PropertyKey | undefined): z.core.$ZodType | undefined {
  switch (def.type) {
    case "object":
      return (def.shape as Record<PropertyKey, z.core.$ZodType>)[key as string];
    case "record":
      return def.valueType as z.core.$ZodType;
    case "array":
      return def.element as z.core.$ZodType;
    case "tuple":
      return typeof key === "number" ? (def.items as z.core.$ZodType[])[key] : undefined;
    default:
      return undefined;
  }
}

/** The value at `path` inside `value` (undefined where the path leaves the value). */
export function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") {
      return undefined;
    }
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}
