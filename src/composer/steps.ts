/** Step functions: plain async functions, or `defineStep({...})` with schemas and per-step config. */
import type { z } from "zod";
import { FALLBACK_STEP } from "../graph/fallback.js";
import type { BackoffInput, Task } from "../graph/task-graph.js";
import { concurrencySchema, rateLimitSchema, type ConcurrencyLimit, type RateLimit } from "../graph/flow-control.js";
import { InvalidOptionError } from "../errors.js";

/** What a step receives. */
export interface StepContext<Input = unknown> {
  /** The task being run, as it stands in the graph. */
  task: Task;
  /** The run's goal. */
  goal: string;
  runId: string;
  /** The workflow's name. */
  workflow: string;
  /** The task's input with references resolved (parsed by the step's `input` schema if it has one). */
  input: Input;
  /** Exactly the outputs of the task's dependencies, by task id (a composite's output is its children's). */
  deps: Record<string, unknown>;
  /** The run's input (for composed workflows: `{ workflows: { name: outputs } }` of upstream workflows). */
  runInput: unknown;
  /** The attempt number, from 1. */
  attempt: number;
  /** Aborted when the attempt times out or the run is cancelled. */
  signal: AbortSignal;
  /** Stores a log line for this attempt. */
  log(message: string, data?: unknown): void;
  /** Reports progress (`done` of `total`), emitted as `task:progress`. */
  progress(done: number, total?: number): void;
  /**
   * Reports what an LLM call (or any paid call) of this step cost (docs/usage-and-budgets.md): stored at once
   * against this attempt and the run, and counted by the run's budget. Rejects with
   * `BudgetExceededError` once the run's budget is reached (the run is failed by then).
   */
  usage(report: UsageReport): Promise<void>;
  /** Rejects with `BudgetExceededError` when the run's budget is reached: call it before an LLM call. */
  checkBudget(): Promise<void>;
}

/** What one call cost, as a step reports it with `ctx.usage`. */
export interface UsageReport {
  model: string;
  inputTokens: number;
  outputTokens: number;
  /** What the call cost, when the provider says; otherwise tokens × the orchestrator's `pricing`. @default from pricing */
  costUsd?: number;
  /** Calls this report covers. @default 1 */
  llmCalls?: number;
}

/** A plain step: an async function of the context. */
export type StepFunction<Input = unknown, Output = unknown> = (ctx: StepContext<Input>) => Promise<Output> | Output;

/** A step with schemas and its own execution settings. */
export interface StepDefinition<Input = unknown, Output = unknown> {
  readonly kind: "htdag.step";
  /** What the step does; shown to decomposers in the catalogue. */
  description?: string;
  /** Validates (and parses) the task's input before the step runs; a mismatch fails at once. */
  input?: z.ZodType<Input>;
  /** Validates the step's output; a mismatch fails the attempt. */
  output?: z.ZodType<Output>;
  /** Overrides the run's per-attempt timeout for tasks using this step. */
  timeoutMs?: number;
  /** Overrides the run's attempts for tasks using this step. */
  maxAttempts?: number;
  /** Overrides the run's backoff. */
  backoff?: BackoffInput;
  /** Queue of tasks using this step (queues can cap running tasks cluster-wide). */
  queue?: string;
  /** Claim order of tasks using this step; higher first. */
  priority?: number;
  /** Safe to run twice (the optimizer may hedge stragglers of idempotent steps). @default false */
  idempotent?: boolean;
  /**
   * At most `limit` tasks of this step with the same key run at once, across runs and processes;
   * `key` may name the task's input, e.g. `{{input.customer}}` (docs/waits-and-flow-control.md). A task's own
   * `concurrency` overrides it. @default none
   */
  concurrency?: ConcurrencyLimit;
  /** At most `limit` starts of tasks of this step with the same key per `perMs`, cluster-wide. @default none */
  rateLimit?: RateLimit;
  run: StepFunction<Input, Output>;
}

/**
 * Steps by name, as `composeFromTaskGraph` takes them. A step under `"*"` (the fallback) runs every
 * task whose own step has no function (docs/llm-steps.md). `any` here lets steps with different input
 * types share one record; each step's input is checked at run time by its own schema.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
export type Steps = Record<string, StepFunction<any, unknown> | StepDefinition<any, any>>;

/**
 * Defines a step with schemas and per-step settings.
 * @example
 * const plan = defineStep({ description: "Plan", input: z.object({ topic: z.string() }),
 *   timeoutMs: 10_000, run: async ({ input }) => ({ outline: [input.topic] }) });
 */
export function defineStep<Input = unknown, Output = unknown>(
  definition: Omit<StepDefinition<Input, Output>, "kind">,
): StepDefinition<Input, Output> {
  if (typeof definition?.run !== "function") {
    throw new TypeError("defineStep needs a `run` function: defineStep({ run: async (ctx) => output })");
  }
  if (definition.concurrency !== undefined && !concurrencySchema.safeParse(definition.concurrency).success) {
    throw new InvalidOptionError(
      "concurrency",
      "{ key: a string of 1 to 200, limit: an integer of 1 to 10000 }",
      definition.concurrency,
      "defineStep",
    );
  }
  if (definition.rateLimit !== undefined && !rateLimitSchema.safeParse(definition.rateLimit).success) {
    throw new InvalidOptionError(
      "rateLimit",
      "{ key: a string of 1 to 200, limit: an integer of 1 to 1000000, perMs: an integer of 1 to 86400000, burst?: an integer ≥ 1 }",
      definition.rateLimit,
      "defineStep",
    );
  }
  return { ...definition, kind: "htdag.step" };
}

/** Normalises a step entry to a definition. */
export function toStepDefinition(entry: Steps[string]): StepDefinition {
  if (typeof entry === "function") {
    return { kind: "htdag.step", run: entry as StepFunction };
  }
  return entry as unknown as StepDefinition;
}

/** True if `value` can be a step (a function or a `defineStep` result). */
export function isStep(value: unknown): boolean {
  return (
    typeof value === "function" ||
    (typeof value === "object" && value !== null && (value as StepDefinition).kind === "htdag.step")
  );
}

/** The step `name` runs: its own, else the fallback `"*"`, else undefined. */
export function findStep<Step>(steps: ReadonlyMap<string, Step>, name: string): Step | undefined {
  return steps.get(name) ?? steps.get(FALLBACK_STEP);
}

/** The entry of `steps` that runs step `name`: its own, else the fallback `"*"`, else undefined. */
export function stepEntryOf(steps: Steps, name: string): Steps[string] | undefined {
  return steps[name] ?? steps[FALLBACK_STEP];
}
