/**
 * Renders a plan (or a run, with statuses) as an indented tree, a Mermaid flowchart or Graphviz DOT.
 * Pure: plain task data in, text out.
 */
import { topologicalOrder } from "../graph/algorithms.js";
import type { Task } from "../graph/task-graph.js";

/** What rendering needs of a task; `status` is shown when present. */
export type PlanNode = Pick<Task, "id" | "dependsOn" | "description"> &
  Partial<Pick<Task, "parentId" | "kind" | "step" | "forEach">> & {
    status?: string;
  };

/** The formats of `htdag plan --format`. */
export const PLAN_FORMATS = ["tree", "mermaid", "dot", "json"] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** Tasks in run order, each followed by its children (recursively), with their depth. */
export function orderedWithDepth(tasks: readonly PlanNode[]): { task: PlanNode; depth: number }[] {
  const rank = new Map(
    topologicalOrder(tasks.map((t) => ({ ...t, dependsOn: t.dependsOn ?? [] }))).map((id, i) => [id, i]),
  );
  const byParent = new Map<string | undefined, PlanNode[]>();
  for (const task of tasks) {
    byParent.set(task.parentId, [...(byParent.get(task.parentId) ?? []), task]);
  }
  const out: { task: PlanNode; depth: number }[] = [];
  const visit = (parent: string | undefined, depth: number) => {
    const children = [...(byParent.get(parent) ?? [])].sort((a, b) => (rank.get(a.id) ?? 0) - (rank.get(b.id) ?? 0));
    for (const task of children) {
      out.push({ task, depth });
      visit(task.id, depth + 1);
    }
  };
  visit(undefined, 0);
  return out;
}

/** One line of the tree for `task`: id, step, fan-out, dependencies, description. */
export function describeTask(task: PlanNode): string {
  const parts = [task.id];
  if (task.step) {
    parts.push(`[${task.step}]`);
  }
  if (task.forEach) {
    parts.push(
      `forEach ${task.forEach.from}${task.forEach.path ? `.${task.forEach.path}` : ""}${task.forEach.batchSize ? ` ×${task.forEach.batchSize}` : ""}`,
    );
  }
  if (task.dependsOn.length > 0) {
    parts.push(`after ${task.dependsOn.join(", ")}`);
  }
  if (task.description) {
    parts.push(`- ${task.description}`);
  }
  return parts.join("  ");
}

/** The plan as an indented tree under its goal. */
export function renderTree(goal: string, tasks: readonly PlanNode[]): string {
  const lines = [`goal: ${goal}`];
  const ordered = orderedWithDepth(tasks);
  ordered.forEach(({ task, depth }, index) => {
    const next = ordered.slice(index + 1).find((other) => other.depth <= depth);
    const last = next === undefined || next.depth < depth;
    const status = task.status ? `${task.status.padEnd(9)} ` : "";
    lines.push(`${"│  ".repeat(depth)}${last ? "└─" : "├─"} ${status}${describeTask(task)}`);
  });
  return lines.join("\n");
}

