/**
 * The names of what htdag traces and measures (docs/observability.md): its spans, their attributes,
 * its metrics, and the GenAI semantic conventions of LLM calls.
 */

/** Span names. */
export const SPAN = {
  /** A run, from its submission to its final status in this process (a child of the caller's span). */
  run: "htdag.run",
  /** One `decomposeGoal`. */
  decompose: "htdag.decompose",
  /** One attempt of one task; its step runs inside it. */
  task: "htdag.task",
} as const;

/** Attributes of htdag's spans and metrics. */
export const ATTRIBUTE = {
  runId: "htdag.run_id",
  taskId: "htdag.task_id",
  step: "htdag.step",
  attempt: "htdag.attempt",
  status: "htdag.status",
  workflow: "htdag.workflow",
  goal: "htdag.goal",
  decomposer: "htdag.decomposer",
  graphId: "htdag.graph_id",
  tasks: "htdag.tasks",
  /** On a run span: true when workers run the run (submit), so the span ends once it is submitted. */
  submitted: "htdag.submitted",
} as const;

/** Metric names (histograms in ms). */
export const METRIC = {
  taskDuration: "htdag.task.duration",
  queueWait: "htdag.task.queue_wait",
  tasks: "htdag.tasks",
  llmTokens: "htdag.llm.tokens",
} as const;

/** The OpenTelemetry GenAI semantic conventions an LLM call's span and token counter carry. */
export const GEN_AI = {
  operationName: "gen_ai.operation.name",
  providerName: "gen_ai.provider.name",
  requestModel: "gen_ai.request.model",
  responseModel: "gen_ai.response.model",
  requestMaxTokens: "gen_ai.request.max_tokens",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  /** `input` or `output`: the direction of the tokens a token count counts. */
  tokenType: "gen_ai.token.type",
  errorType: "error.type",
} as const;
