/**
 * The error hierarchy of htdag. Every error carries a stable `code` that callers can branch on,
 * and a message that names the offending value and the fix.
 *
 * This file is a leaf: every layer may import it.
 */

/**
 * Every code an htdag error can carry, grouped by the module that throws it. The values are
 * stable: callers branch on them, so a code is added here, never renamed.
 */
export const HTDAG_ERROR_CODES = [
  // errors.ts
  "GRAPH_INVALID",
  "DECOMPOSITION_FAILED",
  "NON_RETRYABLE",
  "REPLAN_REQUESTED",
  "INVALID_OPTION",
  "RUN_NOT_FOUND",
  "ILLEGAL_TRANSITION",
  "DATABASE_UNREACHABLE",
  "MIGRATION_FAILED",
  "MIGRATION_MISMATCH",
  "SEED_LOAD_FAILED",
  "NON_JSON_OUTPUT",
  "UNSTORABLE_OUTPUT",
  "OUTPUT_TOO_LARGE",
  "STEP_TIMEOUT",
  "WAIT_TIMEOUT",
  "LEASE_EXPIRED",
  "BUDGET_EXCEEDED",
  "SIGNAL_NOT_AWAITED",
  "SIGNAL_TIMEOUT",
  "SCHEDULE_FIRE_FAILED",
  "RUN_DETACHED",
  // graph/file.ts
  "GRAPH_FILE_UNREADABLE",
  // decomposers: rules-file.ts, rule-safety.ts and llm/errors.ts
  "RULES_FILE_INVALID",
  "RULE_MATCH_TIMEOUT",
  "LLM_PROVIDER_ERROR",
  "LLM_REFUSED",
  // notifications/errors.ts
  "EVENT_INVALID",
  "EVENT_HANDLER_FAILED",
  "LISTEN_CONNECTION_LOST",
  "EVENT_CATCH_UP_FAILED",
  // dashboard/errors.ts
  "DASHBOARD_TOKEN_REQUIRED",
  "DASHBOARD_NOT_BUILT",
  "DASHBOARD_LISTEN_FAILED",
  // dashboard: the codes of DashboardRequestError, sent back with a 4xx status (503 for TOO_MANY_STREAMS)
  "BAD_PATH",
  "BAD_REQUEST",
  "BODY_INCOMPLETE",
  "BODY_TOO_LARGE",
  "FORBIDDEN_HOST",
  "FORBIDDEN_ORIGIN",
  "HEADERS_TOO_LARGE",
  "INVALID_BODY",
  "INVALID_JSON",
  "METHOD_NOT_ALLOWED",
  "NOT_FOUND",
  "REQUEST_TIMEOUT",
  "STEPS_UNKNOWN",
  "TASK_NOT_FOUND",
  "TOO_MANY_STREAMS",
  "UNAUTHORIZED",
  "UNSUPPORTED_MEDIA_TYPE",
  "WORKFLOW_NOT_FOUND",
  // bench/databases.ts
  "BENCH_DATABASE",
  // cli/session.ts
  "MISSING_API_KEY",
] as const;

/** A code an htdag error carries; see {@link HTDAG_ERROR_CODES}. */
export type HtdagErrorCode = (typeof HTDAG_ERROR_CODES)[number];

/** Base class of every error htdag throws on purpose. */
export class HtdagError extends Error {
  /** A stable, machine-readable code, e.g. `GRAPH_INVALID`. */
  readonly code: HtdagErrorCode;

