/**
 * One attempt of one claimed task: resolves its input, checks its condition, runs the step (or its
 * forEach fan-out) under the task's timeout, and turns what happened into a settlement.
 */
import type { z } from "zod";
import { NonRetryableError, ReplanError, StepTimeoutError } from "../errors.js";
import { issueProblem } from "../option-messages.js";
import type { Condition, Json, MergedTask, Task } from "../graph/task-graph.js";
import type { ClaimedTask, Settlement } from "../store/tasks.js";
import { backoffDelayMs } from "./backoff.js";
import { openTaskInputs, type PayloadCodec } from "../store/codec.js";
import { evaluateCondition } from "./conditions.js";
import { getPath } from "./json-path.js";
import { resolveReferences, unresolvedReferences } from "./references.js";
import { RESERVED_REFERENCE_NAMES } from "../graph/validate-references.js";
import { findStep, type StepContext, type StepDefinition, type UsageReport } from "./steps.js";
import { backoffSchema } from "../graph/task-graph.js";
import { stepNameOf, type BoundGraph } from "./bind.js";
import { assertJsonOutput, storableText, storedOutputBytes } from "./storable.js";
import { tracedAttempt, tracedExpansion, type AttemptTelemetry } from "./traced-attempt.js";
import type { RevisionOutcome } from "./revision.js";

export { jsonProblem } from "./storable.js";

/** What an attempt needs from its run. */
export interface AttemptEnvironment {
  runId: string;
  workflow: string;
  goal: string;
  runInput: unknown;
  steps: ReadonlyMap<string, StepDefinition>;
  codec: PayloadCodec | undefined;
  /** Items of a forEach task run at once. */
  forEachParallel: number;
  /** Largest output of one task, in bytes of JSON as stored; a larger one fails the task. */
  maxOutputBytes: number;
  /** Outputs (as stored) of this run's completed tasks among `taskIds`: what a task reads beyond its direct dependencies. */
  upstreamOutputs(taskIds: readonly string[]): Promise<Record<string, unknown>>;
  /** Plans a lazy composite's children; absent when the run has no decomposer in this process. */
  expand?: (task: Task, deps: Record<string, unknown>) => Promise<BoundGraph>;
  /** Asks the run's decomposer for a revision of the plan (a claim with `replan`); absent without one. */
  revise?: (task: ClaimedTask) => Promise<RevisionOutcome>;
  log(task: ClaimedTask, message: string, data: unknown): void;
  progress(task: ClaimedTask, done: number, total: number | undefined): void;
  /**
   * Stores what a call of the task's step cost (`ctx.usage`) against its attempt and the run;
   * rejects with `BudgetExceededError` once the run's budget is reached.
   */
  usage(task: ClaimedTask, report: UsageReport): Promise<void>;
  /** Rejects with `BudgetExceededError` when the run's budget is reached (`ctx.checkBudget`). */
  checkBudget(): Promise<void>;
  /** Traces and measures each attempt; absent when the orchestrator's `telemetry` is off. */
  telemetry?: AttemptTelemetry;
}

/**
 * The task a claim is for, as written: its spec holds no input (stored once, in its own column)
 * and, with a codec, its merged tasks' inputs encoded.
 */
export function taskOf(claimed: ClaimedTask, codec: PayloadCodec | undefined): Task {
  const spec = openTaskInputs([claimed.spec as unknown as Task], codec)[0]!;
  return claimed.input === null || claimed.input === undefined
    ? spec
    : { ...spec, input: decode(codec, claimed.input) as Json };
}

/** Runs the attempt; `signal` aborts it when the run is cancelled. Never throws. */
export function runAttempt(claimed: ClaimedTask, env: AttemptEnvironment, runSignal: AbortSignal): Promise<Settlement>;
/**
 * As above, but asks `mayStart` immediately before the step's first call, once its input is
 * prepared; when it says no, nothing has started and the attempt resolves to null (the caller
 * keeps or drops the task, unsettled).
 */
