/**
 * Structure checks of validation that look at ids, parents and dependencies across tasks:
 * duplicates, unknown or self dependencies, missing parents, parent cycles, depth, composites
 * and step names. Each check reports every offender, then the problems are removed from a
 * "cleaned" copy of the tasks so that later checks (cycles, references) do not report them twice.
 */
import type { GraphIssue } from "../errors.js";
import { didYouMean } from "./suggest.js";
import { checkMerged } from "./validate-merged.js";
import type { Task } from "./task-graph.js";

/** A task that passed the shape checks, with its position in the input's `tasks` array. */
export interface TaskEntry {
  index: number;
  task: Task;
}

/** The ids written in the input, parsed or not (a `Set` or the keys of a `Map`). */
export interface KnownIds {
  has(id: string): boolean;
}

/** What the structure checks found, and the tasks' links with every reported problem removed. */
export interface StructureResult {
  issues: GraphIssue[];
  /** Position in `entries` of each task id. */
  nodeOf: Map<string, number>;
  /** Cleaned parent of each entry as an entry position, -1 for roots: no missing parents, no loops. */
  parentOf: Int32Array;
  /** Cleaned dependencies of each entry as entry positions: known, not itself, no ancestor or descendant. */
  dependsOn: number[][];
}

/** Children of each entry as entry positions; undefined for a leaf. */
type Children = readonly (readonly number[] | undefined)[];

/** Suggestions compare against every id, so stop suggesting after this many in one graph. */
const MAX_SUGGESTIONS = 100;

/**
 * Run the structure checks.
 *
 * @param entries parsed tasks with unique ids, in input order
 * @param knownIds ids of every task in the input, including tasks that failed the shape checks
 *   (a dependency on those is not "unknown"; it is only dropped from the cleaned links)
 */
export function checkStructure(
  entries: readonly TaskEntry[],
  knownIds: KnownIds,
  maxDepth: number,
  stepNames: ReadonlySet<string> | undefined,
): StructureResult {
  const nodeOf = new Map<string, number>();
  entries.forEach((entry, node) => nodeOf.set(entry.task.id, node));
  const issues: GraphIssue[] = [];
  const parentOf = checkParents(entries, nodeOf, knownIds, issues);
  const depth = depthsOf(parentOf);
  issues.push(...checkDepth(entries, parentOf, depth, maxDepth));
  const links: Links = { entries, nodeOf, knownIds, parentOf, depth, issues, suggestions: MAX_SUGGESTIONS };
  const dependsOn = entries.map((_, node) => checkDependencies(node, links));
  const children = new Array<number[] | undefined>(entries.length); // sparse: most tasks are leaves
  parentOf.forEach((parent, node) => {
    if (parent >= 0) {
      (children[parent] ??= []).push(node);
    }
  });
  issues.push(...checkComposites(entries, children));
  issues.push(...checkWaits(entries, children));
  if (stepNames !== undefined) {
    issues.push(...checkSteps(entries, children, stepNames));
  }
  issues.push(
    ...checkMerged(
      entries,
      knownIds,
      (node) => (entries[node] as TaskEntry).task.kind !== "composite" && children[node] === undefined,
      stepNames,
    ),
  );
  return { issues, nodeOf, parentOf, dependsOn };
}

/** Report missing parents and parent loops; return the cleaned parent of each entry. */
function checkParents(
  entries: readonly TaskEntry[],
  nodeOf: ReadonlyMap<string, number>,
  knownIds: KnownIds,
  issues: GraphIssue[],
): Int32Array {
  const parentOf = new Int32Array(entries.length).fill(-1);
  entries.forEach(({ index, task }, node) => {
    if (task.parentId === undefined) {
      return;
    }
    const parent = nodeOf.get(task.parentId);
    if (parent !== undefined) {
      parentOf[node] = parent;
    } else if (!knownIds.has(task.parentId)) {
      issues.push({
        code: "missing_parent",
        path: `tasks[${index}].parentId`,
        message: `parent ${JSON.stringify(task.parentId)} of task ${JSON.stringify(task.id)} is not a task in this graph${didYouMean(task.parentId, nodeOf.keys())}; add it or remove parentId`,
      });
    }
  });
  for (const loop of parentLoops(parentOf)) {
    const first = entries[loop[0] as number] as TaskEntry;
    issues.push({
      code: "parent_cycle",
      path: `tasks[${first.index}].parentId`,
      message: `parent cycle: ${loop.map((node) => (entries[node] as TaskEntry).task.id).join(" > ")} (each task is the parent of the next); a task cannot be nested inside itself or its own descendant, change one of these parentIds`,
    });
    for (const node of loop) {
      parentOf[node] = -1;
    }
  }
  return parentOf;
}

/**
 * Each loop of parent links once, written container first (`a > c > b > a`: a is the parent of
 * c, c of b, b of a), starting and ending at its lowest position.
 */
