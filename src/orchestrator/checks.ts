/** Checks of arguments at the run service's edge, with errors that name the problem. */
import { InvalidOptionError, RunNotFoundError } from "../errors.js";
import { findUnstorable } from "../graph/storable-text.js";
import { isStep, type Steps } from "../composer/steps.js";

/** Throws unless `steps` is an object of step functions or defineStep results. */
export function checkSteps(steps: unknown, where = "composeFromTaskGraph"): asserts steps is Steps {
  if (steps === null || typeof steps !== "object" || Array.isArray(steps)) {
    throw new InvalidOptionError("steps", "an object of step functions by name", steps, where);
  }
  for (const [name, step] of Object.entries(steps)) {
    if (!isStep(step)) {
      throw new InvalidOptionError(`steps.${name}`, "a function or a defineStep({...}) result", step, where);
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Throws unless `runId` looks like a run id (a UUID). */
export function assertRunId(runId: unknown): asserts runId is string {
  if (typeof runId !== "string" || !UUID.test(runId)) {
    if (typeof runId === "string") {
      throw new RunNotFoundError(runId);
    }
    throw new InvalidOptionError("runId", "a run id (a UUID string)", runId);
  }
}

/**
 * Throws unless `options` is absent or a plain object: a number, a string or an array in its place
 * is a mistake, which destructuring would silently take for "no options".
 */
export function assertOptionsObject(options: unknown, where: string): void {
  if (options === undefined || options === null) {
    return;
  }
  const prototype = typeof options === "object" ? Object.getPrototypeOf(options) : undefined;
  if (prototype !== Object.prototype && prototype !== null) {
    throw new InvalidOptionError("(options)", "an object of options, e.g. { maxParallel: 4 }", options, where);
  }
}

/** The words for text the database refuses, in option errors. */
const STORABLE_TEXT =
  "text without a NUL character (\\u0000) or an unpaired UTF-16 surrogate, which PostgreSQL cannot store";

/** Throws an InvalidOptionError naming the first string (or key) of `options` that PostgreSQL cannot store. */
export function assertStorableOptions(options: object, where: string): void {
  const found = findUnstorable(options, "");
  if (found !== null) {
    const option = found.path.replace(/^\./, "") || "(options)";
    const value = option
      .split(/\.|\[|\]/)
      .filter(Boolean)
      .reduce<unknown>((at, key) => (at as Record<string, unknown>)?.[key], options);
    throw new InvalidOptionError(option, STORABLE_TEXT, value, where);
  }
}

/** Most characters of a reason given to cancelRun or pauseRun. */
export const MAX_REASON_LENGTH = 10_000;

/** Throws unless `reason` is storable text of at most {@link MAX_REASON_LENGTH} characters. */
export function checkReason(reason: unknown, where: string): asserts reason is string {
  if (typeof reason !== "string" || reason.length > MAX_REASON_LENGTH) {
    throw new InvalidOptionError("reason", `a string of at most ${MAX_REASON_LENGTH} characters`, reason, where);
  }
  assertStorableOptions({ reason }, where);
}