  constructor(code: HtdagErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** One problem found in a task graph, with the path of the offending value. */
export interface GraphIssue {
  /** What kind of problem, e.g. `cycle`, `unknown_dependency`, `duplicate_id`. */
  code: string;
  /** Where the problem is, e.g. `tasks[3].dependsOn[1]`. */
  path: string;
  /** What is wrong and how to fix it. */
  message: string;
}

/** A task graph failed validation; `issues` lists every problem found, not just the first. */
export class GraphValidationError extends HtdagError {
  readonly issues: GraphIssue[];

  constructor(issues: GraphIssue[], context?: string) {
    const head = context ? `${context}: ` : "";
    const count = issues.length === 1 ? "1 problem" : `${issues.length} problems`;
    const lines = issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join("\n");
    super("GRAPH_INVALID", `${head}task graph has ${count}:\n${lines}`);
    this.issues = issues;
  }
}

/** A decomposer threw, returned something that is not a task graph, or returned an invalid one. */
export class DecompositionError extends HtdagError {
  readonly goal: string;
  readonly issues: GraphIssue[];

  /** `code` is for subclasses that say why (e.g. `LLM_REFUSED`); callers leave it out. */
  constructor(
    goal: string,
    problem: string,
    options?: { cause?: unknown; issues?: GraphIssue[] },
    code: HtdagErrorCode = "DECOMPOSITION_FAILED",
  ) {
    // A goal of a megabyte is named by its start: the message must stay readable (and loggable).
    const named =
      goal.length > 200 ? `${JSON.stringify(goal.slice(0, 200))}… (${goal.length} characters)` : JSON.stringify(goal);
    super(code, `could not decompose goal ${named}: ${problem}`, options);
    this.goal = goal;
    this.issues = options?.issues ?? [];
  }
}

/** Throw from a step to fail the task at once, without further attempts. */
export class NonRetryableError extends HtdagError {
  /** `code` is for subclasses that say why (e.g. `NON_JSON_OUTPUT`); a step leaves it out. */
  constructor(message: string, options?: { cause?: unknown }, code: HtdagErrorCode = "NON_RETRYABLE") {
    super(code, message, options);
  }
}

/**
 * Throw from a step to ask for a revision of the plan at once (docs/living-plans.md): the task is not
 * retried, and a run with a `replan` option asks its decomposer for a revised plan, with this
 * message as the reason. With re-planning off it fails the task like `NonRetryableError`.
 *
 * @example
 * throw new ReplanError("the v1 API is gone; plan with the v2 endpoints");
 */
export class ReplanError extends NonRetryableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options ?? {}, "REPLAN_REQUESTED");
  }
}

/**
 * An option given to a public entry point is missing, of the wrong type or out of range. The message
 * names the option, what was expected and what was given, then the fix when one is more than "give
 * what was expected": "invalid option \`--max-parallel\`: expected a whole number from 1 to 10000,
 * received the string "abc". Try \`--max-parallel 4\`."
 */
export class InvalidOptionError extends HtdagError {
  /** Dotted path of the option, e.g. `defaults.maxAttempts`, or a flag, e.g. `--max-parallel`. */
  readonly option: string;

  /** @param fix a sentence saying what to do instead, e.g. "Try \`--max-parallel 4\`." */
  constructor(option: string, expected: string, received: unknown, where?: string, fix?: string) {
    const place = where ? ` in ${where}` : "";
    super(
      "INVALID_OPTION",
      `invalid option \`${option}\`${place}: expected ${expected}, received ${describeValue(received)}` +
        (fix ? `. ${fix}` : ""),
    );
    this.option = option;
  }
}

/** No run with the given id exists. */
export class RunNotFoundError extends HtdagError {
  readonly runId: string;

  constructor(runId: string) {
    super("RUN_NOT_FOUND", `no run with id ${JSON.stringify(runId)}; list runs with \`htdag runs\` or orch.listRuns()`);
    this.runId = runId;
  }
}

/**
 * `orch.close()` stopped following a run this process executed, because the run waits for a person
 * or for time (docs/waits-and-flow-control.md): it awaits approval of its plan, is paused, or every
 * task it has left waits. The run is stored and goes on without this process; the composeFromGoal
 * (or composeFromTaskGraph) call that started it rejects with this error.
 */
export class RunDetachedError extends HtdagError {
  constructor(
    readonly runId: string,
    /** The run's status when it was detached. */
    readonly status: string,
    /** What it waits for, in words: e.g. "awaits approval of its plan". */
    readonly waitingFor: string,
  ) {
    super(
      "RUN_DETACHED",
      `orch.close() stopped following run ${runId}, which ${waitingFor}: the run is stored and goes on ` +
        "without this process. Answer it (approvePlan, resumeRun, signal), let a worker of its workflow run it " +
        "(startWorker), and follow it with waitForRun(runId)",
    );
  }
}

/** A run or task was asked to move between two states that the state machine does not connect. */
export class IllegalTransitionError extends HtdagError {
  constructor(entity: "run" | "task", id: string, from: string, to: string, hint?: string) {
    super(
      "ILLEGAL_TRANSITION",
      `cannot move ${entity} ${JSON.stringify(id)} from ${from} to ${to}${hint ? `: ${hint}` : ""}`,
    );
  }
}

