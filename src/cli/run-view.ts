/**
 * A stored run as something to draw: its tasks with their dependencies and statuses, rendered by the
 * same renderers as `htdag plan` (tree, Mermaid, DOT) or as JSON. Pure: a RunResult and the run's
 * graph in, text out.
 */
import { describeUsage, spentAnything } from "./usage-view.js";
import type { RunResult, TaskSummary, TaskWaiting } from "../orchestrator/run-result.js";
import type { RunGraphTask } from "../store/run-detail.js";
import { formatElapsed } from "./progress.js";
import { renderDot, renderMermaid, renderTree, type PlanFormat, type PlanNode } from "./render.js";
import { describeRevisions, isSuperseded, SUPERSEDED_LEGEND } from "./revisions-view.js";

/** A run's task: its summary, where it sits in the graph, and when it ran. */
export type RunTaskView = TaskSummary & {
  dependsOn: string[];
  description: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Tasks merged into this one by the optimizer, run first in its attempts. */
  merged?: string[];
};

/** A run as `htdag show --format json` prints it: the RunResult, each task with its dependencies and times. */
export type RunView = Omit<RunResult, "tasks"> & { tasks: RunTaskView[] };

/** Joins a run's summaries with its graph (tasks missing from either side keep what is known). */
export function runView(result: RunResult, graph: readonly RunGraphTask[]): RunView {
  const byId = new Map(graph.map((t) => [t.id, t]));
  return {
    ...result,
    tasks: result.tasks.map((task) => {
      const node = byId.get(task.id);
      return {
        ...task,
        dependsOn: node?.dependsOn ?? [],
        description: node?.description ?? "",
        startedAt: node?.startedAt?.toISOString() ?? null,
        finishedAt: node?.finishedAt?.toISOString() ?? null,
        ...(node?.merged ? { merged: node.merged } : {}),
      };
    }),
  };
}

/** What the tree shows after a task's id: attempts, time spent, error. */
function taskFacts(task: RunTaskView): string {
  const facts = [`attempts ${task.attempts}`];
  if (task.waiting) {
    facts.push(describeWaiting(task.waiting));
  }
  if (task.merged) {
    facts.push(`runs ${task.merged.join(", ")} first (merged)`);
  }
  if (task.durationMs !== null) {
    facts.push(formatElapsed(task.durationMs));
  }
  if (spentAnything(task.usage)) {
    facts.push(describeUsage(task.usage));
  }
  if (task.error?.message) {
    facts.push(`error: ${task.error.message}`);
  }
  return facts.join(", ");
}

/**
 * What a waiting task waits for, in words: `waits for signal "approval" until 2026-…Z (since …)`, or
 * `waits until …` for a timer; `htdag signal` sends the signal.
 */
export function describeWaiting(waiting: TaskWaiting): string {
  const what = waiting.signal === undefined ? "waits" : `waits for signal ${JSON.stringify(waiting.signal)}`;
  const until = waiting.until === null ? " (no time limit)" : ` until ${waiting.until}`;
  return `${what}${until} since ${waiting.since}`;
}

/** The lines `htdag show` prints under the header of a run whose plan awaits approval: how to answer it. */
export function approvalHint(runId: string): string[] {
  return [
    "the plan awaits approval: nothing runs until a person answers",
    `  approve it: htdag approve ${runId}   (or an edited copy: htdag approve ${runId} --graph plan.yaml)`,
    `  reject it:  htdag approve ${runId} --reject "<reason>"`,
  ];
}

/** The run's tasks as plan nodes carrying their status. */
export function runNodes(view: RunView): PlanNode[] {
  return view.tasks.map((t) => ({
    id: t.id,
    dependsOn: t.dependsOn,
    status: t.status,
    description: taskFacts(t),
    ...(t.parentId ? { parentId: t.parentId } : {}),
    ...(t.step ? { step: t.step } : {}),
    kind: t.kind,
  }));
}

/** The tree lines of `nodes` (no goal line); a child whose parent is not among them is drawn at the top. */
function treeLines(nodes: readonly PlanNode[]): string[] {
  const ids = new Set(nodes.map((n) => n.id));
  const rooted = nodes.map((n) =>
    n.parentId !== undefined && !ids.has(n.parentId) ? { ...n, parentId: undefined } : n,
  );
  return nodes.length === 0 ? [] : renderTree("tasks", rooted).split("\n").slice(1);
}

/** The live plan as a tree, then the tasks revisions superseded in a group of their own, under a legend. */
export function describeTasks(nodes: readonly PlanNode[]): string[] {
  const superseded = nodes.filter((n) => isSuperseded(n.status));
  const lines = treeLines(nodes.filter((n) => !isSuperseded(n.status)));
  if (superseded.length > 0) {
    lines.push(SUPERSEDED_LEGEND, ...treeLines(superseded).map((line) => `  ${line}`));
  }
  return lines;
}

/** Longest output shown per task in the tree format, in characters. */
const MAX_OUTPUT_CHARS = 160;

/**
 * The lines of `htdag show`: header, tasks as a tree with status, attempts and duration, errors, the
 * superseded tasks apart, the plan's revisions, outputs.
 */
export function describeRun(view: RunView): string[] {
  const lines = [
    `run ${view.runId}  ${view.status}  workflow ${view.workflow}  ${formatElapsed(view.durationMs)}`,
    `goal: ${view.goal}`,
  ];
  if (spentAnything(view.usage)) {
    lines.push(`usage: ${describeUsage(view.usage)}`);
  }
  if (view.status === "awaiting_approval") {
    lines.push(...approvalHint(view.runId));
  }
  if (view.error) {
    lines.push(`error: ${view.error.taskId ? `task ${view.error.taskId}: ` : ""}${view.error.message}`);
  }
  lines.push(describeTasks(runNodes(view)).join("\n"), ...describeRevisions(view.revisions ?? []), "outputs:");
  for (const [id, output] of Object.entries(view.outputs)) {
    const json = JSON.stringify(output) ?? "null";
    lines.push(`  ${id}: ${json.length > MAX_OUTPUT_CHARS ? `${json.slice(0, MAX_OUTPUT_CHARS - 1)}…` : json}`);
  }
  return lines;
}

/** The run in one of the plan formats; Mermaid and DOT colour each task by its status. */
export function renderRun(view: RunView, format: PlanFormat): string {
  const title = `run ${view.runId} (${view.status}): ${view.goal}`;
  switch (format) {
    case "json":
      return JSON.stringify(view);
    case "mermaid":
      return renderMermaid(title, runNodes(view));
    case "dot":
      return renderDot(title, runNodes(view));
    case "tree":
      return describeRun(view).join("\n");
  }
}
