/**
 * The hierarchy of an LLM plan: the top level in one call, then each composite in one more call,
 * one level at a time (the composites of a level in parallel), down to `maxDepth`. Children get
 * ids under their composite (`deploy/migrate`) and `parentId`; the result is one graph, checked
 * as a whole before it is returned.
 *
 * A revision (`ctx.revision`, docs/living-plans.md) is planned the same way: its top level with the
 * revision prompt, the new composites in it expanded as for a first plan (or left lazy), and the
 * whole checked with the completed tasks it leaves out counted as known upstream.
 */
import { DecompositionError } from "../../errors.js";
import type { TaskGraphInput, TaskSpec } from "../../graph/task-graph.js";
import type { DecomposerContext } from "../../graph/decomposer.js";
import { collectGraphIssues } from "../../graph/validate.js";
import { planLevel, type LevelRunner } from "./level.js";
import { completedIds } from "./revision-prompt.js";
import type { ExpansionContext } from "./prompt.js";

/** A composite waiting for its children, with what its prompt needs. */
interface Pending {
  task: TaskSpec;
  ancestors: string[];
  /** Dependencies of the composites above it (its children inherit them). */
  inherited: string[];
}

/**
 * Plans `goal` (or, with `ctx.parent`, the children of that task) to at most `maxDepth` levels.
 * With `expand: "lazy"`, composites of the first level are left for the executor. With `onTask`,
 * the first level's answer is streamed and each of its tasks handed over as soon as it is complete.
 */
export async function planGraph(
  goal: string,
  ctx: DecomposerContext,
  runner: LevelRunner,
  maxDepth: number,
  expand: "eager" | "lazy",
  onTask?: (task: TaskSpec) => void,
): Promise<TaskGraphInput> {
  const levels = ctx.parent === undefined ? maxDepth : maxDepth - Math.max(ctx.depth, 1);
  if (levels < 1) {
    throw new DecompositionError(
      goal,
      `task ${JSON.stringify(ctx.parent?.task.id)} is already at maxDepth ${maxDepth}; raise maxDepth or make it atomic`,
    );
  }
  const top = await planLevel(
    {
      goal,
      catalogue: ctx.catalogue,
      allowComposite: levels > 1,
      ...(ctx.revision && !ctx.parent ? { revision: ctx.revision } : {}),
      ...(ctx.parent
        ? {
            expansion: { task: ctx.parent.task, ancestors: [], dependencyIds: [], depsOutputs: ctx.parent.depsOutputs },
          }
        : {}),
      ...(onTask ? { onTask: (task: TaskSpec) => onTask(expand === "lazy" ? asLazy(task) : task) } : {}),
    },
    runner,
  );
  if (expand === "lazy") {
    return { goal, tasks: top.map((t) => (t.kind === "composite" ? { ...t, expand: "lazy" } : t)), source: "llm" };
  }
  const tasks = [...top];
  let frontier: Pending[] = top.filter(isComposite).map((task) => ({ task, ancestors: [], inherited: [] }));
  for (let depth = 1; frontier.length > 0; depth++) {
    const children = await expandAll(goal, ctx, runner, frontier, depth + 1 < levels);
    frontier = frontier.flatMap((node, index) => {
      const named = namespaced(children[index] ?? [], node.task.id);
      tasks.push(...named);
      const ancestors = [...node.ancestors, node.task.description || node.task.id];
      const inherited = [...node.inherited, ...(node.task.dependsOn ?? [])];
      return named.filter(isComposite).map((task) => ({ task, ancestors, inherited }));
    });
  }
  const planned = new Set(tasks.map((task) => task.id));
  const upstream = ctx.revision && !ctx.parent ? completedIds(ctx.revision).filter((id) => !planned.has(id)) : [];
  const { issues } = collectGraphIssues(
    { goal, tasks },
    {
      ...(ctx.catalogue.length > 0 ? { stepNames: ctx.catalogue.map((entry) => entry.name) } : {}),
      upstream,
      limits: { maxDepth },
    },
  );
  if (issues.length > 0) {
    throw new DecompositionError(
      goal,
      `the expanded plan is invalid:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join("\n")}`,
      { issues },
    );
  }
  return { goal, tasks, source: "llm" };
}

/** Expands the composites of one level in parallel; the first failure stops the others' requests. */
async function expandAll(
  goal: string,
  ctx: DecomposerContext,
  runner: LevelRunner,
  frontier: readonly Pending[],
  allowComposite: boolean,
): Promise<TaskSpec[][]> {
  const stop = new AbortController();
  const signal = AbortSignal.any([runner.signal, stop.signal]);
  try {
    return await Promise.all(
      frontier.map((node) => {
        const expansion: ExpansionContext = {
          task: node.task,
          ancestors: node.ancestors,
          dependencyIds: [...new Set([...node.inherited, ...(node.task.dependsOn ?? [])])],
        };
        return planLevel({ goal, catalogue: ctx.catalogue, allowComposite, expansion }, { ...runner, signal });
      }),
    );
  } catch (error) {
    stop.abort();
    throw error;
  }
}

/** A composite left for the executor to expand (`expand: "lazy"`), as the lazy plan returns it. */
function asLazy(task: TaskSpec): TaskSpec {
  return task.kind === "composite" ? { ...task, expand: "lazy" } : task;
}

function isComposite(task: TaskSpec): boolean {
  return task.kind === "composite";
}

/** Children with ids under `parentId`, their references to siblings renamed to match. */
export function namespaced(children: readonly TaskSpec[], parentId: string): TaskSpec[] {
  const siblings = new Set(children.map((child) => child.id));
  const rename = (id: string) => (siblings.has(id) ? `${parentId}/${id}` : id);
  return children.map((child) => ({
    ...child,
    id: rename(child.id),
    parentId,
    dependsOn: (child.dependsOn ?? []).map(rename),
    ...(child.input !== undefined
      ? { input: renameReferences(child.input, siblings, rename) as TaskSpec["input"] }
      : {}),
  }));
}

/** `input` with `{"$from": id}` and `{{ id.path }}` references to siblings renamed. */
function renameReferences(value: unknown, siblings: ReadonlySet<string>, rename: (id: string) => string): unknown {
  if (typeof value === "string") {
    if (!value.includes("{{")) {
      return value;
    }
    return value.replace(/\{\{(\s*)([A-Za-z0-9_][A-Za-z0-9_:/-]*)(?=[.[\s}])/g, (text, space: string, id: string) =>
      siblings.has(id) ? `{{${space}${rename(id)}` : text,
    );
  }
  if (Array.isArray(value)) {
    return value.map((item) => renameReferences(item, siblings, rename));
  }
  if (value === null || typeof value !== "object") {
    return value;
  }
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    copy[key] =
      key === "$from" && typeof member === "string" ? rename(member) : renameReferences(member, siblings, rename);
  }
  return copy;
}