/** The database could not be reached or refused the connection. */
export class DatabaseConnectionError extends HtdagError {
  constructor(target: string, detail: string, options?: { cause?: unknown }) {
    super(
      "DATABASE_UNREACHABLE",
      `cannot connect to ${target}: ${detail}. Check that PostgreSQL is running and accepts connections ` +
        `at that address, and that the user, password and database name are right ` +
        `(or omit \`database\` to use the embedded PGlite store).`,
      options,
    );
  }
}

/** A migration file failed to apply; nothing of it was committed. */
export class MigrationError extends HtdagError {
  constructor(file: string, options?: { cause?: unknown }) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super("MIGRATION_FAILED", `migration ${file} failed and was rolled back: ${reason}`, options);
  }
}

/**
 * The shipped PGlite data dir fit but could not be loaded into a new embedded store; the store was
 * created with initdb instead (slower, nothing lost). Reported through `onError`, not thrown.
 */
export class SeedLoadError extends HtdagError {
  constructor(archive: string, options?: { cause?: unknown }) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause);
    super(
      "SEED_LOAD_FAILED",
      `the shipped PGlite data dir ${archive} could not be loaded (${reason}); the embedded store was created ` +
        "with initdb instead. Reinstall htdag (or run npm run build) to restore it.",
      options,
    );
  }
}

/**
 * The migrations recorded in the database disagree with the files: an applied file was edited, or
 * the database holds a schema of an earlier, unreleased layout. Nothing was changed.
 */
export class MigrationMismatchError extends HtdagError {
  constructor(problem: string, fix: string) {
    super("MIGRATION_MISMATCH", `${problem}; nothing was changed. ${fix}`);
  }
}

/** A step returned a value that cannot be stored as JSON. */
export class NonJsonOutputError extends NonRetryableError {
  constructor(taskId: string, problem: string) {
    super(
      `step of task ${JSON.stringify(taskId)} returned output that is not JSON (${problem}); ` +
        `return plain objects, arrays, strings, finite numbers, booleans or null`,
      undefined,
      "NON_JSON_OUTPUT",
    );
  }
}

/**
 * A step returned a string (or an object key) that PostgreSQL's jsonb cannot store: a NUL
 * character (`\u0000`) or an unpaired UTF-16 surrogate.
 */
export class UnstorableOutputError extends NonRetryableError {
  /** `problem` says what and where, e.g. `a NUL character (\u0000) at output.a.b`. */
  constructor(taskId: string, problem: string) {
    super(
      `output of task ${JSON.stringify(taskId)} contains ${problem}, which PostgreSQL cannot store; ` +
        `remove it or encode the value (e.g. base64)`,
      undefined,
      "UNSTORABLE_OUTPUT",
    );
  }
}

/** A step returned an output larger, as stored, than the orchestrator's `maxOutputBytes`. */
export class OutputTooLargeError extends NonRetryableError {
  /** `measured` "more than" when the size was only bounded from below (the walk stopped past the limit). */
  constructor(taskId: string, bytes: number, maxOutputBytes: number, measured: "exactly" | "more than" = "exactly") {
    const size = measured === "exactly" ? `${bytes} bytes` : `more than ${maxOutputBytes} bytes`;
    super(
      `output of task ${JSON.stringify(taskId)} is ${size} of JSON as stored, more than maxOutputBytes ` +
        `${maxOutputBytes}; store large data elsewhere (a file, an object store) and return a reference to it, ` +
        `or raise maxOutputBytes`,
      undefined,
      "OUTPUT_TOO_LARGE",
    );
  }
}

/** A step did not finish within its timeout; its AbortSignal was aborted. */
export class StepTimeoutError extends HtdagError {
  constructor(taskId: string, timeoutMs: number) {
    super("STEP_TIMEOUT", `task ${JSON.stringify(taskId)} did not finish within ${timeoutMs} ms (timeoutMs)`);
  }
}

/** waitForRun gave up before the run reached a final status (the run goes on). */
export class WaitTimeoutError extends HtdagError {
  constructor(runId: string, status: string, timeoutMs: number) {
    super(
      "WAIT_TIMEOUT",
      `run ${runId} is still ${status} after ${timeoutMs} ms; wait longer (timeoutMs) or check that a worker runs its workflow`,
    );
  }
}

/**
 * A worker did not start a claimed task's step because the task's lease had run out by the
 * worker's own clock (the process was frozen or its event loop blocked). Nothing was settled: the
 * reaper hands the task to a live worker. Reported through `onError`.
 */