const mermaidId = (id: string) => `t_${id.replace(/[^A-Za-z0-9_]/g, "_")}`;
const mermaidText = (text: string) => text.replace(/"/g, "#quot;");

/**
 * Fill and stroke of each task state, shared by Mermaid (classDef) and DOT (fillcolor). A dashed
 * state is drawn with a dashed border: a superseded task, dropped by a revision of the plan.
 */
export const STATUS_STYLES: Readonly<Record<string, { fill: string; stroke: string; dashed?: boolean }>> = {
  pending: { fill: "#ffffff", stroke: "#9e9e9e" },
  ready: { fill: "#fff8e1", stroke: "#f9a825" },
  // A wait task that waits now (docs/waits-and-flow-control.md): ready, holding no slot.
  waiting: { fill: "#f3e5f5", stroke: "#8e24aa" },
  running: { fill: "#bbdefb", stroke: "#1565c0" },
  completed: { fill: "#c8e6c9", stroke: "#2e7d32" },
  failed: { fill: "#ffcdd2", stroke: "#c62828" },
  timed_out: { fill: "#ffe0b2", stroke: "#e65100" },
  cancelled: { fill: "#e0e0e0", stroke: "#616161" },
  skipped: { fill: "#f5f5f5", stroke: "#bdbdbd" },
  superseded: { fill: "#fafafa", stroke: "#9e9e9e", dashed: true },
};

function childrenByParent(tasks: readonly PlanNode[]): Map<string | undefined, PlanNode[]> {
  const ids = new Set(tasks.map((t) => t.id));
  const byParent = new Map<string | undefined, PlanNode[]>();
  // A child whose parent is not in the list is drawn at the top level rather than lost.
  for (const task of tasks) {
    const parent = task.parentId !== undefined && ids.has(task.parentId) ? task.parentId : undefined;
    byParent.set(parent, [...(byParent.get(parent) ?? []), task]);
  }
  return byParent;
}

/** The plan as a Mermaid flowchart: composites as subgraphs, statuses as classes with a classDef each. */
export function renderMermaid(goal: string, tasks: readonly PlanNode[]): string {
  const lines = ["flowchart TD", `  %% ${goal.replace(/\n/g, " ")}`];
  const byParent = childrenByParent(tasks);
  const emit = (parent: string | undefined, indent: string) => {
    for (const task of byParent.get(parent) ?? []) {
      const label = mermaidText([task.id, task.step, task.status].filter(Boolean).join("<br/>"));
      if (byParent.has(task.id)) {
        lines.push(`${indent}subgraph ${mermaidId(task.id)}["${label}"]`);
        emit(task.id, `${indent}  `);
        lines.push(`${indent}end`);
      } else {
        lines.push(`${indent}${mermaidId(task.id)}["${label}"]`);
      }
    }
  };
  emit(undefined, "  ");
  for (const task of tasks) {
    for (const dep of task.dependsOn) {
      lines.push(`  ${mermaidId(dep)} --> ${mermaidId(task.id)}`);
    }
  }
  const used = [...new Set(tasks.map((t) => t.status).filter((s): s is string => s !== undefined))];
  for (const status of used) {
    const style = STATUS_STYLES[status];
    if (style) {
      const dash = style.dashed ? ",stroke-dasharray:5 3,color:#757575" : "";
      lines.push(`  classDef ${status} fill:${style.fill},stroke:${style.stroke}${dash}`);
    }
  }
  for (const status of used) {
    const ids = tasks.filter((t) => t.status === status).map((t) => mermaidId(t.id));
    lines.push(`  class ${ids.join(",")} ${status}`);
  }
  return lines.join("\n");
}

/** The first atomic task under `id` (itself if it has no children): where DOT edges of a cluster attach. */
function anchor(id: string, byParent: Map<string | undefined, PlanNode[]>): string {
  const children = byParent.get(id);
  return children?.[0] ? anchor(children[0].id, byParent) : id;
}

/** The DOT attributes of a task state (after a node's label). */
function dotStyle(style: { fill: string; stroke: string; dashed?: boolean }): string {
  const dash = style.dashed ? ', style="rounded,filled,dashed", fontcolor="#757575"' : "";
  return `, fillcolor=${JSON.stringify(style.fill)}, color=${JSON.stringify(style.stroke)}${dash}`;
}

/** The plan as Graphviz DOT: composites as clusters (edges reach the cluster), statuses as fill colours. */
export function renderDot(goal: string, tasks: readonly PlanNode[]): string {
  const q = (text: string) => JSON.stringify(text);
  const lines = [
    "digraph plan {",
    `  label=${q(goal)};`,
    "  rankdir=LR;",
    "  compound=true;",
    '  node [shape=box, style="rounded,filled", fillcolor=white];',
  ];
  const byParent = childrenByParent(tasks);
  const fill = (status: string | undefined) => (status && STATUS_STYLES[status] ? STATUS_STYLES[status] : undefined);
  const emit = (parent: string | undefined, indent: string) => {
    for (const task of byParent.get(parent) ?? []) {
      const label = [task.id, task.step, task.status].filter(Boolean).join("\n");
      const style = fill(task.status);
      if (byParent.has(task.id)) {
        lines.push(`${indent}subgraph ${q(`cluster_${task.id}`)} {`, `${indent}  label=${q(label)};`);
        if (style) {
          lines.push(`${indent}  style="rounded,filled"; fillcolor=${q(style.fill)}; color=${q(style.stroke)};`);
        }
        emit(task.id, `${indent}  `);
        lines.push(`${indent}}`);
        continue;
      }
      lines.push(`${indent}${q(task.id)} [label=${q(label)}${style ? dotStyle(style) : ""}];`);
    }
  };
  emit(undefined, "  ");
  for (const task of tasks) {
    for (const dep of task.dependsOn) {
      const ends = [
        byParent.has(dep) ? `ltail=${q(`cluster_${dep}`)}` : "",
        byParent.has(task.id) ? `lhead=${q(`cluster_${task.id}`)}` : "",
      ].filter(Boolean);
      lines.push(
        `  ${q(anchor(dep, byParent))} -> ${q(anchor(task.id, byParent))}${ends.length ? ` [${ends.join(", ")}]` : ""};`,
      );
    }
  }
  lines.push("}");
  return lines.join("\n");
}

/** A plan in one of the formats of `htdag plan` (JSON carries the workflow its run is recorded under). */
export function renderPlan(
  graph: { goal: string; tasks: readonly PlanNode[] },
  workflow: string,
  format: PlanFormat,
): string {
  switch (format) {
    case "json":
      return JSON.stringify({ workflow, graph }, null, 2);
    case "mermaid":
      return renderMermaid(graph.goal, graph.tasks);
    case "dot":
      return renderDot(graph.goal, graph.tasks);
    case "tree":
      return renderTree(graph.goal, graph.tasks);
  }
}
