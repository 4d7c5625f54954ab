/**
 * Hierarchy semantics of a task graph (docs/concepts.md), as pure functions over plain tasks.
 *
 * A task with children (tasks whose `parentId` names it), or with `kind: "composite"`, is a
 * composite. At run time:
 * - a child inherits the dependencies of its parent and of every ancestor above it, so nothing
 *   inside a composite starts before the composite's own dependencies are done;
 * - a composite completes only after all its direct children, so a task that depends on a
 *   composite waits for the whole subtree.
 */
import type { Task } from "./task-graph.js";

/** The fields of a task that the hierarchy looks at. */
export type HierarchyTask = Pick<Task, "id" | "dependsOn" | "parentId" | "kind">;

/**
 * Direct children of every task, in task order. Every task id has an entry (empty for leaves);
 * a `parentId` naming no task in `tasks` is ignored (validation reports it as `missing_parent`).
 */
export function childrenOf(tasks: readonly HierarchyTask[]): Map<string, string[]> {
  const children = new Map<string, string[]>();
  for (const task of tasks) {
    children.set(task.id, []);
  }
  for (const task of tasks) {
    if (task.parentId === undefined) {
      continue;
    }
    children.get(task.parentId)?.push(task.id);
  }
  return children;
}

/**
 * Whether a task is a composite: it says `kind: "composite"` or it has children.
 *
 * @param children the map from {@link childrenOf}
 */
export function isComposite(
  task: Pick<Task, "id" | "kind">,
  children: ReadonlyMap<string, readonly string[]>,
): boolean {
  return task.kind === "composite" || (children.get(task.id)?.length ?? 0) > 0;
}

/**
 * For each task, the ids it must wait for at run time:
 * - its own `dependsOn`;
 * - the `dependsOn` of its parent, grandparent and so on (inherited);
 * - if it is a composite, each of its direct children.
 *
 * A dependency on a composite stays a dependency on the composite node (which itself waits for
 * its children). Ids naming no task in `tasks` are dropped, as is a task waiting for itself
 * (validation reports both). A parent chain that loops is followed once around, not forever.
 * The first task with a given id wins.
 *
 * @example
 * // deploy (composite) depends on build; its child migrate therefore waits for build too,
 * // and deploy waits for migrate.
 * effectiveDependencies([
 *   { id: "build", dependsOn: [] },
 *   { id: "deploy", dependsOn: ["build"] },
 *   { id: "migrate", dependsOn: [], parentId: "deploy" },
 * ]).get("migrate"); // ["build"]
 */
export function effectiveDependencies(tasks: readonly HierarchyTask[]): Map<string, string[]> {
  const ids: string[] = [];
  const indexOf = new Map<string, number>();
  const unique: HierarchyTask[] = [];
  for (const task of tasks) {
    if (indexOf.has(task.id)) {
      continue;
    }
    indexOf.set(task.id, ids.length);
    ids.push(task.id);
    unique.push(task);
  }
  const parentOf = Int32Array.from(unique, (task) =>
    task.parentId === undefined ? -1 : (indexOf.get(task.parentId) ?? -1),
  );
  const dependsOn = unique.map((task) => {
    const known: number[] = [];
    for (const id of task.dependsOn) {
      const index = indexOf.get(id);
      if (index !== undefined) {
        known.push(index);
      }
    }
    return known;
  });
  const waitsFor = effectiveWaitsFor(parentOf, dependsOn);
  return new Map(ids.map((id, node) => [id, (waitsFor[node] as number[]).map((target) => ids[target] as string)]));
}

/**
 * {@link effectiveDependencies} over task indices: `parentOf[k]` is the index of task k's parent
 * (-1 for none) and `dependsOn[k]` the indices it lists. Returns, for each task, the indices it
 * waits for: own first, then inherited (nearest ancestor first), then children; no repeats.
 */
export function effectiveWaitsFor(parentOf: ArrayLike<number>, dependsOn: readonly (readonly number[])[]): number[][] {
  const count = dependsOn.length;
  // Sparse: most tasks have no children.
  const children: (number[] | undefined)[] = new Array<number[] | undefined>(count);
  for (let node = 0; node < count; node++) {
    const parent = parentOf[node] as number;
    if (parent >= 0 && parent !== node) {
      (children[parent] ??= []).push(node);
    }
  }
  const seen = new Int32Array(count).fill(-1);
  const waitsFor: number[][] = [];
  for (let node = 0; node < count; node++) {
    const targets: number[] = [];
    seen[node] = node; // a task never waits for itself
    // Own dependencies, then each ancestor's; a parent chain that loops is cut after `count` steps.
    for (let source = node, steps = 0; source >= 0 && steps <= count; source = parentOf[source] as number, steps++) {
      if (steps > 0 && source === node) {
        break;
      }
      for (const target of dependsOn[source] as readonly number[]) {
        if (seen[target] === node) {
          continue;
        }
        seen[target] = node;
        targets.push(target);
      }
    }
    for (const child of children[node] ?? []) {
      if (seen[child] === node) {
        continue;
      }
      seen[child] = node;
      targets.push(child);
    }
    waitsFor.push(targets);
  }
  return waitsFor;
}
