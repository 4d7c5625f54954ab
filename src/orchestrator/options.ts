/** Options of `createOrchestrator` and their validation; their defaults live in src/defaults.ts. */
import pg from "pg";
import { z } from "zod";
import { EXECUTION_DEFAULTS, MAX_OUTPUT_BYTES_LIMIT, ORCHESTRATOR_DEFAULTS } from "../defaults.js";
import { backoffSchema, type BackoffInput } from "../graph/task-graph.js";
import { parseOptions } from "../options.js";
import { IDENTIFIER_PATTERN } from "../store/identifiers.js";
import { realTimeNotificationsSchema, type RealTimeNotifications } from "../store/listeners.js";

const identifier = z.string().regex(IDENTIFIER_PATTERN, {
  message: "a lower-case SQL identifier (a letter or _, then letters, digits or _, at most 63 characters)",
});

/** Execution defaults; a task (or its step) overrides them, and run options sit in between. */
export const executionDefaultsSchema = z.strictObject({
  maxAttempts: z.number().int().min(1).max(100).default(EXECUTION_DEFAULTS.maxAttempts),
  timeoutMs: z.number().int().min(1).max(86_400_000).default(EXECUTION_DEFAULTS.timeoutMs),
  maxParallel: z.number().int().min(1).max(10_000).default(EXECUTION_DEFAULTS.maxParallel),
  backoff: backoffSchema.default(EXECUTION_DEFAULTS.backoff),
  priority: z.number().int().min(-1000).max(1000).default(EXECUTION_DEFAULTS.priority),
  queue: z.string().min(1).max(100).default(EXECUTION_DEFAULTS.queue),
});
export type ExecutionDefaults = z.output<typeof executionDefaultsSchema>;

/** Execution defaults as a user writes them. */
export interface ExecutionDefaultsInput {
  /** Attempts per task, the first included. @default 3 */
  maxAttempts?: number;
  /** Time one attempt of a task may take before its AbortSignal fires, in ms. @default 30000 */
  timeoutMs?: number;
  /** Tasks of one run running at once. @default 10 */
  maxParallel?: number;
  /** Delay between attempts. @default { kind: "exponential", baseMs: 1000, maxMs: 60000, jitter: 0.2 } */
  backoff?: BackoffInput;
  /** Claim order: higher first. @default 0 */
  priority?: number;
  /** Queue of tasks that name none. @default "default" */
  queue?: string;
}

export const orchestratorOptionsSchema = z.strictObject({
  database: z
    .union([z.string(), z.instanceof(pg.Pool)], {
      message: 'a postgres:// URL, "memory://", "pglite:<dir>" or a pg.Pool',
    })
    .optional(),
  schema: identifier.default(ORCHESTRATOR_DEFAULTS.schema),
  channel: identifier.default(ORCHESTRATOR_DEFAULTS.channel),
  migrate: z.boolean().default(ORCHESTRATOR_DEFAULTS.migrate),
  realTimeNotifications: realTimeNotificationsSchema.default(ORCHESTRATOR_DEFAULTS.realTimeNotifications),
  defaults: executionDefaultsSchema.prefault({}),
  poolSize: z.number().int().min(1).max(1000).default(ORCHESTRATOR_DEFAULTS.poolSize),
  leaseMs: z.number().int().min(1000).max(86_400_000).default(ORCHESTRATOR_DEFAULTS.leaseMs),
  maxTasks: z.number().int().min(1).max(1_000_000).default(ORCHESTRATOR_DEFAULTS.maxTasks),
  maxInputBytes: z
    .number()
    .int()
    .min(1)
    .max(64 * 1024 * 1024)
    .default(ORCHESTRATOR_DEFAULTS.maxInputBytes),
  maxOutputBytes: z.number().int().min(1).max(MAX_OUTPUT_BYTES_LIMIT).default(ORCHESTRATOR_DEFAULTS.maxOutputBytes),
  telemetry: z.boolean().default(ORCHESTRATOR_DEFAULTS.telemetry),
  pricing: z
    .record(
      z.string().min(1),
      z.strictObject({ inputPerMTok: z.number().min(0).finite(), outputPerMTok: z.number().min(0).finite() }),
    )
    .optional(),
});
export type ResolvedOrchestratorOptions = z.output<typeof orchestratorOptionsSchema>;

