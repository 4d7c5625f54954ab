/** htdag's public API: explicit named exports only. */
export { createOrchestrator } from "./create-orchestrator.js";
export type { Orchestrator, OrchestratorExtras, ComposeFromGoalOptions } from "./orchestrator/orchestrator.js";
export type { OrchestratorOptions, ExecutionDefaultsInput } from "./orchestrator/options.js";
export type { RunOptions } from "./orchestrator/run-options.js";
export type { RunResult, TaskSummary } from "./orchestrator/run-result.js";
export type { ListRunsOptions } from "./orchestrator/runs.js";
export type { DecomposeOptions } from "./orchestrator/decompose.js";
export type { WorkflowGoal, MultipleOptions, MultipleResult } from "./orchestrator/multiple.js";

export { defineStep } from "./composer/steps.js";
export type { StepContext, StepDefinition, StepFunction, Steps } from "./composer/steps.js";
export { aesGcmCodec } from "./store/codec.js";
export type { PayloadCodec } from "./store/codec.js";
export { TASK_STATUSES, RUN_STATUSES, TASK_TRANSITIONS, RUN_TRANSITIONS } from "./composer/state-machine.js";
export type { TaskStatus, RunStatus } from "./composer/state-machine.js";

export { validateGraph, collectGraphIssues } from "./graph/validate.js";
export type { ValidateOptions } from "./graph/validate.js";
export { loadGraphFile, saveGraphFile, parseGraphText, graphToJson, graphToYaml } from "./graph/file.js";
export { topologicalOrder, criticalPath, layers } from "./graph/algorithms.js";
export type {
  Task,
  TaskSpec,
  TaskGraph,
  TaskGraphInput,
  Condition,
  Json,
  GraphLimits,
  GraphSource,
} from "./graph/task-graph.js";
export type {
  Decomposer,
  DecomposerContext,
  DecomposerFunction,
  DecomposerResult,
  CatalogueEntry,
} from "./graph/decomposer.js";
export { ruleDecomposer } from "./decomposers/rules.js";
export type {
  Rule,
  RuleMatcher,
  RuleMatch,
  Captures,
  RuleDecomposer,
  RuleDecomposerOptions,
} from "./decomposers/rules.js";
export { RulesFileError } from "./decomposers/rules-file.js";
export { llmDecomposer } from "./decomposers/llm/decomposer.js";
export type { LlmDecomposer } from "./decomposers/llm/decomposer.js";
export type { LlmDecomposerOptions, LlmProvider } from "./decomposers/llm/options.js";
export { LlmProviderError, LlmRefusalError } from "./decomposers/llm/errors.js";
export { hybridDecomposer } from "./decomposers/hybrid.js";
export type { HybridDecomposer, HybridDecomposerOptions } from "./decomposers/hybrid.js";
export { recordPattern, patternConfidence } from "./decomposers/patterns.js";
export type { PatternPolicy } from "./decomposers/patterns.js";
export { normalizeGoal } from "./decomposers/normalize.js";
export { decompositionCacheKey } from "./decomposers/cache.js";
export type { DecompositionUsage } from "./decomposers/services.js";

export { createNotifications } from "./notifications/service.js";
export type {
  Notifications,
  NotificationsOptions,
  ListenOptions,
  RecentEventsOptions,
  SendEvent,
} from "./notifications/service.js";
export { Subscription } from "./notifications/subscription.js";
export { HtdagEmitter } from "./notifications/emitter.js";
export type { EmitterEventName, EmitterEvent } from "./notifications/emitter.js";
export type { EventHandler } from "./notifications/subscription.js";
export { EVENT_TYPES, EVENT_PAYLOADS, parseEvent, safeParseEvent, isEventType } from "./notifications/catalogue.js";
export type {
  EventType,
  EventPayload,
  EventMap,
  EventOf,
  HtdagEvent,
  KnownEvent,
  CustomEvent,
} from "./notifications/catalogue.js";
export { InvalidEventError, EventHandlerError, ListenConnectionError, CatchUpError } from "./notifications/errors.js";

export type { Optimizer } from "./optimizer/service.js";
export type {
  OptimizeOptions,
  OptimizationLevel,
  OptimizationChange,
  OptimizationResult,
  Recommendations,
  Evidence,
  EffectiveDefaults,
} from "./optimizer/types.js";
export type { OptimizationField, DurationModelSummary, MakespanPrediction } from "./optimizer/types.js";
export type { LastRunGraph } from "./optimizer/service.js";
export type { StoredTuning } from "./store/optimizer-tunings.js";
export { OPTIMIZATION_LEVELS } from "./optimizer/types.js";
export { percentile, summarizeDurations } from "./optimizer/statistics.js";
export type { DurationSummary } from "./store/duration-summary.js";
export type { TaskMetrics } from "./store/metrics.js";

export type { Worker, WorkerOptions } from "./composer/worker.js";
export type { Dashboard, DashboardOptions } from "./orchestrator/dashboard-port.js";
export { DashboardTokenRequiredError, DashboardNotBuiltError, DashboardListenError } from "./dashboard/errors.js";
export type { SubmitOptions } from "./orchestrator/runs.js";

export {
  HtdagError,
  WaitTimeoutError,
  GraphValidationError,
  DecompositionError,
  NonRetryableError,
  InvalidOptionError,
  RunNotFoundError,
  IllegalTransitionError,
  DatabaseConnectionError,
  MigrationError,
  NonJsonOutputError,
  StepTimeoutError,
} from "./errors.js";
export type { GraphIssue } from "./errors.js";
export { HTDAG_ERROR_CODES, type HtdagErrorCode } from "./errors.js";
