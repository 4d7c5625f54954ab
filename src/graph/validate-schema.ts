/**
 * Shape checks of validation: zod parsing of the graph and of each task, with zod's issues
 * turned into htdag's `GraphIssue`s (`tasks[3].timeoutMs: … expected …, received …`).
 */
import { z } from "zod";
import { describeValue, type GraphIssue } from "../errors.js";
import { expectationOf, hasCustomMessage, schemaAt } from "../option-messages.js";
import { didYouMean } from "./suggest.js";
import {
  backoffSchema,
  forEachSchema,
  taskGraphInputSchema,
  taskSpecSchema,
  conditionSchema,
  type Condition,
  type Json,
  type Task,
} from "./task-graph.js";

type PathKey = PropertyKey;

/** Render a path the way a user reads it in JavaScript: `tasks[3].when.all[0].op`. */
export function formatPath(base: string, path: readonly PathKey[]): string {
  let text = base;
  for (const key of path) {
    if (typeof key === "number") {
      text += `[${key}]`;
    } else if (typeof key === "string" && /^[A-Za-z_$][\w$]*$/.test(key)) {
      text += text === "" ? key : `.${key}`;
    } else {
      text += `[${JSON.stringify(String(key))}]`;
    }
  }
  return text === "" ? "$" : text;
}

const MAX_JSON_DEPTH = 100;

/**
 * Reports every value inside `value` that JSON cannot hold, with its path. The same values pass
 * as with `jsonSchema`, but in one walk instead of trying six union branches at every level,
 * which made `input` the most expensive field of a task to parse.
 */
function addJsonIssues(value: unknown, path: PathKey[], ctx: z.core.$RefinementCtx, depth: number): void {
  if (value === null || typeof value === "string" || typeof value === "boolean") {
    return;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      ctx.addIssue({ code: "custom", path: [...path], message: `expected a finite number, received ${value}` });
    }
    return;
  }
  if (depth > MAX_JSON_DEPTH) {
    ctx.addIssue({
      code: "custom",
      path: [...path],
      message: `nested more than ${MAX_JSON_DEPTH} levels deep; flatten it`,
    });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => addJsonIssues(item, [...path, index], ctx, depth + 1));
    return;
  }
  const prototype = typeof value === "object" ? Object.getPrototypeOf(value) : undefined;
  if (prototype !== Object.prototype && prototype !== null) {
    ctx.addIssue({
      code: "custom",
      path: [...path],
      message: `expected a JSON value (string, finite number, boolean, null, array or plain object), received ${describeValue(value)}`,
    });
    return;
  }
  for (const [key, item] of Object.entries(value as object)) {
    addJsonIssues(item, [...path, key], ctx, depth + 1);
  }
}

const fastJsonSchema = z.custom<Json>().superRefine((value, ctx) => addJsonIssues(value, [], ctx, 0));

/**
 * `taskSpecSchema` with the same rules, checked faster: `input` by one walk, and `when` (a
 * recursive schema, which makes zod track recursion for every task) only for tasks that have one.
 */
const taskSchema = taskSpecSchema.extend({ input: fastJsonSchema.optional(), when: z.custom<Condition>().optional() });

type TaskField = keyof typeof taskSchema.shape;

/** Fields every task is parsed with: the required id, and the fields that have defaults. */
const ALWAYS_PARSED: readonly TaskField[] = ["id", "description", "dependsOn"];

/**
 * `taskSchema` narrowed to the fields a task has, by field list; tasks share a handful of lists.
 * Module-level on purpose: it memoises immutable schemas derived from constants, holds no data
 * from any graph, and stops growing at 256 entries.
 */
const schemaByFields = new Map<string, z.ZodType<z.output<typeof taskSchema>>>();

/**
 * `taskSchema` picked down to the fields `raw` has, plus {@link ALWAYS_PARSED}: the same output
 * and issues as the whole schema (absent optional fields without defaults add nothing), but zod
 * pays per declared field, and most tasks use 3 or 4 of 18. Objects with a field the schema
 * does not know get the whole schema, which reports it.
 */
function schemaFor(raw: unknown): z.ZodType<z.output<typeof taskSchema>> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return taskSchema;
  }
  const fields = Object.keys(raw);
  const signature = fields.join(",");
  let schema = schemaByFields.get(signature);
  if (schema === undefined) {
    const known = fields.every((field) => Object.hasOwn(taskSchema.shape, field));
    const mask = Object.fromEntries([...ALWAYS_PARSED, ...fields].map((field) => [field, true as const]));
    schema = known ? taskSchema.pick(mask as { [K in TaskField]?: true }) : taskSchema;
    if (schemaByFields.size < 256) {
      schemaByFields.set(signature, schema);
    }
  }
  return schema;
}

/** Field names allowed in each kind of object, for "did you mean" on unknown fields. */
const KNOWN_FIELDS: Record<string, readonly string[]> = {
  task: Object.keys(taskSpecSchema.shape),
  graph: Object.keys(taskGraphInputSchema.shape),
  backoff: Object.keys(backoffSchema.shape),
  forEach: Object.keys(forEachSchema.shape),
  when: ["task", "path", "op", "value", "all", "any", "not"],
};