export function runAttempt(
  claimed: ClaimedTask,
  env: AttemptEnvironment,
  runSignal: AbortSignal,
  mayStart: () => boolean,
): Promise<Settlement | null>;
export function runAttempt(
  claimed: ClaimedTask,
  env: AttemptEnvironment,
  runSignal: AbortSignal,
  mayStart?: () => boolean,
): Promise<Settlement | null> {
  if (!env.telemetry) {
    return attemptOnce(claimed, env, runSignal, mayStart);
  }
  return tracedAttempt(env.telemetry, claimed, () => attemptOnce(claimed, env, runSignal, mayStart));
}

async function attemptOnce(
  claimed: ClaimedTask,
  env: AttemptEnvironment,
  runSignal: AbortSignal,
  mayStart: (() => boolean) | undefined,
): Promise<Settlement | null> {
  const base = { runId: claimed.runId, taskId: claimed.taskId, attempt: claimed.attempt };
  const task = taskOf(claimed, env.codec);
  // Submitted runs are bound without steps: a step definition's settings apply here (task > step > run).
  const step = claimed.step === null ? undefined : findStep(env.steps, claimed.step);
  const own = {
    timeoutMs: task.timeoutMs ?? step?.timeoutMs ?? claimed.timeoutMs,
    maxAttempts: task.maxAttempts ?? step?.maxAttempts ?? attemptBudget(claimed),
  };
  const { timeoutMs, maxAttempts } = task.merged ? chainLimits(task.merged, own, env.steps) : own;
  const policy = { ...claimed, maxAttempts: maxAttempts + (claimed.attemptBase ?? 0) };
  let deps: Record<string, unknown>;
  try {
    deps = await withUpstream(task, (decode(env.codec, claimed.deps) ?? {}) as Record<string, unknown>, env);
  } catch (error) {
    return failure(base, policy, error, "failed");
  }
  if (task.when && !evaluateCondition(task.when as Condition, deps)) {
    return { ...base, outcome: "skipped", output: null };
  }
  // GUARD: asked right before the step's first call (its input resolved and parsed, its context
  // built): a process frozen while it prepared the step must find its lease gone, not start it.
  let started = false;
  const beforeStep = () => {
    if (!started && mayStart && !mayStart()) {
      throw new NotStarted();
    }
    started = true;
  };
  const controller = new AbortController();
  const onRunAbort = () => controller.abort(runSignal.reason);
  runSignal.addEventListener("abort", onRunAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new StepTimeoutError(claimed.taskId, timeoutMs));
      resolve("timeout");
    }, timeoutMs);
  });
  let onCancel: (() => void) | undefined;
  const cancelled = new Promise<"cancelled">((resolve) => {
    onCancel = () => resolve("cancelled");
    if (runSignal.aborted) {
      onCancel();
    }
    runSignal.addEventListener("abort", onCancel, { once: true });
  });
  const startedAt = performance.now();
  const timed = <T extends Settlement>(settlement: T): T => ({ ...settlement, stepMs: performance.now() - startedAt });
  try {
    const idempotent = task.idempotent ?? step?.idempotent ?? false;
    const work =
      idempotent && task.hedgeAfterMs !== undefined
        ? hedged(
            task.hedgeAfterMs,
            (signal) => execute(claimed, task, deps, env, signal, beforeStep),
            controller.signal,
            () =>
              env.log(
                claimed,
                `hedged: the step ran past hedgeAfterMs (${task.hedgeAfterMs} ms); a second run starts beside it`,
                { hedgeAfterMs: task.hedgeAfterMs },
              ),
          )
        : execute(claimed, task, deps, env, controller.signal, beforeStep);
    const result = await Promise.race([work, timedOut, cancelled]);
    if (result === "timeout") {
      return timed(failure(base, policy, new StepTimeoutError(claimed.taskId, timeoutMs), "timed_out"));
    }
    if (result === "cancelled") {
      return timed({ ...base, outcome: "cancelled", error: serializeError(runSignal.reason) });
    }
    const output = env.codec ? env.codec.encode(result.output) : result.output;
    // Checked before it is sent: a value the database refuses would fail the settles batched with it.
    const outputBytes = storedOutputBytes(claimed.taskId, output, env.maxOutputBytes);
    return timed({ ...base, outcome: "completed", output, outputBytes });
  } catch (error) {
    return error instanceof NotStarted ? null : timed(failure(base, policy, error, "failed"));
  } finally {
    clearTimeout(timer);
    runSignal.removeEventListener("abort", onRunAbort);
    if (onCancel) {
      runSignal.removeEventListener("abort", onCancel);
    }
  }
}

