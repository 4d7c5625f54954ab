import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import { collectGraphIssues } from "../../src/graph/validate.js";
import { randomGraphArbitrary, referenceRuntimeEdges, type RandomGraph } from "./random-graph.js";

const LIMITS = { maxDepth: 100 };

/** Every id `from` waits for at run time, directly or transitively. */
function upstreamOf(from: string, edges: ReadonlyMap<string, ReadonlySet<string>>): Set<string> {
  const reached = new Set<string>();
  const stack = [from];
  while (stack.length > 0) {
    for (const next of edges.get(stack.pop() as string) ?? []) {
      if (reached.has(next)) {
        continue;
      }
      reached.add(next);
      stack.push(next);
    }
  }
  return reached;
}

function isAncestor(ancestor: string, id: string, tasks: readonly TaskSpec[]): boolean {
  const parentOf = new Map(tasks.map((task) => [task.id, task.parentId]));
  for (let at = parentOf.get(id); at !== undefined; at = parentOf.get(at)) {
    if (at === ancestor) {
      return true;
    }
  }
  return false;
}

/** Pairs (x, y) where x waits for y at run time and neither contains the other. */
function backEdgeCandidates(graph: RandomGraph): [string, string][] {
  const edges = referenceRuntimeEdges(graph.tasks);
  const pairs: [string, string][] = [];
  for (const task of graph.tasks) {
    for (const upstream of upstreamOf(task.id, edges)) {
      if (!isAncestor(task.id, upstream, graph.tasks) && !isAncestor(upstream, task.id, graph.tasks)) {
        pairs.push([task.id, upstream]);
      }
    }
  }
  return pairs;
}

function cycleOf(message: string): string[] {
  const match = /dependency cycle: (.+?) \(each task waits/.exec(message);
  if (match === null) {
    throw new Error(`no cycle named in: ${message}`);
  }
  return (match[1] as string).split(" -> ");
}

describe("validateGraph on random graphs", () => {
  it("accepts every random DAG with a random hierarchy, references and conditions", () => {
    fc.assert(
      fc.property(randomGraphArbitrary(), (graph) => {
        const result = collectGraphIssues(graph, { limits: LIMITS });
        expect(result.issues).toEqual([]);
        expect(result.graph?.tasks.map((task) => task.id)).toEqual(graph.tasks.map((task) => task.id));
      }),
      { numRuns: 300 },
    );
  });

  it("reports one added back edge as a cycle whose named path is a real cycle", () => {
    fc.assert(
      fc.property(randomGraphArbitrary(), fc.nat(), (graph, choice) => {
        const candidates = backEdgeCandidates(graph);
        fc.pre(candidates.length > 0);
        const [downstream, upstream] = candidates[choice % candidates.length] as [string, string];
        const tasks = graph.tasks.map((task) =>
          task.id === upstream ? { ...task, dependsOn: [...(task.dependsOn ?? []), downstream] } : task,
        );
        const { graph: accepted, issues } = collectGraphIssues({ ...graph, tasks }, { limits: LIMITS });
        expect(accepted).toBeNull();
        expect(issues.length).toBeGreaterThan(0);
        expect(new Set(issues.map((issue) => issue.code))).toEqual(new Set(["cycle"]));
        const edges = referenceRuntimeEdges(tasks);
        for (const issue of issues) {
          const cycle = cycleOf(issue.message);
          expect(cycle.length).toBeGreaterThanOrEqual(2);
          expect(cycle[0]).toBe(cycle[cycle.length - 1]);
          for (let k = 0; k + 1 < cycle.length; k++) {
            expect(edges.get(cycle[k] as string)?.has(cycle[k + 1] as string)).toBe(true);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
