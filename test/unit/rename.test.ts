import { describe, expect, it } from "vitest";
import { renameTaskIds } from "../../src/graph/rename.js";
import { collectGraphIssues } from "../../src/graph/validate.js";

const renamed = new Map([
  ["a", "p/a"],
  ["b.c", "p/b.c"],
]);

describe("renameTaskIds", () => {
  it("renames the id, dependsOn, parentId and every reference, and nothing else", () => {
    const spec = renameTaskIds(
      {
        id: "a",
        dependsOn: ["b.c", "outside"],
        parentId: "b.c",
        input: {
          one: { $from: "b.c", path: "x" },
          two: ["{{ b.c.d[0] }} and {{ a }} and {{outside.x}} and {{ goal }}", { $from: "input" }],
          three: { nested: { $from: "a" } },
        },
        when: { all: [{ task: "a", op: "truthy" }, { not: { any: [{ task: "outside", op: "exists" }] } }] },
        forEach: { from: "b.c", path: "items" },
      },
      renamed,
    );
    expect(spec).toEqual({
      id: "p/a",
      dependsOn: ["p/b.c", "outside"],
      parentId: "p/b.c",
      input: {
        one: { $from: "p/b.c", path: "x" },
        two: ["{{ p/b.c.d[0] }} and {{ p/a }} and {{outside.x}} and {{ goal }}", { $from: "input" }],
        three: { nested: { $from: "p/a" } },
      },
      when: { all: [{ task: "p/a", op: "truthy" }, { not: { any: [{ task: "outside", op: "exists" }] } }] },
      forEach: { from: "p/b.c", path: "items" },
    });
  });
});

describe("validation with upstream tasks", () => {
  const tasks = [{ id: "x", dependsOn: ["up"], input: { v: { $from: "up" }, t: "{{ up.name }}" } }];

  it("reports a dependency on, or a reference to, a task that is not in the graph", () => {
    expect(collectGraphIssues({ goal: "g", tasks }).issues.map((i) => i.code)).toEqual([
      "unknown_dependency",
      "bad_reference",
      "bad_reference",
    ]);
  });

  it("accepts them when the task is upstream of the graph, and keeps it out of the graph", () => {
    const { graph, issues } = collectGraphIssues({ goal: "g", tasks }, { upstream: ["up"] });
    expect(issues).toEqual([]);
    expect(graph?.tasks.map((t) => t.id)).toEqual(["x"]);
  });
});
