/**
 * `htdag/graph`: tools over task graphs that need no database: validation, files (JSON and YAML),
 * and the graph algorithms (topological order, layers, critical path).
 * @example
 * import { loadGraphFile, criticalPath } from "htdag/graph";
 * const graph = await loadGraphFile("release.yaml");
 * console.log(criticalPath(graph.tasks, () => 1).path);
 */
export { validateGraph, collectGraphIssues } from "../graph/validate.js";
export type { ValidateOptions } from "../graph/validate.js";
export { loadGraphFile, saveGraphFile, parseGraphText, graphToJson, graphToYaml } from "../graph/file.js";
export { topologicalOrder, criticalPath, layers } from "../graph/algorithms.js";
export type {
  Task,
  TaskSpec,
  TaskGraph,
  TaskGraphInput,
  Condition,
  Json,
  GraphLimits,
  GraphSource,
} from "../graph/task-graph.js";
export { GraphValidationError } from "../errors.js";
export type { GraphIssue } from "../errors.js";
