/**
 * fast-check arbitraries for random valid task graphs with a random hierarchy.
 *
 * Validity under the hierarchy semantics (children inherit their ancestors' dependencies, a
 * composite waits for its children) is kept by construction: the forest is laid out in
 * post-order (children before their parent), and each task depends only on tasks earlier in
 * that order that are not its descendants. Every run-time edge then points backwards in the
 * post-order, so the run-time graph is acyclic.
 */
import fc from "fast-check";
import type { TaskSpec } from "../../src/graph/task-graph.js";

export interface RandomGraph {
  goal: string;
  tasks: TaskSpec[];
}

/** Post-order of a forest given as parent indices (-1 for roots). */
function postOrder(parents: readonly number[]): number[] {
  const children = parents.map(() => [] as number[]);
  parents.forEach((parent, node) => {
    if (parent >= 0) {
      children[parent]?.push(node);
    }
  });
  const order: number[] = [];
  const visit = (node: number): void => {
    for (const child of children[node] ?? []) {
      visit(child);
    }
    order.push(node);
  };
  parents.forEach((parent, node) => {
    if (parent < 0) {
      visit(node);
    }
  });
  return order;
}

function descendantsOf(node: number, parents: readonly number[]): Set<number> {
  const result = new Set<number>();
  parents.forEach((_, candidate) => {
    for (let at = parents[candidate] ?? -1; at >= 0; at = parents[at] ?? -1) {
      if (at === node) {
        result.add(candidate);
        return;
      }
    }
  });
  return result;
}

/** Build a valid graph from raw random choices (see the file comment). */
export function buildRandomGraph(
  parentChoices: readonly number[],
  dependencyChoices: readonly (readonly number[])[],
): RandomGraph {
  const count = parentChoices.length;
  const parents = parentChoices.map((choice, node) => (choice < 0 || node === 0 ? -1 : choice % node));
  const order = postOrder(parents);
  const positionOf = new Map(order.map((node, position) => [node, position]));
  const tasks: TaskSpec[] = [];
  for (let node = 0; node < count; node++) {
    const position = positionOf.get(node) ?? 0;
    const descendants = descendantsOf(node, parents);
    const candidates = order.slice(0, position).filter((other) => !descendants.has(other));
    const dependsOn = [
      ...new Set(
        (dependencyChoices[node] ?? [])
          .filter(() => candidates.length > 0)
          .map((choice) => `t${candidates[choice % candidates.length]}`),
      ),
    ];
    const task: TaskSpec = { id: `t${node}`, dependsOn };
    const parent = parents[node] ?? -1;
    if (parent >= 0) {
      task.parentId = `t${parent}`;
    }
    const first = dependsOn[0];
    if (first !== undefined && node % 3 === 0) {
      task.input = { from: { $from: first, path: "value" }, text: `got {{ ${first}.value }}` };
    }
    if (first !== undefined && node % 5 === 0) {
      task.when = { task: first, op: "truthy" };
    }
    tasks.push(task);
  }
  return { goal: "random graph", tasks };
}

/** A random valid graph of 1 to `maxTasks` tasks. */
export function randomGraphArbitrary(maxTasks = 25): fc.Arbitrary<RandomGraph> {
  return fc
    .integer({ min: 1, max: maxTasks })
    .chain((count) =>
      fc
        .tuple(
          fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: count, maxLength: count }),
          fc.array(fc.array(fc.nat({ max: 1000 }), { maxLength: 4 }), { minLength: count, maxLength: count }),
        )
        .map(([parentChoices, dependencyChoices]) => buildRandomGraph(parentChoices, dependencyChoices)),
    );
}

/**
 * The run-time edges straight from the definition (docs/concepts.md), written independently of
 * `hierarchy.ts` so tests can check it: a task waits for its own dependencies, its ancestors'
 * dependencies and, if it has children, its children.
 */
export function referenceRuntimeEdges(tasks: readonly TaskSpec[]): Map<string, Set<string>> {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const edges = new Map<string, Set<string>>();
  for (const task of tasks) {
    const waitsFor = new Set<string>(task.dependsOn ?? []);
    for (let ancestor = task.parentId; ancestor !== undefined; ancestor = byId.get(ancestor)?.parentId) {
      for (const dependency of byId.get(ancestor)?.dependsOn ?? []) {
        waitsFor.add(dependency);
      }
    }
    for (const other of tasks) {
      if (other.parentId === task.id) {
        waitsFor.add(other.id);
      }
    }
    waitsFor.delete(task.id);
    edges.set(task.id, waitsFor);
  }
  return edges;
}