/**
 * Limits of an attempt that runs merged tasks before its own step: the sum of every step's time
 * limit and the most attempts any of them allows (each: the task's own, else its step
 * definition's, else the merged task's).
 */
function chainLimits(
  members: readonly MergedTask[],
  own: { timeoutMs: number; maxAttempts: number },
  steps: ReadonlyMap<string, StepDefinition>,
): { timeoutMs: number; maxAttempts: number } {
  let { timeoutMs, maxAttempts } = own;
  for (const member of members) {
    const step = findStep(steps, stepNameOf(member));
    timeoutMs += member.timeoutMs ?? step?.timeoutMs ?? own.timeoutMs;
    maxAttempts = Math.max(maxAttempts, member.maxAttempts ?? step?.maxAttempts ?? own.maxAttempts);
  }
  return { timeoutMs, maxAttempts };
}

/**
 * A hedged run of an idempotent step: when the first run is still going after `afterMs`, a second
 * one starts beside it; the first to succeed wins and the other is aborted. A failure waits for the
 * other run if it is going; when none is left, the first failure counts. `signal` aborts both.
 */
export function hedged<T>(
  afterMs: number,
  run: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal,
  onHedge: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const runs = [new AbortController(), new AbortController()] as const;
    const abortAll = () => runs.forEach((c) => c.abort(signal.reason));
    signal.addEventListener("abort", abortAll, { once: true });
    let going = 1;
    let done = false;
    let firstError: { error: unknown } | undefined;
    const end = () => {
      done = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", abortAll);
    };
    const start = (index: 0 | 1) =>
      run(runs[index].signal).then(
        (value) => {
          if (done) {
            return;
          }
          end();
          runs[1 - index]!.abort(new Error("the other run of this hedged step finished first"));
          resolve(value);
        },
        (error: unknown) => {
          firstError ??= { error };
          if (done || --going > 0) {
            return;
          }
          end();
          reject(firstError.error);
        },
      );
    const timer = setTimeout(() => {
      if (done) {
        return;
      }
      going++;
      onHedge();
      void start(1);
    }, afterMs);
    void start(0);
  });
}

/** Thrown by the guard before a step's first call when the step may not start (see runAttempt). */
class NotStarted extends Error {}

/**
 * Runs the task's step: first the steps of the tasks merged into it, in order, each seeing the
 * outputs of those before it as dependencies; then its own. `beforeStep` runs right before each
 * call of a step function, and throws when the attempt may not start.
 */
async function execute(
  claimed: ClaimedTask,
  task: Task,
  dependencies: Record<string, unknown>,
  env: AttemptEnvironment,
  signal: AbortSignal,
  beforeStep: () => void,
): Promise<{ output: unknown }> {
  let deps = dependencies;
  for (const member of task.merged ?? []) {
    const output = await runStep(
      claimed,
      member,
      member.id,
      stepNameOf(member),
      member.input ?? null,
      deps,
      env,
      signal,
      beforeStep,
    ).catch((error: unknown) => {
      // The attempt is the merged task's: say which of its steps failed, keeping the error's class.
      if (error instanceof Error && !(error instanceof NotStarted)) {
        error.message = `${member.id} (merged into ${claimed.taskId}): ${error.message}`;
      }
      throw error;
    });
    deps = { ...deps, [member.id]: output };
  }
  return {
    output: await runStep(
      claimed,
      task,
      claimed.taskId,
      claimed.step,
      task.input ?? null,
      deps,
      env,
      signal,
      beforeStep,
    ),
  };
}

/**
 * `deps` with the outputs of the tasks `task` (or a task merged into it) reads further upstream:
 * references may name transitive dependencies, whose outputs a claim does not carry.
 */
