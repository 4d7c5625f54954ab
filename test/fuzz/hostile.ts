/**
 * fast-check arbitraries of hostile input, shared by the fuzz suites: junk values, text
 * PostgreSQL refuses (NUL, unpaired surrogates), huge strings, deep nesting, cycles, "JSON bombs"
 * of shared references, `__proto__` and `constructor` keys, and values JSON cannot hold (BigInt,
 * functions, symbols, Dates, Maps, NaN, Infinity, `undefined` in arrays).
 */
import fc from "fast-check";
import { expect } from "vitest";
import { HtdagError } from "../../src/errors.js";

/** Keys that pollute or confuse a naive copy, merge or lookup. */
export const PROTO_KEYS = ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf"];

/** An object with exactly these own, enumerable properties (`__proto__` included, as JSON.parse makes it). */
export function ownObject(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return object;
}

/** Text that PostgreSQL's text and jsonb refuse. */
export const unstorableString = fc.constantFrom(
  "\u0000",
  "a\u0000b",
  "\ud800",
  "x\udc00",
  "\udbff\u0000",
  "\u0000\u0000",
);

/** A string far over every length limit (10,000 characters for a goal or a description). */
export const hugeString = fc.integer({ min: 10_001, max: 300_000 }).map((length) => "x".repeat(length));

/** Strings of every kind: plain, any code point (lone surrogates too), refused, huge, look-alikes of syntax. */
export const hostileString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  { weight: 2, arbitrary: unstorableString },
  { weight: 1, arbitrary: hugeString },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...PROTO_KEYS, "", " ", "{{goal}}", "{{ a.b }}", "$from", "-1", "1e400", "NaN"),
  },
);

/** A leaf JSON cannot hold, or can only just hold. */
export const hostileLeaf: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.double(),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, Number.MAX_SAFE_INTEGER + 2),
  fc.integer(),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(Symbol("hostile")),
  fc.constant(() => "a function"),
  fc.date({ noInvalidDate: false }),
  fc.constant(new Map([["k", 1]])),
  fc.constant(new Uint8Array([0, 1])),
);

/**
 * Gives `value` a short rendering in fast-check's reports: printing a JSON bomb or a deep value
 * would expand it (the symbol key is not enumerable, so JSON and validation never see it).
 */
function named<T>(value: T, name: string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: () => name, enumerable: false });
  return value;
}

/** Nests `inner` `levels` deep in arrays, objects or `{ not: … }` conditions. */
export function nested(inner: unknown, levels: number, kind: "array" | "object" | "not"): unknown {
  let value = inner;
  for (let i = 0; i < levels; i++) {
    value = kind === "array" ? [value] : kind === "object" ? { a: value } : { not: value };
  }
  return named(value as object, `nested(${levels}, ${kind})`);
}

/** `{ a: v, b: v }` `levels` times over: 2^levels paths through a handful of objects. */
export function jsonBomb(levels: number, leaf: unknown = "lol"): unknown {
  let value: unknown = { leaf };
  for (let i = 0; i < levels; i++) {
    value = { a: value, b: value };
  }
  return named(value as object, `jsonBomb(${levels})`);
}

/** An object whose `self` (or a deeper member) is itself. */
export function cyclic(depth: number): unknown {
  const root: Record<string, unknown> = { id: "x" };
  let at = root;
  for (let i = 0; i < depth; i++) {
    const next: Record<string, unknown> = {};
    at.next = next;
    at = next;
  }
  at.self = root;
  return named(root, `cyclic(${depth})`);
}

/** Shapes no recursive walk survives: deep nesting, cycles, JSON bombs. */
export const hostileShape: fc.Arbitrary<unknown> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 201, max: 20_000 }), fc.constantFrom("array", "object", "not") as fc.Arbitrary<"array">)
    .map(([levels, kind]) => nested({ task: "a", op: "truthy" }, levels, kind)),
  fc.integer({ min: 0, max: 5 }).map(cyclic),
  fc.integer({ min: 20, max: 60 }).map((levels) => jsonBomb(levels)),
);

