/**
 * Lays out a run's tasks as a layered DAG with dagre. Expanded composites are clusters around
 * their children; a collapsed composite is one node standing for all it contains. An edge to an
 * expanded composite goes to its first children (they inherit its dependencies), and an edge from
 * it leaves from its last children (dependants wait for all of them). A box is as wide as its name
 * (up to MAX_NODE_WIDTH, then the name wraps and the box grows taller), so no name is cut short.
 * Pure: tasks (and a text measurer) in, geometry out.
 */
import dagre from "@dagrejs/dagre";
import type { TaskView } from "../../../src/dashboard/types.js";
import { estimateTextWidth, metaText, wrapText, type MeasureText } from "./labels.js";

/** The narrowest box, and the height of a box whose name fits one line. */
export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 46;
/** The widest box: a longer name wraps to more lines. */
export const MAX_NODE_WIDTH = 360;
/** Space between a box's edge and its text, and the height each more line of the name adds. */
export const NODE_PADDING = 10;
export const LINE_HEIGHT = 16;
/** Room for the expand button of a collapsed composite, right of its text. */
const TOGGLE_ROOM = 28;

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
  /** The task's id, wrapped to fit the box; joined, the whole id. */
  lines: string[];
  /** The status line under the name. */
  meta: string;
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

/** A box's size and text: wide enough for its name and status line, taller when the name wraps. */
function boxOf(task: TaskView, hidden: number | null, measure: MeasureText) {
  const room = 2 * NODE_PADDING + (hidden === null ? 0 : TOGGLE_ROOM);
  const lines = wrapText(task.id, MAX_NODE_WIDTH - room, measure);
  const meta = metaText(task.status, task.attempts, hidden, task.usage);
  const textWidth = Math.max(measure(meta, "meta"), ...lines.map((line) => measure(line, "label")));
  return {
    width: Math.min(MAX_NODE_WIDTH, Math.max(NODE_WIDTH, Math.ceil(textWidth + room))),
    height: NODE_HEIGHT + (lines.length - 1) * LINE_HEIGHT,
    lines,
    meta,
  };
}

export function layoutGraph(
  tasks: readonly TaskView[],
  collapsed: ReadonlySet<string>,
  measure: MeasureText = estimateTextWidth,
): GraphLayout {
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
  const hiddenCount = (id: string): number => (children.get(id) ?? []).reduce((n, k) => n + 1 + hiddenCount(k), 0);
  const boxes = new Map(
    visible
      .filter((task) => !isCluster(task.id))
      .map((task) => [task.id, boxOf(task, collapsed.has(task.id) ? hiddenCount(task.id) : null, measure)]),
  );
  const graph = new dagre.graphlib.Graph({ compound: true });
  graph.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 56, marginx: 20, marginy: 28 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const task of visible) {
    const box = boxes.get(task.id);
    graph.setNode(task.id, box ? { width: box.width, height: box.height } : {});
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
        lines: boxes.get(task.id)?.lines ?? [task.id],
        meta: boxes.get(task.id)?.meta ?? "",
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
