/**
 * Lays out a run's tasks as a layered DAG with dagre. Expanded composites are clusters around
 * their children; a collapsed composite is one node standing for all it contains. An edge to an
 * expanded composite goes to its first children (they inherit its dependencies), and an edge from
 * it leaves from its last children (dependants wait for all of them). Pure: tasks in, geometry out.
 */
import dagre from "@dagrejs/dagre";
import type { TaskView } from "../../../src/dashboard/types.js";

export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 46;

export interface Point {
  x: number;
  y: number;
}

/** A drawn task: an atomic task, or a collapsed composite (`hidden` tasks inside). */
export interface LayoutNode {
  task: TaskView;
  /** Centre. */
  x: number;
  y: number;
  width: number;
  height: number;
  collapsed: boolean;
  hidden: number;
}

/** An expanded composite: a box around its children. */
export interface LayoutCluster {
  task: TaskView;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface LayoutEdge {
  from: string;
  to: string;
  points: Point[];
}

export interface GraphLayout {
  nodes: LayoutNode[];
  clusters: LayoutCluster[];
  edges: LayoutEdge[];
  width: number;
  height: number;
}

/** Children by parent id, for the parents present in `tasks`. */
function childrenOf(tasks: readonly TaskView[], ids: ReadonlySet<string>): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const task of tasks) {
    if (task.parentId && ids.has(task.parentId)) {
      children.set(task.parentId, [...(children.get(task.parentId) ?? []), task.id]);
    }
  }
  return children;
}

export function layoutGraph(tasks: readonly TaskView[], collapsed: ReadonlySet<string>): GraphLayout {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const children = childrenOf(tasks, new Set(byId.keys()));
  /** The node that stands for `id`: its outermost collapsed ancestor, or itself. */
  const representative = (id: string): string => {
    let shown = id;
    for (let parent = byId.get(id)?.parentId; parent && byId.has(parent); parent = byId.get(parent)?.parentId) {
      if (collapsed.has(parent)) {
        shown = parent;
      }
    }
    return shown;
  };
  const isCluster = (id: string) => (children.get(id)?.length ?? 0) > 0 && !collapsed.has(id);
  /** The drawn nodes an edge attaches to on `side` of `id`. */
  const endpoints = (id: string, side: "in" | "out"): string[] => {
    const shown = representative(id);
    if (!isCluster(shown)) {
      return [shown];
    }
    const kids = children.get(shown) ?? [];
    const siblings = new Set(kids);
    const edgeKids =
      side === "in"
        ? kids.filter((k) => !(byId.get(k)?.dependsOn ?? []).some((d) => siblings.has(d)))
        : kids.filter((k) => !kids.some((other) => byId.get(other)?.dependsOn.includes(k)));
    return (edgeKids.length > 0 ? edgeKids : kids).flatMap((k) => endpoints(k, side));
  };

  const visible = tasks.filter((t) => representative(t.id) === t.id);
  const graph = new dagre.graphlib.Graph({ compound: true });
  graph.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 56, marginx: 20, marginy: 28 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const task of visible) {
    graph.setNode(task.id, isCluster(task.id) ? {} : { width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  for (const task of visible) {
    if (task.parentId && byId.has(task.parentId)) {
      graph.setParent(task.id, task.parentId);
    }
  }
  for (const task of tasks) {
    for (const dep of task.dependsOn) {
      if (!byId.has(dep)) {
        continue;
      }
      for (const from of endpoints(dep, "out")) {
        for (const to of endpoints(task.id, "in")) {
          if (from !== to) {
            graph.setEdge(from, to);
          }
        }
      }
    }
  }
  dagre.layout(graph);

  const hiddenCount = (id: string): number => (children.get(id) ?? []).reduce((n, k) => n + 1 + hiddenCount(k), 0);
  const nodes: LayoutNode[] = [];
  const clusters: LayoutCluster[] = [];
  for (const task of visible) {
    const box = graph.node(task.id) as { x: number; y: number; width: number; height: number };
    if (isCluster(task.id)) {
      clusters.push({ task, x: box.x, y: box.y, width: box.width, height: box.height });
    } else {
      nodes.push({
        task,
        x: box.x,
        y: box.y,
        width: box.width,
        height: box.height,
        collapsed: collapsed.has(task.id),
        hidden: collapsed.has(task.id) ? hiddenCount(task.id) : 0,
      });
    }
  }
  const edges = graph.edges().map((e: { v: string; w: string }) => ({
    from: e.v,
    to: e.w,
    points: (graph.edge(e) as { points?: Point[] }).points ?? [],
  }));
  const size = graph.graph() as { width?: number; height?: number };
  return { nodes, clusters, edges, width: size.width ?? 0, height: size.height ?? 0 };
}
