/**
 * htdag's public API: explicit named exports only. Tools over graphs are in `htdag/graph`, the
 * event catalogue in `htdag/events`; every name is documented in docs/api.md.
 */

// The orchestrator: creating it, its options, what runs return.
export { createOrchestrator } from "./create-orchestrator.js";
export type {
  Orchestrator,
  OrchestratorExtras,
  ComposeFromGoalOptions,
  SignalResult,
} from "./orchestrator/orchestrator.js";
export type { ScheduleOptions, ScheduleInfo } from "./orchestrator/schedule-options.js";
export type {
  OrchestratorOptions,
  ExecutionDefaultsInput,
  ResolvedOrchestratorOptions,
  ModelPrice,
} from "./orchestrator/options.js";
export type { Usage } from "./orchestrator/usage.js";
export type { RunOptions, ReplanOptions } from "./orchestrator/run-options.js";
export type { RunRevision } from "./store/revisions.js";
export type { RunResult, TaskSummary, TaskSummaryStatus, TaskWaiting } from "./orchestrator/run-result.js";
export type { RunSummary } from "./orchestrator/run-summary.js";
export type { ListRunsOptions, SubmitOptions } from "./orchestrator/runs.js";
export type { DecomposeOptions } from "./orchestrator/decompose.js";
export type { WorkflowGoal, MultipleOptions, MultipleResult } from "./orchestrator/multiple.js";
export type { Dashboard, DashboardOptions } from "./orchestrator/dashboard-port.js";
export type { Db, Queryable, QueryResult, QueryOptions, Listener, ListenHandlers, DbStats } from "./store/db.js";

// Steps, workers and the statuses they move through.
export { defineStep } from "./composer/steps.js";
export { FALLBACK_STEP } from "./graph/fallback.js";
export type { StepContext, StepDefinition, StepFunction, Steps, UsageReport } from "./composer/steps.js";
export type { Worker, WorkerOptions } from "./composer/worker.js";
export { TASK_STATUSES, RUN_STATUSES, TASK_TRANSITIONS, RUN_TRANSITIONS } from "./composer/state-machine.js";
export type { TaskStatus, RunStatus } from "./composer/state-machine.js";
export { aesGcmCodec } from "./store/codec.js";
export type { PayloadCodec } from "./store/codec.js";

// The task graph: its model, and validation (more tools in htdag/graph).
export { validateGraph } from "./graph/validate.js";
export type { ValidateOptions } from "./graph/validate.js";
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
export type { WaitSpec, ConcurrencyLimit, RateLimit } from "./graph/flow-control.js";

// Decomposers.
export type {
  Decomposer,
  DecomposerContext,
  DecomposerFunction,
  DecomposerResult,
  CatalogueEntry,
  PlanRevisionRequest,
  StreamingDecomposer,
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
export { llmDecomposer } from "./decomposers/llm/decomposer.js";
export type { LlmDecomposer } from "./decomposers/llm/decomposer.js";
export type { LlmDecomposerOptions, LlmProvider } from "./decomposers/llm/options.js";
export { llmStep } from "./decomposers/llm/step.js";
export type { LlmStepOptions } from "./decomposers/llm/step.js";
export { hybridDecomposer } from "./decomposers/hybrid.js";
export type { HybridDecomposer, HybridDecomposerOptions } from "./decomposers/hybrid.js";
export type { PatternPolicy } from "./decomposers/patterns.js";
export type { DecompositionUsage } from "./decomposers/services.js";

// Events: `orch.notifications` and `orch.on()` (the catalogue itself is in htdag/events).
export type {
  Notifications,
  NotificationsOptions,
  ListenOptions,
  RecentEventsOptions,
  SendEvent,
} from "./notifications/service.js";
export type { Subscription, EventHandler } from "./notifications/subscription.js";
export type { EmitterEventName, EmitterEvent } from "./notifications/emitter.js";
export type { EventType, HtdagEvent } from "./notifications/catalogue.js";

// The optimizer: `orch.optimizer`.
export type { Optimizer, LastRunGraph } from "./optimizer/service.js";
export { OPTIMIZATION_LEVELS } from "./optimizer/types.js";
export type {
  OptimizeOptions,
  OptimizationLevel,
  OptimizationChange,
  OptimizationField,
  OptimizationResult,
  Recommendations,
  Evidence,
  EffectiveDefaults,
  DurationModelSummary,
  MakespanPrediction,
  CostRecommendation,
  SpendPercentiles,
  FailurePattern,
} from "./optimizer/types.js";
export type { StoredTuning } from "./store/optimizer-tunings.js";
export type { DurationSummary } from "./store/duration-summary.js";
export type { TaskMetrics } from "./store/metrics.js";

// Errors: every one carries a stable `code`.
export {
  HTDAG_ERROR_CODES,
  HtdagError,
  WaitTimeoutError,
  LeaseExpiredError,
  BudgetExceededError,
  SignalError,
  SignalTimeoutError,
  ScheduleFireError,
  GraphValidationError,
  DecompositionError,
  NonRetryableError,
  ReplanError,
  InvalidOptionError,
  RunNotFoundError,
  RunDetachedError,
  IllegalTransitionError,
  DatabaseConnectionError,
  MigrationError,
  MigrationMismatchError,
  SeedLoadError,
  NonJsonOutputError,
  UnstorableOutputError,
  OutputTooLargeError,
  StepTimeoutError,
} from "./errors.js";
export type { GraphIssue, HtdagErrorCode, Spend } from "./errors.js";
export { RulesFileError } from "./decomposers/rules-file.js";
export { RuleMatchTimeoutError } from "./decomposers/rule-safety.js";
export { LlmProviderError, LlmRefusalError } from "./decomposers/llm/errors.js";
export { LlmStepProviderError } from "./decomposers/llm/step-errors.js";
export { InvalidEventError, EventHandlerError, ListenConnectionError, CatchUpError } from "./notifications/errors.js";
export { DashboardTokenRequiredError, DashboardNotBuiltError, DashboardListenError } from "./dashboard/errors.js";
