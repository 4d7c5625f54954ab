/**
 * Graph algorithms over a task graph's run-time edges (see `hierarchy.ts`): the graphology
 * graph for rendering and library algorithms, topological order and generations, cycles,
 * critical path and remaining path length (used for priorities).
 *
 * Every function is pure. Functions that need an order throw `GraphValidationError` with a
 * `cycle` issue when the tasks are cyclic; validate graphs first to get every problem at once.
 */
import graphology from "graphology";
import type { DirectedGraph } from "graphology";
import { topologicalGenerations, topologicalSort } from "graphology-dag";
import { GraphValidationError } from "../errors.js";
import { childrenOf, effectiveDependencies, isComposite, type HierarchyTask } from "./hierarchy.js";
import { cyclicComponents, indexGraph, kahnOrder, shortestCycleThrough, type IndexedGraph } from "./graph-index.js";

/** Attributes of a node in the graph from {@link buildGraph}. */
export interface TaskNodeAttributes {
  description?: string;
  kind: "atomic" | "composite";
  parentId?: string;
}

/**
 * A directed graph with one node per task and an edge `dependency -> dependant` for every
 * run-time dependency (own, inherited from ancestors, and composite-waits-for-child).
 *
 * graphology is CommonJS: its default export is the `Graph` class, which carries
 * `DirectedGraph` as a static property, so `graphology.DirectedGraph` works both at run time
 * under Node's ESM loader and in the NodeNext type view of the package.
 */
export function buildGraph(
  tasks: readonly (HierarchyTask & { description?: string })[],
): DirectedGraph<TaskNodeAttributes> {
  const graph = new graphology.DirectedGraph<TaskNodeAttributes>();
  const edges = effectiveDependencies(tasks);
  const children = childrenOf(tasks);
  for (const task of tasks) {
    if (graph.hasNode(task.id)) {
      continue;
    }
    const attributes: TaskNodeAttributes = { kind: isComposite(task, children) ? "composite" : "atomic" };
    if (task.description !== undefined) {
      attributes.description = task.description;
    }
    if (task.parentId !== undefined) {
      attributes.parentId = task.parentId;
    }
    graph.addNode(task.id, attributes);
  }
  for (const [dependant, dependencies] of edges) {
    for (const dependency of dependencies) {
      graph.mergeEdge(dependency, dependant);
    }
  }
  return graph;
}

/**
 * Task ids in an order where every task comes after everything it waits for at run time.
 *
 * @throws GraphValidationError with a `cycle` issue if the tasks are cyclic
 */
export function topologicalOrder(tasks: readonly HierarchyTask[]): string[] {
  assertAcyclic(tasks);
  return topologicalSort(buildGraph(tasks));
}

/**
 * Topological generations: the first layer holds tasks that wait for nothing, each later layer
 * the tasks whose dependencies all lie in earlier layers. Tasks of one layer can run in parallel.
 *
 * @throws GraphValidationError with a `cycle` issue if the tasks are cyclic
 */
export function layers(tasks: readonly HierarchyTask[]): string[][] {
  assertAcyclic(tasks);
  return topologicalGenerations(buildGraph(tasks));
}

/**
 * One cycle of a "waits for" relation, or null if there is none. The cycle is returned as ids
 * with the first repeated at the end, `[a, b, c, a]`, where `edges.get(a)` holds `b`, and so on:
 * every consecutive pair is a real edge. Targets that are not keys of `edges` are ignored.
 *
 * @param edges for each id, the ids it waits for, e.g. from `effectiveDependencies`
 */
export function findCycle(edges: ReadonlyMap<string, readonly string[]>): string[] | null {
  return findCycles(edges)[0] ?? null;
}

/**
 * One shortest cycle per strongly connected component that has a cycle, in the order of the
 * component's first member in `edges`. Each cycle starts at that member; see {@link findCycle}.
 */
export function findCycles(edges: ReadonlyMap<string, readonly string[]>): string[][] {
  return cyclesOf(indexGraph(edges));
}

function cyclesOf(graph: IndexedGraph): string[][] {
  if (kahnOrder(graph).length === graph.ids.length) {
    return [];
  }
  return cyclicComponents(graph)
    .sort((a, b) => (a[0] as number) - (b[0] as number))
    .map((component) =>
      shortestCycleThrough(graph, component[0] as number, component).map((node) => graph.ids[node] as string),
    );
}

/**
 * The longest path through the graph, weighting each task by `durationOf(id)`: the least time
 * the whole graph can take with unlimited workers. `path` runs from a first task to a last one.
 *
 * @param durationOf expected duration of a task in ms (composites usually 0)
 * @throws GraphValidationError with a `cycle` issue if the tasks are cyclic
 */
export function criticalPath(
  tasks: readonly HierarchyTask[],
  durationOf: (id: string) => number,
): { path: string[]; lengthMs: number } {
  const graph = indexGraph(effectiveDependencies(tasks));
  const order = orderOrThrow(graph);
  const finish = new Float64Array(graph.ids.length);
  const via = new Int32Array(graph.ids.length).fill(-1);
  let last = -1;
  for (const node of order) {
    let start = 0;
    for (const dependency of graph.waitsFor[node] as readonly number[]) {
      if (via[node] === -1 || (finish[dependency] as number) > start) {
        via[node] = dependency;
        start = finish[dependency] as number;
      }
    }
    finish[node] = start + durationOf(graph.ids[node] as string);
    if (last === -1 || (finish[node] as number) > (finish[last] as number)) {
      last = node;
    }
  }
  const path: string[] = [];
  for (let node = last; node !== -1; node = via[node] as number) {
    path.push(graph.ids[node] as string);
  }
  return { path: path.reverse(), lengthMs: last === -1 ? 0 : (finish[last] as number) };
}

/**
 * For each task, the longest weighted path from it to any last task, counting its own duration:
 * how much work at least still follows once it starts. Higher means more urgent.
 *
 * @throws GraphValidationError with a `cycle` issue if the tasks are cyclic
 */
export function remainingPathLength(
  tasks: readonly HierarchyTask[],
  durationOf: (id: string) => number,
): Map<string, number> {
  const graph = indexGraph(effectiveDependencies(tasks));
  const order = orderOrThrow(graph);
  const remaining = new Float64Array(graph.ids.length);
  for (let position = order.length - 1; position >= 0; position--) {
    const node = order[position] as number;
    remaining[node] = (remaining[node] as number) + durationOf(graph.ids[node] as string);
    for (const dependency of graph.waitsFor[node] as readonly number[]) {
      remaining[dependency] = Math.max(remaining[dependency] as number, remaining[node] as number);
    }
  }
  return new Map(graph.ids.map((id, node) => [id, remaining[node] as number]));
}

function assertAcyclic(tasks: readonly HierarchyTask[]): void {
  orderOrThrow(indexGraph(effectiveDependencies(tasks)));
}

function orderOrThrow(graph: IndexedGraph): number[] {
  const order = kahnOrder(graph);
  if (order.length === graph.ids.length) {
    return order;
  }
  const cycle = cyclesOf(graph)[0] ?? [];
  throw new GraphValidationError([
    {
      code: "cycle",
      path: "tasks",
      message: `dependency cycle: ${cycle.join(" -> ")}; remove one of these dependencies`,
    },
  ]);
}
