/**
 * Task graph validation (docs/concepts.md): turns `unknown` input into a `TaskGraph`, or reports
 * every problem at once, each with the path of the offending value (`tasks[3].dependsOn[1]`).
 *
 * The checks run in layers, each in its own file, and each layer keeps going past problems so
 * that one bad task does not hide problems in others:
 * 1. shape (`validate-schema.ts`): the graph's fields, each task, ids, limits; around it, values
 *    (`validate-values.ts`): no cycle, stack-deep nesting or JSON bomb reaches the parser, and no
 *    text PostgreSQL cannot store (a NUL, an unpaired surrogate) reaches the store;
 * 2. structure (`validate-structure.ts`): dependencies, parents, depth, composites, steps, merged
 *    chains (`validate-merged.ts`);
 * 3. cycles (`validate-cycles.ts`) over the run-time edges of `hierarchy.ts`;
 * 4. references (`validate-references.ts`) from inputs, conditions and forEach.
 *
 * Issue codes: `invalid_field`, `unknown_field`, `duplicate_id`, `too_many_tasks`,
 * `input_too_large`, `unknown_dependency`, `self_dependency`, `child_depends_on_parent`,
 * `parent_depends_on_child`, `unstorable_text`, `missing_parent`, `parent_cycle`, `depth_exceeded`,
 * `composite_has_step`, `empty_composite`, `invalid_wait`, `unknown_step`, `invalid_merge`, `cycle`, `bad_reference`.
 */
import { randomUUID } from "node:crypto";
import { GraphValidationError, InvalidOptionError, type GraphIssue } from "../errors.js";
import { hasFallbackStep } from "./fallback.js";
import { checkCycles } from "./validate-cycles.js";
import { checkReferences } from "./validate-references.js";
import { parseGraphFields, parseTask } from "./validate-schema.js";
import { checkStructure, type KnownIds, type TaskEntry } from "./validate-structure.js";
import { taskValueIssues, unstorableFieldIssues } from "./validate-values.js";
import { DEFAULT_GRAPH_LIMITS, type GraphLimits, type GraphSource, type TaskGraph } from "./task-graph.js";

/** Options of {@link validateGraph} and {@link collectGraphIssues}. */
export interface ValidateOptions {
  /**
   * Limits to enforce; a limit left out takes its default.
   * @default { maxTasks: 10000, maxInputBytes: 65536, maxDepth: 5 } (DEFAULT_GRAPH_LIMITS)
   */
  limits?: GraphLimits;
  /**
   * Names of the registered step functions. When given, every atomic task (no children, kind
   * not "composite") must name one, by `step` or, when `step` is absent, by its id; unless they
   * hold the fallback step `"*"`, which runs any task.
   * @default undefined (step names are not checked)
   */
  stepNames?: Iterable<string>;
  /**
   * Ids of tasks outside the graph that every task of it waits for, such as a lazy composite's
   * dependencies when its children are validated: a task may name them in `dependsOn` and read
   * their outputs, and they are not reported as unknown.
   * @default none
   */
  upstream?: Iterable<string>;
  /** Values for the graph's metadata fields when the input leaves them out. */
  defaults?: {
    /** @default crypto.randomUUID() */
    id?: string;
    /** @default "manual" */
    decomposer?: string;
    /** @default "file" */
    source?: GraphSource;
  };
}

/**
 * Validate a task graph and report every problem instead of throwing.
 *
 * @returns the graph (defaults applied) and no issues, or `graph: null` and every issue found,
 *   ordered by task
 * @throws InvalidOptionError if `options.limits` holds a value that is not a positive integer
 */
export function collectGraphIssues(
  input: unknown,
  options: ValidateOptions = {},
): { graph: TaskGraph | null; issues: GraphIssue[] } {
  const limits = resolveLimits(options.limits);
  // With the fallback step ("*") bound, every atomic task has a step to run: no name is unknown.
  const named = options.stepNames === undefined ? undefined : new Set(options.stepNames);
  const stepNames = named === undefined || hasFallbackStep(named) ? undefined : named;
  const { fields, issues } = parseGraphFields(input);
  const rawTasks = tasksOf(input);
  if (rawTasks.length > limits.maxTasks) {
    issues.push({
      code: "too_many_tasks",
      path: "tasks",
      message: `the graph has ${rawTasks.length} tasks, more than limits.maxTasks ${limits.maxTasks}; split the goal into several runs or raise limits.maxTasks`,
    });
  }
  const parsed = parseTasks(rawTasks, limits.maxInputBytes, issues);
  const { entries } = parsed;
  const upstream = new Set(options.upstream ?? []);
  // An upstream id is known but has no entry: a dependency on it is dropped from the graph's links,
  // and a reference to it is sound (both as for a task that failed its own checks).
  const knownIds: KnownIds =
    upstream.size === 0 ? parsed.knownIds : { has: (id) => parsed.knownIds.has(id) || upstream.has(id) };
  issues.push(...unstorableFieldIssues(fields && { ...options.defaults, ...fields }));
  const structure = checkStructure(entries, knownIds, limits.maxDepth, stepNames);
  const cycles = checkCycles(entries, structure);
  issues.push(...structure.issues, ...cycles.issues, ...checkReferences(entries, knownIds, cycles.runtime));
  if (issues.length > 0 || fields === null) {
    return { graph: null, issues: byTask(issues) };
  }
  const graph: TaskGraph = {
    id: fields.id ?? options.defaults?.id ?? randomUUID(),
    goal: fields.goal,
    tasks: entries.map((entry) => entry.task),
    decomposedAt: fields.decomposedAt ?? new Date().toISOString(),
    decomposer: fields.decomposer ?? options.defaults?.decomposer ?? "manual",
    source: fields.source ?? options.defaults?.source ?? "file",
  };
  return { graph, issues: [] };
}