function parentLoops(parentOf: Int32Array): number[][] {
  const WALKING = 1;
  const DONE = 2;
  const state = new Uint8Array(parentOf.length);
  const loops: number[][] = [];
  const walk: number[] = [];
  for (let start = 0; start < parentOf.length; start++) {
    if (state[start] !== 0) {
      continue;
    }
    walk.length = 0;
    let current = start;
    while (current >= 0 && state[current] === 0) {
      state[current] = WALKING;
      walk.push(current);
      current = parentOf[current] as number;
    }
    if (current >= 0 && state[current] === WALKING) {
      const members = walk.slice(walk.indexOf(current)).reverse();
      const at = members.indexOf(Math.min(...members));
      loops.push([...members.slice(at), ...members.slice(0, at), members[at] as number]);
    }
    for (const node of walk) {
      state[node] = DONE;
    }
  }
  return loops;
}

/** Depth of every entry under the cleaned (loop-free) parents; a root has depth 1. */
function depthsOf(parentOf: Int32Array): Int32Array {
  const depth = new Int32Array(parentOf.length);
  const chain: number[] = [];
  for (let start = 0; start < parentOf.length; start++) {
    let current = start;
    while (current >= 0 && depth[current] === 0) {
      chain.push(current);
      current = parentOf[current] as number;
    }
    let below = current < 0 ? 0 : (depth[current] as number);
    while (chain.length > 0) {
      depth[chain.pop() as number] = ++below;
    }
  }
  return depth;
}

/** Tasks one level deeper than allowed (deeper ones lie under them and are not repeated). */
function checkDepth(
  entries: readonly TaskEntry[],
  parentOf: Int32Array,
  depth: Int32Array,
  maxDepth: number,
): GraphIssue[] {
  const issues: GraphIssue[] = [];
  depth.forEach((level, node) => {
    if (level !== maxDepth + 1) {
      return;
    }
    const chain: string[] = [];
    for (let at = node; at >= 0; at = parentOf[at] as number) {
      chain.unshift((entries[at] as TaskEntry).task.id);
    }
    const { index, task } = entries[node] as TaskEntry;
    issues.push({
      code: "depth_exceeded",
      path: `tasks[${index}].parentId`,
      message: `task ${JSON.stringify(task.id)} is nested ${level} levels deep (${chain.join(" > ")}), deeper than limits.maxDepth ${maxDepth}; flatten the hierarchy or raise limits.maxDepth`,
    });
  });
  return issues;
}

/** Whether `ancestor` lies above `node` under the cleaned parents, in O(depth difference). */
function isAncestor(ancestor: number, node: number, parentOf: Int32Array, depth: Int32Array): boolean {
  const levels = (depth[node] as number) - (depth[ancestor] as number);
  let current = node;
  for (let level = 0; level < levels && current >= 0; level++) {
    current = parentOf[current] as number;
  }
  return levels > 0 && current === ancestor;
}

/** What the dependency check reads, and where it reports. */
interface Links {
  entries: readonly TaskEntry[];
  nodeOf: ReadonlyMap<string, number>;
  knownIds: KnownIds;
  parentOf: Int32Array;
  depth: Int32Array;
  issues: GraphIssue[];
  /** How many "did you mean" lookups are left. */
  suggestions: number;
}

/** Report bad entries of one task's dependsOn; return the sound ones as entry positions. */
function checkDependencies(node: number, links: Links): number[] {
  const { index, task } = links.entries[node] as TaskEntry;
  const { nodeOf, parentOf } = links;
  const rootTask = parentOf[node] === -1;
  const sound: number[] = [];
  for (let j = 0; j < task.dependsOn.length; j++) {
    const dependency = task.dependsOn[j] as string;
    const target = nodeOf.get(dependency);
    // Fast path, the common case: a known task, not itself, and no hierarchy between the two.
    if (target !== undefined && target !== node && rootTask && parentOf[target] === -1) {
      sound.push(target);
      continue;
    }
    const problem = dependencyProblem(node, dependency, target, links);
    if (problem === undefined) {
      if (target !== undefined) {
        sound.push(target);
      }
    } else if (problem !== "skip") {
      links.issues.push({ ...problem, path: `tasks[${index}].dependsOn[${j}]` });
    }
  }
  return sound;
}

/** The issue with one dependency, "skip" to drop it silently, or undefined if it is sound. */
function dependencyProblem(
  node: number,
  dependency: string,
  target: number | undefined,
  links: Links,
): Omit<GraphIssue, "path"> | "skip" | undefined {
  const { task } = links.entries[node] as TaskEntry;
  let code: string;
  if (dependency === task.id) {
    code = "self_dependency";
  } else if (!links.knownIds.has(dependency)) {
    code = "unknown_dependency";
  }
  // A known id without an entry failed its own shape checks (reported there): leave it out.
  else if (target === undefined) {
    return "skip";
  } else if (isAncestor(target, node, links.parentOf, links.depth)) {
    code = "child_depends_on_parent";
  } else if (isAncestor(node, target, links.parentOf, links.depth)) {
    code = "parent_depends_on_child";
  } else {
    return undefined;
  }
  return { code, message: dependencyMessage(code, task.id, dependency, links) };
}

