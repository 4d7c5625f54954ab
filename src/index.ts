/** htdag's public API: explicit named exports only. */
export { createOrchestrator } from "./orchestrator/create.js";
export type { Orchestrator, OrchestratorExtras, ComposeFromGoalOptions } from "./orchestrator/create.js";
export type { OrchestratorOptions, ExecutionDefaultsInput } from "./orchestrator/options.js";
export type { RunOptions } from "./orchestrator/run-options.js";
export type { RunResult, TaskSummary } from "./orchestrator/run-result.js";
export type { ListRunsOptions } from "./orchestrator/runs.js";
export type { DecomposeOptions } from "./orchestrator/decompose.js";
export type { WorkflowGoal, MultipleOptions, MultipleResult } from "./orchestrator/multiple.js";

export { defineStep } from "./composer/steps.js";
export type { StepContext, StepDefinition, StepFunction, Steps } from "./composer/steps.js";
export { aesGcmCodec } from "./composer/codec.js";
export type { PayloadCodec } from "./composer/codec.js";
export { TASK_STATUSES, RUN_STATUSES, TASK_TRANSITIONS, RUN_TRANSITIONS } from "./composer/state-machine.js";
export type { TaskStatus, RunStatus } from "./composer/state-machine.js";

export { validateGraph, collectGraphIssues } from "./decomposers/validate.js";
export type { ValidateOptions } from "./decomposers/validate.js";
export { loadGraphFile, saveGraphFile, parseGraphText, graphToJson, graphToYaml } from "./decomposers/graph-file.js";
export { topologicalOrder, criticalPath, layers } from "./decomposers/graph-algorithms.js";
export type { Task, TaskSpec, TaskGraph, TaskGraphInput, Condition, Json, GraphLimits, GraphSource } from "./decomposers/task-graph.js";
export type { Decomposer, DecomposerContext, DecomposerFunction, DecomposerResult, CatalogueEntry } from "./decomposers/types.js";

export {
  HtdagError, GraphValidationError, DecompositionError, NonRetryableError, InvalidOptionError, RunNotFoundError,
  IllegalTransitionError, DatabaseConnectionError, MigrationError, NonJsonOutputError, StepTimeoutError,
} from "./errors.js";
export type { GraphIssue } from "./errors.js";
