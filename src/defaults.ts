/**
 * Every default of the public options, defined once. The zod schemas read their `.default(…)` from
 * here, the CLI reads its settings' defaults from here, and test/unit/defaults.test.ts checks that the
 * JSDoc `@default` of each public option states the same value. A leaf module: every layer may import it.
 */

/** Defaults of `createOrchestrator` (`OrchestratorOptions`). */
export const ORCHESTRATOR_DEFAULTS = {
  /** Postgres schema holding htdag's tables. */
  schema: "htdag",
  /** LISTEN/NOTIFY channel of events. */
  channel: "htdag_events",
  /** Apply pending migrations on start. */
  migrate: true,
  /** Send a NOTIFY for each event. */
  realTimeNotifications: true,
  /** Connections in the pool htdag creates for a URL. */
  poolSize: 10,
  /** How long a claimed task stays leased without a heartbeat, in ms. */
  leaseMs: 30_000,
  /** Most tasks in one graph. */
  maxTasks: 10_000,
  /** Largest input of one task in bytes of JSON. */
  maxInputBytes: 65_536,
  /** Largest output of one task in bytes of JSON as stored (16 MiB); also the most output one settle call carries. */
  maxOutputBytes: 16_777_216,
  /** Trace and measure through @opentelemetry/api. */
  telemetry: false,
} as const;

/**
 * The largest `maxOutputBytes` (32 MiB). A jsonb value holds at most 255 MB, and a value takes up to
 * six times its JSON text there (an array of small numbers); a settle call carries at most
 * `maxOutputBytes` of outputs, so its jsonb stays below the limit.
 */
export const MAX_OUTPUT_BYTES_LIMIT = 33_554_432;

/** Execution defaults of every run (`OrchestratorOptions.defaults`, `ExecutionDefaultsInput`). */
export const EXECUTION_DEFAULTS = {
  /** Attempts per task, the first included. */
  maxAttempts: 3,
  /** Time one attempt may take, in ms. */
  timeoutMs: 30_000,
  /** Tasks of one run running at once; also the CLI's `maxParallel`. */
  maxParallel: 10,
  /** Delay between attempts. */
  backoff: { kind: "exponential", baseMs: 1000, maxMs: 60_000, jitter: 0.2 },
  /** Claim order: higher first. */
  priority: 0,
  /** Queue of tasks that name none. */
  queue: "default",
} as const;

/** Defaults of one run (`RunOptions`) that are not execution defaults. */
export const RUN_DEFAULTS = {
  /** Cancel what has not started when a task fails for good. */
  failFast: true,
  /** Tune the graph from the workflow's history before the run. */
  optimizationLevel: "none",
  /** Keep the graph's structure when optimizing. */
  preserveStructure: true,
  /** Deepest hierarchy of the graph (and of lazy expansions); also decomposeGoal's. */
  maxDepth: 5,
} as const;

/** Defaults of a run's `replan` option (docs/living-plans.md). */
export const REPLAN_DEFAULTS = {
  /** A task that fails for good asks for a revision (a `ReplanError` asks whatever this says). */
  onFailure: true,
  /** Revisions of one run's plan; after that a failure fails the run as without re-planning. */
  maxRevisions: 2,
} as const;

/** Defaults of `orch.listRuns()` (`ListRunsOptions`). */
export const LIST_RUNS_DEFAULTS = {
  /** Most runs returned, newest first. */
  limit: 50,
} as const;

/** The largest `limit` of `orch.listRuns()`. */
export const LIST_RUNS_MAX_LIMIT = 1000;

/** Defaults of `orch.dashboard()` and `htdag dashboard` (`DashboardOptions`). */
export const DASHBOARD_DEFAULTS = {
  /** TCP port to listen on. */
  port: 4400,
  /** Address to listen on (loopback: no token needed). */
  host: "127.0.0.1",
  /** Event streams open at once; one more is refused with 503 until one closes. */
  maxStreams: 100,
} as const;

/** Defaults of `llmDecomposer` (`LlmDecomposerOptions`). */
export const LLM_DECOMPOSER_DEFAULTS = {
  /** Re-asks after a plan that local repair could not fix. */
  maxRepairs: 2,
  /** Output tokens per call. */
  maxTokens: 4096,
  /** Deepest hierarchy the model may plan. */
  maxDepth: 3,
  /** How composites are planned. */
  expand: "eager",
  /** Retries of one request by the SDK. */
  maxRetries: 2,
  /** Time one HTTP request may take, in ms. */
  requestTimeoutMs: 120_000,
  /** Use the decomposition cache. */
  cache: true,
  /** Name recorded on graphs and in the cache key. */
  name: "llm",
} as const;

