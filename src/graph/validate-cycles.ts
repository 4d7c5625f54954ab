/**
 * Cycle check of validation, over the run-time edges of the cleaned tasks (own dependencies,
 * dependencies inherited from ancestors, and composites waiting for their children; see
 * `hierarchy.ts`). One cycle is reported per strongly connected component, named as a real
 * path `a -> b -> c -> a` where each task waits for the next.
 */
import type { GraphIssue } from "../errors.js";
import { cyclicComponents, kahnOrder, shortestCycleThrough, type IndexedGraph } from "./graph-index.js";
import { effectiveWaitsFor } from "./hierarchy.js";
import type { StructureResult, TaskEntry } from "./validate-structure.js";

/** The run-time graph of the cleaned tasks, node `k` being `entries[k]`, and its order. */
export interface RuntimeGraph {
  graph: IndexedGraph;
  /** Position in `entries` of each task id. */
  nodeOf: ReadonlyMap<string, number>;
  /** Topological order of the nodes not on or behind a cycle (all nodes when acyclic). */
  order: number[];
}

/** Build the run-time graph and report its cycles. */
export function checkCycles(
  entries: readonly TaskEntry[],
  structure: StructureResult,
): { runtime: RuntimeGraph; issues: GraphIssue[] } {
  const graph: IndexedGraph = {
    ids: entries.map((entry) => entry.task.id),
    waitsFor: effectiveWaitsFor(structure.parentOf, structure.dependsOn),
  };
  const order = kahnOrder(graph);
  const runtime = { graph, nodeOf: structure.nodeOf, order };
  if (order.length === graph.ids.length) {
    return { runtime, issues: [] };
  }
  const issues = cyclicComponents(graph).map((component) => {
    const cycle = shortestCycleThrough(graph, component[0] as number, component);
    return cycleIssue(cycle, entries, structure);
  });
  return { runtime, issues };
}

function cycleIssue(cycle: readonly number[], entries: readonly TaskEntry[], structure: StructureResult): GraphIssue {
  const ids = cycle.map((node) => (entries[node] as TaskEntry).task.id);
  const first = entries[cycle[0] as number] as TaskEntry;
  const explicit = (structure.dependsOn[cycle[0] as number] as number[]).includes(cycle[1] as number);
  const explicitAt = explicit ? first.task.dependsOn.indexOf(ids[1] as string) : -1;
  const reasons: string[] = [];
  for (let k = 0; k + 1 < cycle.length; k++) {
    const reason = edgeReason(cycle[k] as number, cycle[k + 1] as number, entries, structure);
    if (reason !== undefined) {
      reasons.push(reason);
    }
  }
  const why = reasons.length > 0 ? `; ${reasons.join("; ")}` : "";
  return {
    code: "cycle",
    path: explicitAt >= 0 ? `tasks[${first.index}].dependsOn[${explicitAt}]` : `tasks[${first.index}]`,
    message: `dependency cycle: ${ids.join(" -> ")} (each task waits for the next${why}); remove one of these dependencies`,
  };
}

/** Why `node` waits for `target` when it does not list it in dependsOn, or undefined if it does. */
function edgeReason(
  node: number,
  target: number,
  entries: readonly TaskEntry[],
  structure: StructureResult,
): string | undefined {
  const { parentOf, dependsOn } = structure;
  if ((dependsOn[node] as number[]).includes(target)) {
    return undefined;
  }
  const name = JSON.stringify((entries[node] as TaskEntry).task.id);
  const quoted = JSON.stringify((entries[target] as TaskEntry).task.id);
  if (parentOf[target] === node) {
    return `${name} is a composite and waits for its child ${quoted}`;
  }
  for (let ancestor = parentOf[node] as number; ancestor >= 0; ancestor = parentOf[ancestor] as number) {
    if ((dependsOn[ancestor] as number[]).includes(target)) {
      return `${name} inherits the dependency on ${quoted} from its ancestor ${JSON.stringify((entries[ancestor] as TaskEntry).task.id)}`;
    }
  }
  return undefined;
}