/** Keys that pollute a naive copy, as JSON.parse makes them (own properties). */
export const protoObject = fc.constant(
  JSON.parse('{"__proto__": {"polluted": true, "step": "evil"}, "constructor": {"prototype": {"polluted": 1}}}'),
);

/** Any hostile value: a leaf, a shape, or arrays and objects of them with hostile keys. */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 4, arbitrary: hostileLeaf },
    { weight: 1, arbitrary: hostileShape },
    { weight: 1, arbitrary: protoObject },
    { weight: 2, arbitrary: fc.array(tie("value"), { maxLength: 4 }) },
    {
      weight: 2,
      arbitrary: fc
        .array(fc.tuple(fc.oneof(hostileString, fc.constantFrom(...PROTO_KEYS)), tie("value")), { maxLength: 4 })
        .map(ownObject),
    },
  ),
})).value;

/** A valid task id. */
export const taskId = fc.stringMatching(/^[a-z][a-z0-9_]{0,8}$/);

/** Field names of a task, real and not. */
const TASK_FIELDS = [
  "id",
  "description",
  "dependsOn",
  "step",
  "input",
  "parentId",
  "kind",
  "maxAttempts",
  "timeoutMs",
  "priority",
  "queue",
  "backoff",
  "when",
  "runIf",
  "forEach",
  "expand",
  "merged",
  "hedgeAfterMs",
  ...PROTO_KEYS,
];

/** A task with a valid id and up to four fields, real or not, set to hostile values. */
export const hostileTask: fc.Arbitrary<unknown> = fc
  .tuple(taskId, fc.array(fc.tuple(fc.constantFrom(...TASK_FIELDS), hostileValue), { maxLength: 4 }))
  .map(([id, fields]) => ownObject([["id", id], ...fields]));

/** A task that validates: storable text only. */
export const plainTask = fc.record({
  id: taskId,
  description: fc.string({ maxLength: 30 }),
  input: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 })), { nil: undefined }),
});

/** A graph whose `goal` and tasks may each be hostile, or a hostile value in place of the graph. */
export const hostileGraph: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: hostileValue },
  {
    weight: 6,
    arbitrary: fc
      .tuple(
        fc.oneof({ weight: 3, arbitrary: hostileString }, { weight: 1, arbitrary: hostileValue }),
        fc.array(fc.oneof({ weight: 3, arbitrary: hostileTask }, { weight: 2, arbitrary: plainTask }), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.array(fc.tuple(fc.constantFrom("id", "decomposer", "source", ...PROTO_KEYS), hostileValue), {
          maxLength: 2,
        }),
      )
      .map(([goal, tasks, extra]) => ownObject([["goal", goal], ["tasks", tasks], ...extra])),
  },
);

/** Asserts that `error` is a typed htdag error with a code and a message, and returns it. */
export function expectTyped(error: unknown, ...classes: (abstract new (...args: never[]) => HtdagError)[]): HtdagError {
  expect(error).toBeInstanceOf(HtdagError);
  const typed = error as HtdagError;
  expect(typeof typed.code).toBe("string");
  expect(typed.message.length).toBeGreaterThan(0);
  if (classes.length > 0) {
    expect(
      classes.some((kind) => typed instanceof kind),
      `${typed.name}: ${typed.message.slice(0, 300)}`,
    ).toBe(true);
  }
  return typed;
}

/** Nothing was written onto Object.prototype (a `__proto__` key copied naively would). */
export function expectNoPollution(): void {
  expect(Object.keys(Object.prototype)).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

/** Counts the cases a property ran, and prints them (the fuzz suites report their case counts). */
export function caseCounter(name: string): { count: () => void; report: (expected: number) => void } {
  let cases = 0;
  return {
    count: () => {
      cases++;
    },
    report: (expected) => {
      console.log(`fuzz ${name}: ${cases} cases`);
      expect(cases).toBeGreaterThanOrEqual(expected);
    },
  };
}