/** Defaults of `llmStep` (`LlmStepOptions`, docs/llm-steps.md). */
export const LLM_STEP_DEFAULTS = {
  /** Output tokens per call. */
  maxOutputTokens: 4096,
  /** Re-asks quoting the schema's issues, after an answer that does not fit `output`. */
  maxRepairs: 2,
  /** Retries of one request by the SDK (when it builds the client). */
  maxRetries: 2,
  /** Time one HTTP request may take, in ms. */
  requestTimeoutMs: 120_000,
} as const;

/** Defaults of `optimizeWorkflow` and `getRecommendations` (`OptimizeOptions`). */
export const OPTIMIZER_DEFAULTS = {
  /** What to tune. */
  level: "basic",
  /** Keep the graph's structure. */
  preserveStructure: true,
  /** Tasks whose p99 is under this many ms keep their timeout. */
  timeoutThresholdMs: 1000,
  /** Record successful graphs as patterns. */
  learningEnabled: true,
  /** Changes below this confidence are recommendations, not applied. */
  patternConfidenceThreshold: 0.85,
  /** Fewest observations a rule needs. */
  minSamples: 5,
  /** New timeout = p99 × this. */
  timeoutHeadroom: 1.5,
  /** `aggressive`: the duration model's quantile a timeout is set from. */
  timeoutQuantile: 0.999,
  /** `aggressive`: timeout = model quantile × this. */
  modelHeadroom: 1.25,
  /** `aggressive`: the lowest model quantile a hedge may start at. */
  hedgeQuantile: 0.8,
} as const;

/** Defaults of `createNotifications` (`NotificationsOptions`): the orchestrator's. */
export const NOTIFICATIONS_DEFAULTS = {
  /** Postgres schema holding htdag's tables. */
  schema: ORCHESTRATOR_DEFAULTS.schema,
  /** Channel that `listen` uses when it names none. */
  channel: ORCHESTRATOR_DEFAULTS.channel,
  /** NOTIFY on every `sendWithNotify`. */
  realTimeNotifications: ORCHESTRATOR_DEFAULTS.realTimeNotifications,
} as const;

/** Defaults of `notifications.listen()` (`ListenOptions`). */
export const LISTEN_DEFAULTS = {
  /** Re-read every this many ms when events are NOTIFYed (0: never, the NOTIFY wakes the subscription). */
  pollIntervalMs: 0,
  /** Re-read every this many ms when `realTimeNotifications` is false. */
  pollIntervalMsWithoutNotify: 1000,
} as const;

/** Defaults of `notifications.getRecentEvents()` (`RecentEventsOptions`). */
export const RECENT_EVENTS_DEFAULTS = {
  /** Most events returned. */
  limit: 100,
} as const;

/** Defaults of an entry of a rules file (`rules: [{ name, match, flags?, tasks }]`). */
export const RULES_FILE_DEFAULTS = {
  /** RegExp flags of `match`. */
  flags: "i",
} as const;

/** ruleDecomposer's options. */
export const RULE_DECOMPOSER_DEFAULTS = {
  /**
   * Longest time matching one goal against every rule may take, in ms; past it, RuleMatchTimeoutError.
   * A wall-clock bound: on a loaded machine a process may wait 100 ms for a core, so it leaves room.
   */
  matchTimeoutMs: 1000,
} as const;

/** Defaults of the built-in `health.large_files` step. */
export const HEALTH_DEFAULTS = {
  /** Files of this many bytes or more are flagged (512 KB). */
  largeFileBytes: 524_288,
} as const;

/** Defaults of the CLI's settings (`htdag run`, `plan`, …): defaults < config file < environment < flags. */
export const CLI_DEFAULTS = {
  /** Tasks of a run at once: the library's default, not a CLI one. */
  maxParallel: EXECUTION_DEFAULTS.maxParallel,
  /** How goals are planned. */
  decomposer: "rules",
  /** LLM API when none is set and OPENAI_API_KEY is set or neither key is (else "anthropic"). */
  provider: "openai",
  /** LLM model per provider. */
  models: { openai: "gpt-4.1-mini", anthropic: "claude-sonnet-4-5" },
} as const;