async function withUpstream(
  task: Task,
  deps: Record<string, unknown>,
  env: AttemptEnvironment,
): Promise<Record<string, unknown>> {
  if (task.input === undefined && task.when === undefined && task.merged === undefined) {
    return deps;
  }
  const local = new Set([...Object.keys(deps), ...RESERVED_REFERENCE_NAMES, ...(task.merged ?? []).map((m) => m.id)]);
  const missing = [...new Set([task, ...(task.merged ?? [])].flatMap((t) => unresolvedReferences(t, local)))];
  if (missing.length === 0) {
    return deps;
  }
  return { ...(decode(env.codec, await env.upstreamOutputs(missing)) as Record<string, unknown>), ...deps };
}

async function runStep(
  claimed: ClaimedTask,
  task: Task | MergedTask,
  taskId: string,
  stepName: string | null,
  storedInput: unknown,
  deps: Record<string, unknown>,
  env: AttemptEnvironment,
  signal: AbortSignal,
  beforeStep: () => void,
): Promise<unknown> {
  const step = stepName === null ? undefined : findStep(env.steps, stepName);
  if (!step) {
    throw new NonRetryableError(
      `no step function named ${JSON.stringify(stepName)} is bound in this process for workflow ${JSON.stringify(env.workflow)}`,
    );
  }
  if (!env.steps.has(stepName!)) {
    // The attempt's log says so: `htdag show`, `htdag events` and the dashboard's task panel show it.
    env.log(claimed, `no step named ${JSON.stringify(stepName)}: done by the fallback step "*"`, { fallback: true });
  }
  const rawInput = resolveReferences(storedInput, { ...deps, goal: env.goal, input: env.runInput });
  const ctxFor = (input: unknown): StepContext => ({
    task,
    goal: env.goal,
    runId: env.runId,
    workflow: env.workflow,
    input: parseInput(step, taskId, input),
    deps,
    runInput: env.runInput,
    attempt: claimed.attempt,
    signal,
    log: (message, data) => env.log(claimed, message, data),
    progress: (done, total) => env.progress(claimed, done, total),
    usage: (report) => env.usage(claimed, report),
    checkBudget: () => env.checkBudget(),
  });
  const call = (input: unknown) => {
    const ctx = ctxFor(input);
    beforeStep();
    return step.run(ctx);
  };
  if (!task.forEach) {
    return checkOutput(step, taskId, await call(rawInput), env.maxOutputBytes);
  }
  const items = getPath(deps[task.forEach.from], task.forEach.path);
  if (!Array.isArray(items)) {
    throw new NonRetryableError(
      `forEach of task ${JSON.stringify(claimed.taskId)} needs an array at ${task.forEach.from}${task.forEach.path ? `.${task.forEach.path}` : ""}, found ${items === undefined ? "nothing" : typeof items}`,
    );
  }
  return fanOut(
    items,
    task.forEach.batchSize ?? 1,
    env.forEachParallel,
    rawInput,
    (input) => Promise.resolve(call(input)).then((out) => checkOutput(step, taskId, out, env.maxOutputBytes)),
    (done) => env.progress(claimed, done, items.length),
  );
}

/** Runs the step per item (or per batch), `parallel` at a time, and collects outputs in item order. */
async function fanOut(
  items: unknown[],
  batchSize: number,
  parallel: number,
  input: unknown,
  run: (input: unknown) => Promise<unknown>,
  progress: (done: number) => void,
): Promise<unknown[]> {
  const calls: unknown[] = [];
  for (let i = 0; i < items.length; i += batchSize) {
    const base =
      input !== null && typeof input === "object" && !Array.isArray(input)
        ? input
        : input === undefined || input === null
          ? {}
          : { value: input };
    calls.push(
      batchSize === 1
        ? { ...base, item: items[i], index: i }
        : { ...base, items: items.slice(i, i + batchSize), index: i },
    );
  }
  const outputs: unknown[] = new Array(calls.length);
  let next = 0;
  let done = 0;
  const lane = async () => {
    while (next < calls.length) {
      const index = next++;
      outputs[index] = await run(calls[index]);
      progress(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, calls.length) }, lane));
  return batchSize === 1 ? outputs : outputs.flat();
}