/** Options of `createOrchestrator`. */
export interface OrchestratorOptions {
  /**
   * Where runs are stored: a `postgres://` URL, a `pg.Pool`, `"memory://"` (embedded, in memory),
   * `"pglite:<dir>"`, or nothing for the embedded PGlite store in `./.htdag`.
   * @default undefined (embedded PGlite in ./.htdag)
   */
  database?: string | pg.Pool;
  /** Postgres schema holding htdag's tables; lets several installations share a database. @default "htdag" */
  schema?: string;
  /** LISTEN/NOTIFY channel of events. @default "htdag_events" */
  channel?: string;
  /**
   * Apply pending migrations on start. A new embedded store then starts from the migrated PGlite data
   * dir shipped with htdag, when it fits; with `false` it is created empty (initdb), for `htdag migrate`.
   * @default true
   */
  migrate?: boolean;
  /**
   * Which events are NOTIFYed (rows are stored either way). `true`: every event, so a plain
   * `LISTEN` (even psql) sees each one. `"on-demand"`: the wake-ups workers need always, and other
   * events only while this or another process subscribes (`notifications.listen`, the dashboard)
   * or waits for the run (`waitForRun`): fewer commits pay PostgreSQL's NOTIFY lock, which
   * serialises them (docs/events.md, "What is NOTIFYed"). `false`: none; subscribers poll.
   * @default true
   */
  realTimeNotifications?: RealTimeNotifications;
  /** Execution defaults for every run. */
  defaults?: ExecutionDefaultsInput;
  /** Connections in the pool htdag creates for a URL. @default 10 */
  poolSize?: number;
  /** How long a claimed task stays leased without a heartbeat, in ms. @default 30000 */
  leaseMs?: number;
  /** Most tasks in one graph. @default 10000 */
  maxTasks?: number;
  /** Largest input of one task in bytes of JSON. @default 65536 */
  maxInputBytes?: number;
  /**
   * Largest output of one task in bytes of JSON as stored (encrypted, with a codec), at most 32 MiB.
   * A larger output fails its task at once with `OutputTooLargeError`. The settles of tasks that end
   * together are split so that no call carries more than this of outputs: PostgreSQL holds at most
   * 255 MB in one jsonb value.
   * @default 16777216
   */
  maxOutputBytes?: number;
  /**
   * Trace and measure through `@opentelemetry/api`: spans `htdag.run`, `htdag.decompose`, `htdag.task`
   * (each attempt; its step runs inside it) and one per LLM call (GenAI semantic conventions), and the
   * metrics `htdag.task.duration`, `htdag.task.queue_wait`, `htdag.tasks`, `htdag.llm.tokens`. A no-op
   * until the application registers an OpenTelemetry SDK; off, htdag does no telemetry work at all
   * (docs/observability.md).
   * @default false
   */
  telemetry?: boolean;
  /**
   * Prices per model, in dollars per million tokens: what turns a call's tokens into its cost when
   * the call did not report one (`ctx.usage` without `costUsd`; docs/usage-and-budgets.md). A model
   * without a price has an unknown cost (counted by `tokens` and `llmCalls` budgets, not `costUsd`).
   * @default none
   * @example { "gpt-4.1-mini": { inputPerMTok: 0.4, outputPerMTok: 1.6 } }
   */
  pricing?: Record<string, ModelPrice>;
}

/** The price of one model, in dollars per million tokens. */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
}

/** Validates the options of `createOrchestrator` and applies the defaults. */
export function resolveOrchestratorOptions(options: unknown): ResolvedOrchestratorOptions {
  return parseOptions(orchestratorOptionsSchema, options ?? {}, "createOrchestrator");
}