/**
 * Validate a task graph: `goal` and `tasks` as a user, a file or a decomposer writes them.
 * Task `input` values are taken over as given, not copied.
 *
 * @returns the graph with defaults applied (`description: ""`, `dependsOn: []`, metadata)
 * @throws GraphValidationError listing every problem found, not just the first
 * @example
 * const graph = validateGraph({
 *   goal: "ship v2",
 *   tasks: [{ id: "build" }, { id: "deploy", dependsOn: ["build"], input: { artifact: { $from: "build", path: "file" } } }],
 * });
 */
export function validateGraph(input: unknown, options: ValidateOptions = {}): TaskGraph {
  const { graph, issues } = collectGraphIssues(input, options);
  if (graph === null) {
    throw new GraphValidationError(issues);
  }
  return graph;
}

function resolveLimits(limits: GraphLimits | undefined): Required<GraphLimits> {
  const given = Object.entries(limits ?? {}).filter(([, value]) => value !== undefined);
  const resolved: Required<GraphLimits> = { ...DEFAULT_GRAPH_LIMITS, ...Object.fromEntries(given) };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new InvalidOptionError(`limits.${name}`, "a positive integer", value, "validateGraph");
    }
  }
  return resolved;
}

/** The input's `tasks` if it is an array (its other problems are reported by the graph schema). */
function tasksOf(input: unknown): readonly unknown[] {
  if (input === null || typeof input !== "object") {
    return [];
  }
  const tasks = (input as { tasks?: unknown }).tasks;
  return Array.isArray(tasks) ? tasks : [];
}

/**
 * Parse every task; report shape problems, duplicate ids and oversized inputs. Entries hold the
 * tasks that parsed, first occurrence of each id; `knownIds` every id written, parsed or not.
 */
function parseTasks(
  rawTasks: readonly unknown[],
  maxInputBytes: number,
  issues: GraphIssue[],
): { entries: TaskEntry[]; knownIds: KnownIds } {
  const entries: TaskEntry[] = [];
  const firstIndex = new Map<string, number>();
  rawTasks.forEach((raw, index) => {
    // A task holding a cycle, a stack-deep nesting or a JSON bomb is not parsed: its id stays known.
    const { hazards, unstorable } = taskValueIssues(raw, index, maxInputBytes);
    const { task, issues: shapeIssues } = hazards.length > 0 ? { task: null, issues: hazards } : parseTask(raw, index);
    shapeIssues.push(...unstorable);
    issues.push(...shapeIssues);
    const rawId = raw !== null && typeof raw === "object" ? (raw as { id?: unknown }).id : undefined;
    if (typeof rawId === "string") {
      const earlier = firstIndex.get(rawId);
      if (earlier !== undefined) {
        issues.push({
          code: "duplicate_id",
          path: `tasks[${index}].id`,
          message: `task id ${JSON.stringify(rawId)} is already used by tasks[${earlier}]; give every task a unique id`,
        });
        return;
      }
      firstIndex.set(rawId, index);
    }
    if (task === null) {
      return;
    }
    entries.push({ index, task });
    const inputBytes = task.input === undefined ? 0 : Buffer.byteLength(JSON.stringify(task.input), "utf8");
    if (inputBytes > maxInputBytes) {
      issues.push({
        code: "input_too_large",
        path: `tasks[${index}].input`,
        message: `input of task ${JSON.stringify(task.id)} is ${inputBytes} bytes of JSON, more than limits.maxInputBytes ${maxInputBytes}; pass large data by reference (a URL, a file path, or {"$from": taskId}) or raise limits.maxInputBytes`,
      });
    }
  });
  return { entries, knownIds: firstIndex };
}

/** Issues ordered by the task they concern (graph-level issues first), stable otherwise. */
function byTask(issues: readonly GraphIssue[]): GraphIssue[] {
  const taskIndex = (issue: GraphIssue): number => {
    const match = /^tasks\[(\d+)\]/.exec(issue.path);
    return match === null ? -1 : Number(match[1]);
  };
  return issues
    .map((issue, order) => ({ issue, order, task: taskIndex(issue) }))
    .sort((a, b) => a.task - b.task || a.order - b.order)
    .map(({ issue }) => issue);
}