/** Parse one task; on failure, its issues under `tasks[index]`. */
export function parseTask(raw: unknown, index: number): { task: Task | null; issues: GraphIssue[] } {
  const base = `tasks[${index}]`;
  const schema = schemaFor(raw);
  const result = schema.safeParse(raw);
  const when = result.success ? result.data.when : valueAt(raw, ["when"]);
  const condition = when === undefined ? undefined : conditionSchema.safeParse(when);
  const issues = [
    ...(result.success ? [] : zodIssues(result.error.issues, schema, base, raw, "task")),
    ...(condition?.success === false
      ? zodIssues(condition.error.issues, conditionSchema, base, raw, "when", ["when"])
      : []),
  ];
  if (!result.success) {
    // `when` is parsed apart (taskSchema takes any value there): a bad one must not be kept.
    return { task: lenientTask(raw, result.error.issues, condition?.success === false), issues };
  }
  if (condition === undefined) {
    return { task: result.data, issues };
  }
  if (!condition.success) {
    // Like lenientTask: keep the task, without its bad condition, for the structural checks.
    const { when: _bad, ...rest } = result.data;
    return { task: rest, issues };
  }
  return { task: { ...result.data, when: condition.data }, issues };
}

/**
 * The task without the top-level fields that failed to parse, so that structural checks still
 * see its id and dependencies (one bad field must not hide the task's other problems). Null when
 * the id or dependencies themselves are bad. The graph is rejected either way.
 */
function lenientTask(raw: unknown, issues: readonly z.core.$ZodIssue[], badCondition: boolean): Task | null {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return null;
  }
  const bad = new Set(issues.map((issue) => issue.path[0]).filter((key) => typeof key === "string"));
  if (badCondition) {
    bad.add("when");
  }
  if (bad.has("id") || bad.has("dependsOn") || bad.has("parentId")) {
    return null;
  }
  const kept = Object.fromEntries(Object.entries(raw).filter(([key]) => !bad.has(key) && key in taskSchema.shape));
  const retry = taskSchema.safeParse(kept);
  return retry.success ? retry.data : null;
}

/** Parse the graph's own fields (`goal`, `tasks` as an array, metadata), not the tasks inside. */
export function parseGraphFields(raw: unknown): {
  fields: z.output<typeof taskGraphInputSchema> | null;
  issues: GraphIssue[];
} {
  const result = taskGraphInputSchema.safeParse(raw);
  if (result.success) {
    return { fields: result.data, issues: [] };
  }
  return { fields: null, issues: zodIssues(result.error.issues, taskGraphInputSchema, "", raw, "graph") };
}

/**
 * Turn zod issues of `schema` into graph issues whose path starts at `base` and whose value is read
 * from `root`: `expected an integer of at least 1, received number 0`, or the schema's own message.
 */
function zodIssues(
  issues: readonly z.core.$ZodIssue[],
  schema: z.core.$ZodType,
  base: string,
  root: unknown,
  kind: string,
  prefix: readonly PathKey[] = [],
): GraphIssue[] {
  return issues.flatMap((issue) => {
    const leaf = bestUnionBranch(issue);
    const local = [...issue.path, ...(leaf === issue ? [] : leaf.path)];
    const path = [...prefix, ...local];
    if (leaf.code === "unrecognized_keys") {
      return unknownFieldIssues(leaf.keys, base, path, kind);
    }
    const value = valueAt(root, path);
    const message = hasCustomMessage(leaf, value)
      ? `${leaf.message}${/received/.test(leaf.message) ? "" : `, received ${describeValue(value)}`}`
      : `expected ${expectationOf(leaf, value, schemaAt(schema, local))}, received ${describeValue(value)}`;
    return [{ code: "invalid_field", path: formatPath(base, path), message }];
  });
}

function unknownFieldIssues(
  keys: readonly string[],
  base: string,
  path: readonly PathKey[],
  kind: string,
): GraphIssue[] {
  const last = path.findLast((key) => typeof key === "string");
  const fields =
    KNOWN_FIELDS[path.length === 0 ? kind : typeof last === "string" && last in KNOWN_FIELDS ? last : "when"] ?? [];
  return keys.map((key) => ({
    code: "unknown_field",
    path: formatPath(base, [...path, key]),
    message: `unknown field ${JSON.stringify(key)}${didYouMean(key, fields)}; rename or remove it (allowed: ${fields.join(", ")})`,
  }));
}

/**
 * For a union that matched no branch, the issue of the branch that came closest: one whose
 * shape matched (no wrong type at its root), with the fewest unknown fields and issues.
 */
function bestUnionBranch(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) {
    return issue;
  }
  const score = (branch: readonly z.core.$ZodIssue[]): number =>
    branch.reduce(
      (sum, inner) =>
        sum +
        1 +
        (inner.code === "unrecognized_keys" ? 10 * inner.keys.length : 0) +
        (inner.path.length === 0 && inner.code === "invalid_type" ? 1000 : 0),
      0,
    );
  const best = [...issue.errors].sort((a, b) => score(a) - score(b))[0] ?? [];
  const first = best[0];
  if (first === undefined) {
    return issue;
  }
  const leaf = bestUnionBranch(first);
  return leaf === first ? first : { ...leaf, path: [...first.path, ...leaf.path] };
}

/** The value at `path` inside `root`, or undefined where the path leads nowhere. */
export function valueAt(root: unknown, path: readonly PathKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") {
      return undefined;
    }
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
