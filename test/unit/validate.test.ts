import { describe, expect, it } from "vitest";
import { GraphValidationError, InvalidOptionError, type GraphIssue } from "../../src/errors.js";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import { collectGraphIssues, validateGraph, type ValidateOptions } from "../../src/graph/validate.js";

function issuesOf(tasks: unknown[], options?: ValidateOptions): GraphIssue[] {
  return collectGraphIssues({ goal: "test goal", tasks }, options).issues;
}

/** The only issue found, checked to have the given code and path. */
function onlyIssue(tasks: unknown[], code: string, path: string, options?: ValidateOptions): GraphIssue {
  const issues = issuesOf(tasks, options);
  expect(issues.map((issue) => [issue.code, issue.path])).toEqual([[code, path]]);
  return issues[0] as GraphIssue;
}

describe("validateGraph: accepted graphs", () => {
  it("applies task defaults and graph metadata defaults", () => {
    const graph = validateGraph({ goal: "ship", tasks: [{ id: "build" }, { id: "test", dependsOn: ["build"] }] });
    expect(graph.goal).toBe("ship");
    expect(graph.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(graph.decomposer).toBe("manual");
    expect(graph.source).toBe("file");
    expect(new Date(graph.decomposedAt).toISOString()).toBe(graph.decomposedAt);
    expect(graph.tasks).toEqual([
      { id: "build", description: "", dependsOn: [] },
      { id: "test", description: "", dependsOn: ["build"] },
    ]);
  });

  it("prefers the input's metadata, then options.defaults", () => {
    const options: ValidateOptions = { defaults: { id: "g-1", decomposer: "rules", source: "rules" } };
    const fromDefaults = validateGraph({ goal: "g", tasks: [] }, options);
    expect([fromDefaults.id, fromDefaults.decomposer, fromDefaults.source]).toEqual(["g-1", "rules", "rules"]);
    const fromInput = validateGraph(
      { goal: "g", tasks: [], id: "mine", decomposer: "llm", source: "llm", decomposedAt: "2024-01-01T00:00:00.000Z" },
      options,
    );
    expect([fromInput.id, fromInput.decomposer, fromInput.source, fromInput.decomposedAt]).toEqual([
      "mine",
      "llm",
      "llm",
      "2024-01-01T00:00:00.000Z",
    ]);
  });

  it("accepts references to transitive dependencies, inherited dependencies and the reserved names", () => {
    const tasks: TaskSpec[] = [
      { id: "fetch" },
      { id: "parse", dependsOn: ["fetch"] },
      {
        id: "report",
        dependsOn: ["parse"],
        input: { raw: { $from: "fetch", path: "body" }, text: "{{ goal }} {{ input.user }} {{ parse.rows[0] }}" },
      },
      { id: "group", dependsOn: ["parse"], kind: "composite" },
      {
        id: "child",
        parentId: "group",
        input: { rows: { $from: "parse" } },
        forEach: { from: "parse", path: "rows" },
        when: { not: { task: "fetch", op: "exists" } },
      },
    ];
    expect(issuesOf(tasks)).toEqual([]);
  });

  it("resolves template ids that contain dots by the longest known id", () => {
    const tasks = [
      { id: "api.fetch" },
      { id: "use", dependsOn: ["api.fetch"], input: { text: "{{ api.fetch.body.items[0] }}" } },
    ];
    expect(issuesOf(tasks)).toEqual([]);
  });
});

describe("validateGraph: shape issues", () => {
  it("names the field, what was expected and what was received", () => {
    const issue = onlyIssue([{ id: "a" }, { id: "b", timeoutMs: "5" }], "invalid_field", "tasks[1].timeoutMs");
    expect(issue.message).toBe('expected an integer, received the string "5"');
    const tooSmall = onlyIssue([{ id: "a", maxAttempts: 0 }], "invalid_field", "tasks[0].maxAttempts");
    expect(tooSmall.message).toBe("expected an integer of at least 1, received number 0");
  });

  it("reports the closest union branch of a condition", () => {
    const issue = onlyIssue(
      [{ id: "a" }, { id: "b", dependsOn: ["a"], when: { all: [{ task: "a", op: "equals" }] } }],
      "invalid_field",
      "tasks[1].when.all[0].op",
    );
    expect(issue.message).toContain('received the string "equals"');
  });

  it("reports unknown fields with a suggestion", () => {
    const issue = onlyIssue([{ id: "a", dependson: [] }], "unknown_field", "tasks[0].dependson");
    expect(issue.message).toContain('did you mean "dependsOn"?');
  });

  it("reports values in input that JSON cannot hold", () => {
    const issue = onlyIssue([{ id: "a", input: { when: new Date(0) } }], "invalid_field", "tasks[0].input.when");
    expect(issue.message).toContain("an instance of Date");
  });

  it("reports a missing goal and a non-object graph", () => {
    expect(collectGraphIssues({ tasks: [] }).issues.map((issue) => issue.path)).toEqual(["goal"]);
    expect(collectGraphIssues("nope").issues[0]).toMatchObject({
      path: "$",
      message: 'expected an object, received the string "nope"',
    });
  });
});

describe("validateGraph: structure issues", () => {
  it("duplicate_id", () => {
    const issue = onlyIssue([{ id: "a" }, { id: "b" }, { id: "a" }], "duplicate_id", "tasks[2].id");
    expect(issue.message).toContain('task id "a" is already used by tasks[0]');
  });

  it("unknown_dependency suggests the closest id", () => {
    const issue = onlyIssue(
      [{ id: "build" }, { id: "test", dependsOn: ["buidl"] }],
      "unknown_dependency",
      "tasks[1].dependsOn[0]",
    );
    expect(issue.message).toContain('depends on "buidl", which is not a task in this graph (did you mean "build"?)');
  });

  it("self_dependency", () => {
    const issue = onlyIssue([{ id: "a", dependsOn: ["a"] }], "self_dependency", "tasks[0].dependsOn[0]");
    expect(issue.message).toContain('task "a" depends on itself');
  });

  it("cycle names the cycle", () => {
    const tasks = [
      { id: "a", dependsOn: ["b"] },
      { id: "b", dependsOn: ["c"] },
      { id: "c", dependsOn: ["a"] },
      { id: "d", dependsOn: ["a"] },
    ];
    const issue = onlyIssue(tasks, "cycle", "tasks[0].dependsOn[0]");
    expect(issue.message).toContain("dependency cycle: a -> b -> c -> a");
  });

  it("cycle through a composite and its child", () => {
    const tasks = [{ id: "p" }, { id: "c", parentId: "p", dependsOn: ["x"] }, { id: "x", dependsOn: ["p"] }];
    const issue = onlyIssue(tasks, "cycle", "tasks[0]");
    expect(issue.message).toContain("dependency cycle: p -> c -> x -> p");
    expect(issue.message).toContain('"p" is a composite and waits for its child "c"');
  });

  it("cycle through an inherited dependency", () => {
    const tasks = [
      { id: "p", dependsOn: ["x"] },
      { id: "c", parentId: "p" },
      { id: "x", dependsOn: ["c"] },
    ];
    const issue = onlyIssue(tasks, "cycle", "tasks[1]");
    expect(issue.message).toContain("dependency cycle: c -> x -> c");
    expect(issue.message).toContain('"c" inherits the dependency on "x" from its ancestor "p"');
  });

  it("one cycle per strongly connected component", () => {
    const tasks = [
      { id: "a", dependsOn: ["b"] },
      { id: "b", dependsOn: ["a"] },
      { id: "c", dependsOn: ["d"] },
      { id: "d", dependsOn: ["c"] },
    ];
    expect(issuesOf(tasks).map((issue) => issue.message.split(" (")[0])).toEqual([
      "dependency cycle: a -> b -> a",
      "dependency cycle: c -> d -> c",
    ]);
  });

  it("missing_parent", () => {
    const issue = onlyIssue([{ id: "deploy" }, { id: "x", parentId: "deplyo" }], "missing_parent", "tasks[1].parentId");
    expect(issue.message).toContain('parent "deplyo" of task "x" is not a task in this graph (did you mean "deploy"?)');
  });

  it("parent_cycle", () => {
    const issue = onlyIssue(
      [
        { id: "a", parentId: "b" },
        { id: "b", parentId: "c" },
        { id: "c", parentId: "a" },
      ],
      "parent_cycle",
      "tasks[0].parentId",
    );
    expect(issue.message).toContain("parent cycle: a > c > b > a");
  });

  it("depth_exceeded, where a root task has depth 1", () => {
    const tasks = [{ id: "r" }, { id: "m", parentId: "r" }, { id: "l", parentId: "m" }, { id: "z", parentId: "l" }];
    expect(issuesOf(tasks.slice(0, 3), { limits: { maxDepth: 3 } })).toEqual([]);
    const issue = onlyIssue(tasks, "depth_exceeded", "tasks[3].parentId", { limits: { maxDepth: 3 } });
    expect(issue.message).toContain('task "z" is nested 4 levels deep (r > m > l > z), deeper than limits.maxDepth 3');
  });

  it("too_many_tasks", () => {
    const issue = onlyIssue([{ id: "a" }, { id: "b" }, { id: "c" }], "too_many_tasks", "tasks", {
      limits: { maxTasks: 2 },
    });
    expect(issue.message).toContain("3 tasks, more than limits.maxTasks 2");
  });

  it("input_too_large", () => {
    const issue = onlyIssue([{ id: "a", input: { text: "é".repeat(10) } }], "input_too_large", "tasks[0].input", {
      limits: { maxInputBytes: 20 },
    });
    expect(issue.message).toContain("is 31 bytes of JSON, more than limits.maxInputBytes 20");
  });

  it("composite_has_step, for a task with children or of kind composite", () => {
    const withChildren = onlyIssue(
      [
        { id: "p", step: "run" },
        { id: "c", parentId: "p" },
      ],
      "composite_has_step",
      "tasks[0].step",
    );
    expect(withChildren.message).toContain(
      'task "p" has children "c", which makes it a composite, but names step "run"',
    );
    const declared = onlyIssue(
      [{ id: "p", kind: "composite", expand: "lazy", step: "run" }],
      "composite_has_step",
      "tasks[0].step",
    );
    expect(declared.message).toContain('has kind "composite"');
  });

  it("empty_composite, unless it expands lazily", () => {
    const issue = onlyIssue([{ id: "p", kind: "composite" }], "empty_composite", "tasks[0].kind");
    expect(issue.message).toContain('set expand: "lazy"');
    expect(issuesOf([{ id: "p", kind: "composite", expand: "lazy" }])).toEqual([]);
  });

  it("child_depends_on_parent, reported once and not again as a cycle", () => {
    const issue = onlyIssue(
      [{ id: "p" }, { id: "m", parentId: "p" }, { id: "c", parentId: "m", dependsOn: ["p"] }],
      "child_depends_on_parent",
      "tasks[2].dependsOn[0]",
    );
    expect(issue.message).toContain('task "c" depends on its own ancestor "p"');
  });

  it("parent_depends_on_child, reported once and not again as a cycle", () => {
    const issue = onlyIssue(
      [
        { id: "p", dependsOn: ["c"] },
        { id: "c", parentId: "p" },
      ],
      "parent_depends_on_child",
      "tasks[0].dependsOn[0]",
    );
    expect(issue.message).toContain('composite "p" depends on its own descendant "c"');
  });

  it("unknown_step for every atomic task lacking a step function", () => {
    const tasks = [
      { id: "fetch" },
      { id: "parse", step: "parsJson" },
      { id: "group", kind: "composite", expand: "lazy" },
      { id: "p" },
      { id: "c", parentId: "p", step: "fetch" },
    ];
    const issues = issuesOf(tasks, { stepNames: ["fetch", "parseJson"] });
    expect(issues.map((issue) => [issue.code, issue.path])).toEqual([["unknown_step", "tasks[1].step"]]);
    expect(issues[0]?.message).toContain(
      'no step function named "parsJson" for task "parse" (did you mean "parseJson"?)',
    );
    const byId = issuesOf([{ id: "fetch" }, { id: "upload" }], { stepNames: [] });
    expect(byId.map((issue) => issue.path)).toEqual(["tasks[0].id", "tasks[1].id"]);
  });
});

describe("validateGraph: references", () => {
  const base = [{ id: "a" }, { id: "b" }];

  it("bad_reference for $from to a task that is not a dependency", () => {
    const issue = onlyIssue(
      [...base, { id: "c", dependsOn: ["a"], input: { items: [{ $from: "b", path: "x" }] } }],
      "bad_reference",
      "tasks[2].input.items[0].$from",
    );
    expect(issue.message).toContain(
      'task "c" reads the output of "b" in its input, but "b" is not among its dependencies',
    );
  });

  it("bad_reference for a template string, an unknown id and a malformed $from", () => {
    const tasks = [
      ...base,
      {
        id: "c",
        dependsOn: ["a"],
        input: { text: "{{ a.x }} and {{ b.y }}", other: { $from: "zz" }, bad: { $from: 3 } },
      },
    ];
    const issues = issuesOf(tasks);
    expect(issues.map((issue) => [issue.code, issue.path])).toEqual([
      ["bad_reference", "tasks[2].input.bad.$from"],
      ["bad_reference", "tasks[2].input.text"],
      ["bad_reference", "tasks[2].input.other.$from"],
    ]);
    expect(issues[0]?.message).toContain('"$from" must be a task id string, received 3');
    expect(issues.find((issue) => issue.path === "tasks[2].input.text")?.message).toContain('reads the output of "b"');
    expect(issues.find((issue) => issue.path === "tasks[2].input.other.$from")?.message).toContain(
      'refers to "zz", which is not a task',
    );
  });

  it("bad_reference for a condition on a task that is not a dependency", () => {
    const issue = onlyIssue(
      [
        ...base,
        {
          id: "c",
          dependsOn: ["a"],
          when: {
            any: [
              { task: "a", op: "truthy" },
              { task: "b", op: "truthy" },
            ],
          },
        },
      ],
      "bad_reference",
      "tasks[2].when.any[1].task",
    );
    expect(issue.message).toContain('task "c" tests the output of "b" in its condition');
  });

  it("bad_reference for forEach.from that is only a transitive dependency", () => {
    const tasks = [{ id: "a" }, { id: "b", dependsOn: ["a"] }, { id: "c", dependsOn: ["b"], forEach: { from: "a" } }];
    const issue = onlyIssue(tasks, "bad_reference", "tasks[2].forEach.from");
    expect(issue.message).toContain('iterates over the output of "a", which is not a direct dependency');
  });
});

describe("validateGraph: reporting", () => {
  it("reports three different problems in one error", () => {
    const input = {
      goal: "g",
      tasks: [
        { id: "a", timeoutMs: -1 },
        { id: "b", dependsOn: ["nope"] },
        { id: "c", dependsOn: ["d"] },
        { id: "d", dependsOn: ["c"] },
      ],
    };
    let error: unknown;
    try {
      validateGraph(input);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GraphValidationError);
    const issues = (error as GraphValidationError).issues;
    expect(issues.map((issue) => issue.code)).toEqual(["invalid_field", "unknown_dependency", "cycle"]);
    expect((error as GraphValidationError).message).toContain("task graph has 3 problems");
    expect((error as GraphValidationError).message).toContain("tasks[2].dependsOn[0]: dependency cycle: c -> d -> c");
  });

  it("keeps checking past a task that fails its shape, without calling it unknown", () => {
    const issues = issuesOf([
      { id: "a", priority: 5000 },
      { id: "b", dependsOn: ["a", "x"] },
    ]);
    expect(issues.map((issue) => [issue.code, issue.path])).toEqual([
      ["invalid_field", "tasks[0].priority"],
      ["unknown_dependency", "tasks[1].dependsOn[1]"],
    ]);
  });

  it("still checks the links of a task that has a bad field or a bad condition", () => {
    const issues = issuesOf([
      { id: "draft" },
      { id: "send", dependsOn: ["drafts"], maxAttempts: 0 },
      { id: "post", dependsOn: ["draft", "sned"], when: { task: "draft", op: "is" } },
    ]);
    expect(issues.map((issue) => [issue.code, issue.path])).toEqual([
      ["invalid_field", "tasks[1].maxAttempts"],
      ["unknown_dependency", "tasks[1].dependsOn[0]"],
      ["invalid_field", "tasks[2].when.op"],
      ["unknown_dependency", "tasks[2].dependsOn[1]"],
    ]);
  });

  it("rejects limits that are not positive integers", () => {
    expect(() => validateGraph({ goal: "g", tasks: [] }, { limits: { maxDepth: 0 } })).toThrow(InvalidOptionError);
    expect(() => validateGraph({ goal: "g", tasks: [] }, { limits: { maxDepth: 0 } })).toThrow("limits.maxDepth");
  });
});
