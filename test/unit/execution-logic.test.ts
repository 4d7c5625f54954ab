import { describe, expect, it } from "vitest";
import { backoffDelayMs } from "../../src/composer/backoff.js";
import { evaluateCondition } from "../../src/composer/conditions.js";
import { resolveReferences } from "../../src/composer/references.js";
import { getPath } from "../../src/composer/json-path.js";
import { aesGcmCodec } from "../../src/store/codec.js";
import { jsonProblem } from "../../src/composer/attempt.js";
import {
  assertRunTransition,
  assertTaskTransition,
  RUN_STATUSES,
  RUN_TRANSITIONS,
  TASK_STATUSES,
  TASK_TRANSITIONS,
} from "../../src/composer/state-machine.js";
import { IllegalTransitionError } from "../../src/errors.js";
import { slugify } from "../../src/orchestrator/slug.js";

describe("backoff", () => {
  const base = { baseMs: 100, maxMs: 1000, jitter: 0 };
  it("grows exponentially, linearly or not at all, and is capped", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs({ kind: "exponential", ...base }, n))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect([1, 2, 3].map((n) => backoffDelayMs({ kind: "linear", ...base }, n))).toEqual([100, 200, 300]);
    expect([1, 5].map((n) => backoffDelayMs({ kind: "constant", ...base }, n))).toEqual([100, 100]);
  });
  it("spreads delays by ±jitter and never exceeds the cap", () => {
    const jittered = { kind: "exponential" as const, baseMs: 100, maxMs: 150, jitter: 0.5 };
    expect(backoffDelayMs(jittered, 1, () => 0)).toBe(50);
    expect(backoffDelayMs(jittered, 1, () => 1)).toBe(150);
    expect(backoffDelayMs(jittered, 3, () => 1)).toBe(150);
  });
});

describe("conditions", () => {
  const outputs = { check: { ok: true, score: 7, tags: ["a"], name: "x" }, empty: [] };
  it("evaluates every operator on dependency outputs", () => {
    expect(evaluateCondition({ task: "check", path: "ok", op: "eq", value: true }, outputs)).toBe(true);
    expect(evaluateCondition({ task: "check", path: "name", op: "ne", value: "x" }, outputs)).toBe(false);
    expect(evaluateCondition({ task: "check", path: "score", op: "gt", value: 5 }, outputs)).toBe(true);
    expect(evaluateCondition({ task: "check", path: "score", op: "lt", value: 5 }, outputs)).toBe(false);
    expect(evaluateCondition({ task: "check", path: "name", op: "in", value: ["x", "y"] }, outputs)).toBe(true);
    expect(evaluateCondition({ task: "check", path: "missing", op: "exists" }, outputs)).toBe(false);
    expect(evaluateCondition({ task: "empty", op: "truthy" }, outputs)).toBe(false);
    expect(evaluateCondition({ task: "check", path: "tags[0]", op: "eq", value: "a" }, outputs)).toBe(true);
  });
  it("combines with all, any and not", () => {
    const yes = { task: "check", path: "ok", op: "truthy" } as const;
    const no = { task: "empty", op: "truthy" } as const;
    expect(evaluateCondition({ all: [yes, { not: no }] }, outputs)).toBe(true);
    expect(evaluateCondition({ any: [no, no] }, outputs)).toBe(false);
  });
  it("compares numbers with strings as unequal types, not by coercion", () => {
    expect(evaluateCondition({ task: "check", path: "score", op: "gt", value: "5" }, outputs)).toBe(false);
  });
});

describe("input references", () => {
  const scope = {
    search: { flights: [{ id: "LH1", price: 99 }] },
    goal: "fly",
    input: { seat: "12A" },
    "a.b": { c: 1 },
  };
  it("replaces $from objects with the value they point at", () => {
    expect(
      resolveReferences({ id: { $from: "search", path: "flights[0].id" }, all: { $from: "search" } }, scope),
    ).toEqual({ id: "LH1", all: scope.search });
  });
  it("embeds {{ }} templates in strings, keeping the type of a whole-string reference", () => {
    expect(resolveReferences("book {{ search.flights[0].id }} for {{goal}} seat {{ input.seat }}", scope)).toBe(
      "book LH1 for fly seat 12A",
    );
    expect(resolveReferences("{{ search.flights[0].price }}", scope)).toBe(99);
    expect(resolveReferences(["{{ a.b.c }}"], scope)).toEqual([1]);
  });
  it("leaves objects that merely have a $from key among others alone", () => {
    expect(resolveReferences({ $from: "search", other: 1 }, scope)).toEqual({ $from: "search", other: 1 });
  });
  it("reads paths with indexes and returns undefined for missing steps", () => {
    expect(getPath({ a: [{ b: 2 }] }, "a[0].b")).toBe(2);
    expect(getPath({ a: null }, "a.b")).toBeUndefined();
  });
});

describe("aesGcmCodec", () => {
  it("round-trips values, decodes nested encrypted values, and detects tampering", () => {
    const codec = aesGcmCodec("a passphrase");
    const stored = codec.encode({ card: "4111" }) as Record<string, string>;
    expect(JSON.stringify(stored)).not.toContain("4111");
    expect(codec.decode(stored)).toEqual({ card: "4111" });
    expect(codec.decode({ child: stored, plain: 1 })).toEqual({ child: { card: "4111" }, plain: 1 });
    const [v, iv, tag, body] = stored.$htdag_enc!.split(":");
    const flipped = Buffer.from(body!, "base64");
    flipped[0] = flipped[0]! ^ 1;
    expect(() => codec.decode({ $htdag_enc: [v, iv, tag, flipped.toString("base64")].join(":") })).toThrow();
    expect(() => aesGcmCodec(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});

describe("JSON outputs", () => {
  it("names the first value JSON cannot hold", () => {
    expect(jsonProblem({ a: [1, "x", null, { b: true }] }, "output")).toBeNull();
    expect(jsonProblem({ a: [1, Number.NaN] }, "output")).toBe("output.a[1] is NaN");
    expect(jsonProblem({ f: () => 1 }, "output")).toBe("output.f is a function");
    expect(jsonProblem(new Map(), "output")).toBe("output is an instance of Map");
    expect(jsonProblem(10n, "output")).toBe("output is a bigint");
  });
});

describe("state machines", () => {
  it("every status has a transition entry and every target is a status", () => {
    for (const status of TASK_STATUSES) {
      for (const to of TASK_TRANSITIONS[status]) {
        expect(TASK_STATUSES).toContain(to);
      }
    }
    for (const status of RUN_STATUSES) {
      for (const to of RUN_TRANSITIONS[status]) {
        expect(RUN_STATUSES).toContain(to);
      }
    }
  });
  it("an illegal move is an error that names it", () => {
    expect(() => assertRunTransition("r1", "completed", "paused")).toThrow(IllegalTransitionError);
    expect(() => assertTaskTransition("t1", "pending", "running")).toThrow(
      /cannot move task "t1" from pending to running/,
    );
    expect(() => assertRunTransition("r1", "running", "paused")).not.toThrow();
  });
});

describe("workflow names", () => {
  it("slugs goals", () => {
    expect(slugify("Build user service API")).toBe("build_user_service_api");
    expect(slugify("  Ünïcode — goals!  ")).toBe("unicode_goals");
    expect(slugify("!!!")).toBe("workflow");
  });
});
