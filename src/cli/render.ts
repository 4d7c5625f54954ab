/**
 * Renders a plan (or a run, with statuses) as an indented tree, a Mermaid flowchart or Graphviz DOT.
 * Pure: plain task data in, text out.
 */
import { topologicalOrder } from "../decomposers/graph-algorithms.js";
import type { Task } from "../decomposers/task-graph.js";

/** What rendering needs of a task; `status` is shown when present. */
export type PlanNode = Pick<Task, "id" | "dependsOn" | "description"> & Partial<Pick<Task, "parentId" | "kind" | "step" | "forEach">> & {
  status?: string;
};

/** The formats of `htdag plan --format`. */
export const PLAN_FORMATS = ["tree", "mermaid", "dot", "json"] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];

/** Tasks in run order, each followed by its children (recursively), with their depth. */
export function orderedWithDepth(tasks: readonly PlanNode[]): { task: PlanNode; depth: number }[] {
  const rank = new Map(topologicalOrder(tasks.map((t) => ({ ...t, dependsOn: t.dependsOn ?? [] }))).map((id, i) => [id, i]));
  const byParent = new Map<string | undefined, PlanNode[]>();
  for (const task of tasks) byParent.set(task.parentId, [...(byParent.get(task.parentId) ?? []), task]);
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
  if (task.step) parts.push(`[${task.step}]`);
  if (task.forEach) parts.push(`forEach ${task.forEach.from}${task.forEach.path ? `.${task.forEach.path}` : ""}${task.forEach.batchSize ? ` ×${task.forEach.batchSize}` : ""}`);
  if (task.dependsOn.length > 0) parts.push(`after ${task.dependsOn.join(", ")}`);
  if (task.description) parts.push(`- ${task.description}`);
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

/** The plan as a Mermaid flowchart (composites as subgraphs, statuses as classes). */
export function renderMermaid(goal: string, tasks: readonly PlanNode[]): string {
  const lines = ["flowchart TD", `  %% ${goal.replace(/\n/g, " ")}`];
  const byParent = new Map<string | undefined, PlanNode[]>();
  for (const task of tasks) byParent.set(task.parentId, [...(byParent.get(task.parentId) ?? []), task]);
  const emit = (parent: string | undefined, indent: string) => {
    for (const task of byParent.get(parent) ?? []) {
      const label = mermaidText([task.id, task.step, task.status].filter(Boolean).join("<br/>"));
      if (byParent.has(task.id)) {
        lines.push(`${indent}subgraph ${mermaidId(task.id)}["${label}"]`);
        emit(task.id, `${indent}  `);
        lines.push(`${indent}end`);
      } else lines.push(`${indent}${mermaidId(task.id)}["${label}"]`);
    }
  };
  emit(undefined, "  ");
  for (const task of tasks) for (const dep of task.dependsOn) lines.push(`  ${mermaidId(dep)} --> ${mermaidId(task.id)}`);
  for (const task of tasks) if (task.status) lines.push(`  class ${mermaidId(task.id)} ${task.status}`);
  return lines.join("\n");
}

const STATUS_COLOURS: Readonly<Record<string, string>> = {
  completed: "palegreen", failed: "lightcoral", timed_out: "lightcoral", running: "lightblue", cancelled: "lightgrey", skipped: "lightgrey",
};

/** The plan as Graphviz DOT (composites as clusters, statuses as fill colours). */
export function renderDot(goal: string, tasks: readonly PlanNode[]): string {
  const q = (text: string) => JSON.stringify(text);
  const lines = ["digraph plan {", `  label=${q(goal)};`, "  rankdir=LR;", "  node [shape=box, style=\"rounded,filled\", fillcolor=white];"];
  const byParent = new Map<string | undefined, PlanNode[]>();
  for (const task of tasks) byParent.set(task.parentId, [...(byParent.get(task.parentId) ?? []), task]);
  const emit = (parent: string | undefined, indent: string) => {
    for (const task of byParent.get(parent) ?? []) {
      if (byParent.has(task.id)) {
        lines.push(`${indent}subgraph ${q(`cluster_${task.id}`)} {`, `${indent}  label=${q(task.id)};`);
        emit(task.id, `${indent}  `);
        lines.push(`${indent}}`);
        continue;
      }
      const label = [task.id, task.step, task.status].filter(Boolean).join("\\n");
      const fill = task.status ? STATUS_COLOURS[task.status] : undefined;
      lines.push(`${indent}${q(task.id)} [label="${label.replace(/"/g, '\\"')}"${fill ? `, fillcolor=${fill}` : ""}];`);
    }
  };
  emit(undefined, "  ");
  for (const task of tasks) for (const dep of task.dependsOn) lines.push(`  ${q(dep)} -> ${q(task.id)};`);
  lines.push("}");
  return lines.join("\n");
}