function parseInput(step: StepDefinition, taskId: string, input: unknown): unknown {
  if (!step.input) {
    return input;
  }
  const parsed = step.input.safeParse(input);
  if (parsed.success) {
    return parsed.data;
  }
  throw new NonRetryableError(
    `input of task ${JSON.stringify(taskId)} does not match its step's input schema: ${schemaProblems(parsed.error.issues, input, step.input, "(input)")}`,
  );
}

function checkOutput(step: StepDefinition, taskId: string, output: unknown, maxOutputBytes: number): unknown {
  const value = output === undefined ? null : output;
  assertJsonOutput(taskId, value, maxOutputBytes);
  if (!step.output) {
    return value;
  }
  const parsed = step.output.safeParse(value);
  if (parsed.success) {
    return parsed.data;
  }
  throw new Error(
    `output of task ${JSON.stringify(taskId)} does not match its step's output schema: ${schemaProblems(parsed.error.issues, value, step.output, "(output)")}`,
  );
}

/**
 * The attempts a claimed task may make in the current try of its run, as stored: retryRun grants
 * a fresh budget, and `attempt` keeps counting across tries.
 */
export function attemptBudget(claimed: Pick<ClaimedTask, "maxAttempts" | "attemptBase">): number {
  return claimed.maxAttempts - (claimed.attemptBase ?? 0);
}

/**
 * The settlement of a failed attempt: retried after a backoff unless non-retryable or out of
 * attempts (`claimed.maxAttempts`, counted like `attempt`, over every try of the run).
 */
export function failure(
  base: Pick<Settlement, "runId" | "taskId" | "attempt">,
  claimed: ClaimedTask,
  error: unknown,
  outcome: "failed" | "timed_out",
): Settlement {
  const retryable = !(error instanceof NonRetryableError) && claimed.attempt < claimed.maxAttempts;
  // The backoff grows with the attempt's number within this try.
  const tryAttempt = claimed.attempt - (claimed.attemptBase ?? 0);
  return {
    ...base,
    outcome,
    error: serializeError(error),
    errorClass: storableText(error instanceof Error ? String(error.name) : typeof error),
    retryDelayMs: retryable ? backoffDelayMs(backoffSchema.parse(claimed.backoff), tryAttempt) : null,
    ...(error instanceof ReplanError ? { replan: true } : {}),
  };
}

/**
 * The children of a claimed lazy composite, planned with the run's decomposer. Without one in this
 * process, a NonRetryableError that ends with `fix`: how to give it one.
 */
export async function planClaimedExpansion(
  task: ClaimedTask,
  env: AttemptEnvironment,
  fix: string,
): Promise<BoundGraph> {
  if (!env.expand) {
    const problem = `lazy task ${JSON.stringify(task.taskId)} needs the decomposer of workflow ${JSON.stringify(task.workflow)}`;
    throw new NonRetryableError(`${problem}; ${fix}`);
  }
  const plan = () =>
    env.expand!(taskOf(task, env.codec), (decode(env.codec, task.deps) ?? {}) as Record<string, unknown>);
  return env.telemetry ? tracedExpansion(env.telemetry, task, plan) : plan();
}

/**
 * An error as stored: name, message, code; never the whole object (it may hold secrets). Each is
 * made storable (a NUL or an unpaired surrogate, which PostgreSQL refuses, becomes U+FFFD; a very
 * long message is cut), so a step's error never fails the settle that records it.
 */
export function serializeError(error: unknown): { name: string; message: string; code?: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: storableText(String(error.name)),
      message: storableText(String(error.message)),
      ...(typeof code === "string" ? { code: storableText(code) } : {}),
    };
  }
  return { name: "Error", message: storableText(String(error)) };
}

export function decode(codec: PayloadCodec | undefined, value: unknown): unknown {
  return codec && value !== null && value !== undefined ? codec.decode(value) : value;
}

/** Every issue of `value` against a step's schema, in plain words: `n: expected a number, received the string "x"`. */
function schemaProblems(issues: readonly z.core.$ZodIssue[], value: unknown, schema: z.ZodType, whole: string): string {
  return issues.map((issue) => `${issue.path.join(".") || whole}: ${issueProblem(issue, value, schema)}`).join("; ");
}