function dependencyMessage(code: string, taskId: string, dependency: string, links: Links): string {
  const name = JSON.stringify(taskId);
  const quoted = JSON.stringify(dependency);
  switch (code) {
    case "self_dependency":
      return `task ${name} depends on itself; remove ${quoted} from its dependsOn`;
    case "unknown_dependency": {
      const hint = links.suggestions-- > 0 ? didYouMean(dependency, links.nodeOf.keys()) : "";
      return `task ${name} depends on ${quoted}, which is not a task in this graph${hint}; fix the id or add a task ${quoted}`;
    }
    case "child_depends_on_parent":
      return `task ${name} depends on its own ancestor ${quoted}, which completes only after its children; remove ${quoted} from dependsOn (a child already inherits its ancestors' dependencies)`;
    default:
      return `composite ${name} depends on its own descendant ${quoted}; a composite already waits for its children, and its children would inherit this dependency, so remove ${quoted} from dependsOn`;
  }
}

/** Composites run no step, and a composite declared as such needs children or lazy expansion. */
function checkComposites(entries: readonly TaskEntry[], children: Children): GraphIssue[] {
  const issues: GraphIssue[] = [];
  entries.forEach(({ index, task }, node) => {
    const childNodes = children[node] ?? [];
    if (task.kind !== "composite" && (childNodes.length === 0 || task.step === undefined)) {
      return;
    }
    const own = childNodes.map((child) => (entries[child] as TaskEntry).task.id);
    const name = JSON.stringify(task.id);
    if (task.step !== undefined) {
      const why =
        own.length > 0
          ? `has children ${own
              .slice(0, 3)
              .map((id) => JSON.stringify(id))
              .join(", ")}${own.length > 3 ? ", …" : ""}`
          : `has kind "composite"`;
      issues.push({
        code: "composite_has_step",
        path: `tasks[${index}].step`,
        message: `task ${name} ${why}, which makes it a composite, but names step ${JSON.stringify(task.step)}; a composite runs no step of its own, so remove "step" or move the work into a child task`,
      });
    }
    if (task.kind === "composite" && own.length === 0 && task.expand !== "lazy") {
      issues.push({
        code: "empty_composite",
        path: `tasks[${index}].kind`,
        message: `task ${name} has kind "composite" but no children; add tasks with parentId ${name}, set expand: "lazy" to decompose it at run time, or remove kind`,
      });
    }
  });
  return issues;
}

/** Every atomic task needs a step function named by `step`, or by its id when `step` is absent. */
function checkSteps(entries: readonly TaskEntry[], children: Children, stepNames: ReadonlySet<string>): GraphIssue[] {
  const listed = [...stepNames].slice(0, 10).join(", ") + (stepNames.size > 10 ? ", …" : "");
  const known = stepNames.size === 0 ? "no steps are registered" : `registered: ${listed}`;
  const issues: GraphIssue[] = [];
  entries.forEach(({ index, task }, node) => {
    const atomic = task.kind !== "composite" && children[node] === undefined;
    const step = task.step ?? task.id;
    // A wait task runs no step (checkWaits).
    if (!atomic || task.wait !== undefined || stepNames.has(step)) {
      return;
    }
    issues.push({
      code: "unknown_step",
      path: `tasks[${index}].${task.step === undefined ? "id" : "step"}`,
      message: `no step function named ${JSON.stringify(step)} for task ${JSON.stringify(task.id)}${didYouMean(step, stepNames)}; register one under that name or set "step" to a registered one (${known})`,
    });
  });
  return issues;
}

/** Fields a wait task cannot have: it runs no step, so nothing would read them. */
const NOT_IN_A_WAIT = ["step", "input", "when", "forEach", "expand"] as const;

/**
 * A wait task (`wait`) runs no step: it has no step, input, condition, fan-out or expansion, and is
 * not a composite. A task merged into another cannot wait either (validate-merged.ts).
 */
function checkWaits(entries: readonly TaskEntry[], children: Children): GraphIssue[] {
  const issues: GraphIssue[] = [];
  entries.forEach(({ index, task }, node) => {
    if (task.wait === undefined) {
      return;
    }
    const name = JSON.stringify(task.id);
    for (const field of NOT_IN_A_WAIT) {
      if (task[field] !== undefined) {
        issues.push({
          code: "invalid_wait",
          path: `tasks[${index}].${field}`,
          message: `task ${name} is a wait task (it sets "wait") and sets "${field}"; a wait task runs no step, so remove "${field}", or make the step its own task that depends on ${name}`,
        });
      }
    }
    if (task.kind === "composite" || children[node] !== undefined) {
      issues.push({
        code: "invalid_wait",
        path: `tasks[${index}].wait`,
        message: `task ${name} is a composite (it has children or kind "composite") and sets "wait"; only an atomic task can wait, so move "wait" into a task of its own`,
      });
    }
  });
  return issues;
}