export class LeaseExpiredError extends HtdagError {
  constructor(workerId: string, attempt: { runId: string; taskId: string; attempt: number }, expiredByMs: number) {
    super(
      "LEASE_EXPIRED",
      `worker ${workerId} did not start task ${JSON.stringify(attempt.taskId)} (run ${attempt.runId}, ` +
        `attempt ${attempt.attempt}): its lease ran out ${Math.round(expiredByMs)} ms before the step could start, ` +
        `by this worker's clock (the process was frozen or its event loop blocked), so another worker may own it now; ` +
        `the reaper returns it to ready. Keep steps from blocking the event loop, or raise leaseMs.`,
    );
  }
}

/** A run's spend, or its budget: any of tokens (input plus output), dollars and LLM calls. */
export interface Spend {
  tokens?: number;
  costUsd?: number;
  llmCalls?: number;
}

/**
 * A run reached its budget (docs/usage-and-budgets.md): no task starts and no LLM call is made once the spend
 * is at or above a limit; running steps are aborted and the run fails with this error.
 */
export class BudgetExceededError extends HtdagError {
  constructor(
    readonly runId: string,
    /** What the run had spent when the limit was found reached. */
    readonly spent: Required<Spend>,
    /** The run's budget. */
    readonly budget: Spend,
  ) {
    const reached = (Object.keys(budget) as (keyof Spend)[])
      .filter((key) => budget[key] !== undefined && spent[key] >= budget[key]!)
      .map((key) => `${key} ${spent[key]} of ${budget[key]}`);
    super(
      "BUDGET_EXCEEDED",
      `run ${runId} reached its budget (${reached.join(", ") || "a limit"}): no task starts and no LLM call is made; ` +
        `raise it with retryRun(runId, { budget: { … } }) to go on`,
    );
  }
}

/**
 * A signal no wait will take (docs/waits-and-flow-control.md): the run is final (or unknown), or no wait task
 * of its graph waits for that name, or every one that does is final. Nothing is stored.
 */
export class SignalError extends HtdagError {
  constructor(
    readonly runId: string,
    /** The signal's name. */
    readonly signalName: string,
    /** Why no wait takes it, in words: e.g. "the run is completed". */
    readonly reason: string,
  ) {
    super(
      "SIGNAL_NOT_AWAITED",
      `signal ${JSON.stringify(signalName)} to run ${runId} was not delivered: ${reason}. ` +
        "Send a signal to a run that is not final, with the name of one of its wait tasks " +
        "({ wait: { signal: name } }); `htdag show <runId>` lists them",
    );
  }
}

/**
 * A wait task's signal did not arrive within its `wait.timeoutMs` (docs/waits-and-flow-control.md): the
 * attempt ends `timed_out` with this error, as stored by the database (which writes the same name,
 * code and message), and the task's retries and `runIf` follow as usual. Read it as `task.error`.
 */
export class SignalTimeoutError extends HtdagError {
  constructor(taskId: string, signalName: string, timeoutMs: number) {
    super(
      "SIGNAL_TIMEOUT",
      `task ${JSON.stringify(taskId)} waited ${timeoutMs} ms (wait.timeoutMs) for signal ${JSON.stringify(signalName)}, ` +
        `which did not arrive; send it with orch.signal(runId, ${JSON.stringify(signalName)}, payload) or raise wait.timeoutMs`,
    );
  }
}

/**
 * A schedule's tick could not be fired (docs/waits-and-flow-control.md, "Schedules"): its stored graph
 * does not validate any more, or the submit of its run failed. Reported through the orchestrator's
 * `onError`; the worker goes on with the other schedules and tries the tick again shortly.
 */
export class ScheduleFireError extends HtdagError {
  constructor(
    /** The schedule's name. */
    readonly schedule: string,
    cause: unknown,
  ) {
    super(
      "SCHEDULE_FIRE_FAILED",
      `schedule ${JSON.stringify(schedule)} could not fire its tick, tried again shortly: ` +
        `${cause instanceof Error ? cause.message : String(cause)}. ` +
        "Fix the cause, or store the schedule anew with orch.schedule() (or remove it with orch.unschedule())",
      { cause },
    );
  }
}

/** Short, safe rendering of a received value for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) {
    return "undefined";
  }
  if (value === null) {
    return "null";
  }
  if (typeof value === "string") {
    return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}`;
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return `${typeof value} ${String(value)}`;
  }
  if (Array.isArray(value)) {
    return `an array of ${value.length}`;
  }
  if (typeof value === "function") {
    return "a function";
  }
  const name = (value as object).constructor?.name;
  return name && name !== "Object" ? `an instance of ${name}` : "an object";
}
