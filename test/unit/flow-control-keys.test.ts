/** Flow control at bind: which limit a task gets, and how its key renders over the task's input. */
import { describe, expect, it } from "vitest";
import { bindGraph, type TaskDefaults } from "../../src/composer/bind.js";
import { resolveFlowControl } from "../../src/composer/flow-control.js";
import { defineStep } from "../../src/composer/steps.js";
import { GraphValidationError, InvalidOptionError } from "../../src/errors.js";
import { validateGraph } from "../../src/graph/validate.js";
import type { Task } from "../../src/graph/task-graph.js";

// Keys are rendered from the input as written: a task as validation leaves it, without a graph around it.
const task = (fields: Partial<Task>): Task => ({ id: "t", description: "", dependsOn: [], ...fields }) as Task;
const defaults: TaskDefaults = {
  maxAttempts: 1,
  timeoutMs: 1000,
  backoff: { kind: "constant", baseMs: 1, maxMs: 1, jitter: 0 },
  priority: 0,
  queue: "q",
};

describe("flow control keys", () => {
  it("renders placeholders over the task's input, keeps the text around them, and leaves plain keys alone", () => {
    const t = task({ input: { customer: "acme", order: { region: "eu", lines: [7] }, vip: true } });
    const step = {
      concurrency: { key: "c-{{input.customer}}/{{ input.order.region }}", limit: 2 },
      rateLimit: { key: "{{input.order.lines[0]}}:{{input.vip}}", limit: 5, perMs: 1000 },
    };
    expect(resolveFlowControl(t, step)).toEqual({
      concurrency: { key: "c-acme/eu", limit: 2 },
      rateLimit: { key: "7:true", limit: 5, perMs: 1000 },
    });
    expect(resolveFlowControl(t, { concurrency: { key: "openai", limit: 1 } })).toEqual({
      concurrency: { key: "openai", limit: 1 },
    });
    expect(resolveFlowControl(t, undefined)).toEqual({});
  });

  it("a task's own setting overrides its step's, kind by kind", () => {
    const t = task({ input: { a: "x" }, concurrency: { key: "own-{{input.a}}", limit: 3 } });
    expect(
      resolveFlowControl(t, {
        concurrency: { key: "step", limit: 1 },
        rateLimit: { key: "step", limit: 1, perMs: 10 },
      }),
    ).toEqual({ concurrency: { key: "own-x", limit: 3 }, rateLimit: { key: "step", limit: 1, perMs: 10 } });
  });

  it.each([
    [{ name: "x" }, "{{input.customer}}", /which the task's input lacks/],
    [{ customer: { id: 1 } }, "{{input.customer}}", /which is object/],
    [{ customer: null }, "{{input.customer}}", /which is null/],
    [{ customer: "{{ first.id }}" }, "{{input.customer}}", /a reference, which is not resolved for a key/],
    [{ customer: "x" }, "{{goal}}", /names "goal", which is not the task's input/],
    [{ customer: "x".repeat(300) }, "{{input.customer}}", /renders to 300 characters/],
  ])("input %j with key %s is a GraphValidationError naming the task and the fix", (input, key, message) => {
    const t = task({ input });
    const resolve = () => resolveFlowControl(t, { concurrency: { key, limit: 1 } });
    expect(resolve).toThrow(GraphValidationError);
    expect(resolve).toThrow(message);
    expect(resolve).toThrow(/task "t"/);
    expect(resolve).toThrow(/tasks\.t\.concurrency\.key/);
  });

  it("bind puts a concurrency key's task in the queue concurrency:<key>, and the resolved limits in its spec", () => {
    const graph = validateGraph({
      goal: "g",
      tasks: [
        { id: "a", step: "s", input: { customer: "acme" }, queue: "ignored" },
        { id: "b", step: "s", input: { customer: "b" }, rateLimit: { key: "r", limit: 1, perMs: 5, burst: 2 } },
      ],
    });
    const s = defineStep({ concurrency: { key: "{{input.customer}}", limit: 4 }, run: async () => null });
    const rows = bindGraph(graph, { s }, defaults).tasks;
    expect(rows.map((r) => [r.id, r.queue, r.spec.concurrency, r.spec.rateLimit])).toEqual([
      ["a", "concurrency:acme", { key: "acme", limit: 4 }, undefined],
      ["b", "concurrency:b", { key: "b", limit: 4 }, { key: "r", limit: 1, perMs: 5, burst: 2 }],
    ]);
  });

  it("defineStep rejects an invalid concurrency or rateLimit", () => {
    expect(() => defineStep({ concurrency: { key: "", limit: 1 }, run: async () => null })).toThrow(InvalidOptionError);
    expect(() => defineStep({ rateLimit: { key: "k", limit: 0, perMs: 1 }, run: async () => null })).toThrow(
      /invalid option `rateLimit` in defineStep/,
    );
  });
});
