import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GraphValidationError } from "../../src/errors.js";
import {
  buildGraph,
  criticalPath,
  findCycle,
  layers,
  remainingPathLength,
  topologicalOrder,
} from "../../src/graph/algorithms.js";
import { childrenOf, effectiveDependencies, isComposite, type HierarchyTask } from "../../src/graph/hierarchy.js";
import { validateGraph } from "../../src/graph/validate.js";
import { randomGraphArbitrary, referenceRuntimeEdges } from "./random-graph.js";

function task(id: string, dependsOn: string[] = [], parentId?: string): HierarchyTask {
  return parentId === undefined ? { id, dependsOn } : { id, dependsOn, parentId };
}

/** a(3) -> b(2) -> d(1), a -> c(5) -> d: the longest path is a, c, d = 9 ms. */
const diamond = [task("a"), task("b", ["a"]), task("c", ["a"]), task("d", ["b", "c"])];
const durations: Record<string, number> = { a: 3, b: 2, c: 5, d: 1 };
const durationOf = (id: string): number => durations[id] ?? 0;

describe("hierarchy", () => {
  const tasks = [
    task("build"),
    task("deploy", ["build"]),
    task("migrate", [], "deploy"),
    task("switch", ["migrate"], "deploy"),
    task("notify", ["deploy"]),
  ];

  it("children inherit their ancestors' dependencies and composites wait for their children", () => {
    expect(effectiveDependencies(tasks)).toEqual(
      new Map([
        ["build", []],
        ["deploy", ["build", "migrate", "switch"]],
        ["migrate", ["build"]],
        ["switch", ["migrate", "build"]],
        ["notify", ["deploy"]],
      ]),
    );
  });

  it("inherits through several levels and drops unknown ids", () => {
    const nested = [task("x"), task("outer", ["x"]), task("inner", ["ghost"], "outer"), task("leaf", [], "inner")];
    const edges = effectiveDependencies(nested);
    expect(edges.get("leaf")).toEqual(["x"]);
    expect(edges.get("inner")).toEqual(["x", "leaf"]);
  });

  it("lists children and tells composites from atomic tasks", () => {
    const children = childrenOf(tasks);
    expect(children.get("deploy")).toEqual(["migrate", "switch"]);
    expect(children.get("build")).toEqual([]);
    expect(isComposite(tasks[1] as HierarchyTask, children)).toBe(true);
    expect(isComposite(tasks[0] as HierarchyTask, children)).toBe(false);
    expect(isComposite({ id: "lazy", kind: "composite" }, children)).toBe(true);
  });

  it("orders a composite's children after its dependencies and its dependants after its children", () => {
    const order = topologicalOrder(tasks);
    const at = (id: string): number => order.indexOf(id);
    expect(at("build")).toBeLessThan(at("migrate"));
    expect(at("switch")).toBeLessThan(at("deploy"));
    expect(at("deploy")).toBeLessThan(at("notify"));
  });
});

describe("graph algorithms", () => {
  it("effectiveDependencies matches the definition on random graphs", () => {
    fc.assert(
      fc.property(randomGraphArbitrary(), ({ tasks }) => {
        const actual = effectiveDependencies(tasks.map((t) => ({ ...t, dependsOn: t.dependsOn ?? [] })));
        const expected = referenceRuntimeEdges(tasks);
        expect(new Map([...actual].map(([id, ids]) => [id, new Set(ids)]))).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it("topological order respects every run-time edge of random graphs", () => {
    fc.assert(
      fc.property(randomGraphArbitrary(), (input) => {
        const graph = validateGraph(input, { limits: { maxDepth: 100 } });
        const order = topologicalOrder(graph.tasks);
        expect([...order].sort()).toEqual(graph.tasks.map((t) => t.id).sort());
        const position = new Map(order.map((id, at) => [id, at]));
        for (const [id, waitsFor] of referenceRuntimeEdges(graph.tasks)) {
          for (const dependency of waitsFor) {
            expect(position.get(dependency)).toBeLessThan(position.get(id) as number);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it("builds a graphology graph with an edge from each dependency to its dependant", () => {
    const graph = buildGraph([task("p"), task("c", [], "p"), task("n", ["p"])]);
    expect(graph.order).toBe(3);
    expect(graph.hasDirectedEdge("c", "p")).toBe(true);
    expect(graph.hasDirectedEdge("p", "n")).toBe(true);
    expect(graph.size).toBe(2);
    expect(graph.getNodeAttribute("p", "kind")).toBe("composite");
    expect(graph.getNodeAttribute("c", "parentId")).toBe("p");
  });

  it("computes the critical path of a known graph", () => {
    expect(criticalPath(diamond, durationOf)).toEqual({ path: ["a", "c", "d"], lengthMs: 9 });
    expect(criticalPath([], durationOf)).toEqual({ path: [], lengthMs: 0 });
  });

  it("computes the remaining path length from each task", () => {
    expect(remainingPathLength(diamond, durationOf)).toEqual(
      new Map([
        ["a", 9],
        ["b", 3],
        ["c", 6],
        ["d", 1],
      ]),
    );
  });

  it("groups tasks into topological generations", () => {
    expect(layers(diamond)).toEqual([["a"], ["b", "c"], ["d"]]);
  });

  it("finds a real cycle or returns null", () => {
    expect(
      findCycle(
        new Map([
          ["a", ["b"]],
          ["b", []],
        ]),
      ),
    ).toBeNull();
    const cycle = findCycle(
      new Map([
        ["a", ["b"]],
        ["b", ["c"]],
        ["c", ["b", "x"]],
        ["x", []],
      ]),
    );
    expect(cycle).toEqual(["b", "c", "b"]);
    expect(findCycle(new Map([["a", ["a"]]]))).toEqual(["a", "a"]);
  });

  it("throws GraphValidationError naming the cycle when an order is asked of a cyclic graph", () => {
    const cyclic = [task("a", ["c"]), task("b", ["a"]), task("c", ["b"])];
    expect(() => topologicalOrder(cyclic)).toThrow(GraphValidationError);
    expect(() => criticalPath(cyclic, durationOf)).toThrow("dependency cycle: a -> c -> b -> a");
  });
});
