/** Wait tasks in validation and binding (docs/waits-and-flow-control.md): no step, and nothing that needs one. */
import { describe, expect, it } from "vitest";
import { bindGraph } from "../../src/composer/bind.js";
import { defineStep } from "../../src/composer/steps.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import { collectGraphIssues, validateGraph } from "../../src/graph/validate.js";

const issuesOf = (tasks: TaskSpec[], stepNames?: string[]) =>
  collectGraphIssues({ goal: "waits", tasks }, stepNames ? { stepNames } : {}).issues.map((i) => [i.code, i.path]);

const DEFAULTS = {
  maxAttempts: 3,
  timeoutMs: 1000,
  backoff: { kind: "exponential" as const, baseMs: 100, maxMs: 1000, jitter: 0 },
  priority: 0,
  queue: "default",
};

describe("wait tasks", () => {
  it("need no step function, even when step names are checked", () => {
    expect(
      issuesOf(
        [
          { id: "approve", wait: { signal: "approval", timeoutMs: 1000 } },
          { id: "cool", wait: { forMs: 10 }, dependsOn: ["approve"] },
          { id: "at", wait: { until: "2026-12-24T18:00:00Z" } },
        ],
        ["other"],
      ),
    ).toEqual([]);
  });

  it("run no step: step, input, when, forEach, expand and children are refused, each named", () => {
    const issues = collectGraphIssues({
      goal: "waits",
      tasks: [
        { id: "src", step: "s" },
        {
          id: "approve",
          dependsOn: ["src"],
          wait: { signal: "approval" },
          step: "s",
          input: { a: 1 },
          when: { task: "src", path: "ok", op: "exists" },
          forEach: { from: "src" },
          expand: "eager",
        },
        { id: "group", wait: { forMs: 5 } },
        { id: "child", step: "s", parentId: "group" },
      ],
    }).issues;
    expect(issues.filter((i) => i.code === "invalid_wait").map((i) => i.path)).toEqual([
      "tasks[1].step",
      "tasks[1].input",
      "tasks[1].when",
      "tasks[1].forEach",
      "tasks[1].expand",
      "tasks[2].wait",
    ]);
    expect(issues.find((i) => i.path === "tasks[1].step")?.message).toContain(
      'task "approve" is a wait task (it sets "wait") and sets "step"',
    );
  });

  it("cannot be merged into a chain", () => {
    expect(
      issuesOf([{ id: "b", step: "s", merged: [{ id: "a", wait: { forMs: 5 }, description: "", dependsOn: [] }] }]),
    ).toEqual([["invalid_merge", "tasks[0].merged[0].wait"]]);
  });

  it("refuses a wait that is not one of the three shapes", () => {
    expect(issuesOf([{ id: "w", wait: { signal: "has space" } }])[0]?.[1]).toMatch(/^tasks\[0\]\.wait/);
    expect(issuesOf([{ id: "w", wait: { until: "tomorrow" } }])[0]?.[1]).toMatch(/^tasks\[0\]\.wait/);
    expect(issuesOf([{ id: "w", wait: { forMs: 5, signal: "x" } } as unknown as TaskSpec])).not.toEqual([]);
  });

  it("bind with step null: the fallback step '*' does not take them, nor its settings", () => {
    const graph = validateGraph({
      goal: "waits",
      tasks: [
        { id: "approve", wait: { signal: "approval" } },
        { id: "work", dependsOn: ["approve"] },
      ],
    });
    const bound = bindGraph(graph, { "*": defineStep({ run: () => null, maxAttempts: 7 }) }, DEFAULTS);
    expect(bound.tasks.map((t) => [t.id, t.kind, t.step, t.max_attempts])).toEqual([
      ["approve", "atomic", null, 3],
      ["work", "atomic", "work", 7],
    ]);
  });
});
