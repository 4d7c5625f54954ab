/**
 * What PostgreSQL can store. jsonb refuses a NUL character (`\u0000`) and an unpaired UTF-16
 * surrogate in any string or key, and a value of more than 255 MB. One refused value fails the
 * whole settle call it travels in, with every other task's settlement in it; so outputs are
 * checked here before they are sent (a refused one fails its own task), and error messages are
 * made storable instead.
 */
import { NonJsonOutputError, OutputTooLargeError, UnstorableOutputError } from "../errors.js";
import { formatPath } from "../graph/validate-schema.js";
import { MAX_VALUE_DEPTH, valueHazard } from "../graph/value-guard.js";
import { ESCAPED_UNSTORABLE, LONE_SURROGATE, unstorableAt } from "../graph/storable-text.js";

export { unstorableAt };

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");
/** Longest error message stored, in characters; the rest is cut, so an error never fills a settle. */
export const MAX_ERROR_MESSAGE_LENGTH = 65_536;

/**
 * Throws `NonJsonOutputError` when a step's output is not JSON (a BigInt, a function, a Date, NaN,
 * `undefined` in an array, a cycle, nesting deeper than {@link MAX_VALUE_DEPTH}), and
 * `OutputTooLargeError` when it surely takes more than `maxOutputBytes` as JSON. The first look
 * costs what the value's size in memory does, so a cycle or a "JSON bomb" of shared references
 * fails the task instead of overflowing the stack or hanging the walks and the serialisation after it.
 */
export function assertJsonOutput(taskId: string, value: unknown, maxOutputBytes: number): void {
  const hazard = valueHazard(value, { maxDepth: MAX_VALUE_DEPTH, maxBytes: maxOutputBytes });
  if (hazard?.kind === "too_large") {
    throw new OutputTooLargeError(taskId, maxOutputBytes + 1, maxOutputBytes, "more than");
  }
  if (hazard) {
    throw new NonJsonOutputError(taskId, `${formatPath("output", hazard.path)} ${hazard.message}`);
  }
  const problem = jsonProblem(value, "output");
  if (problem) {
    throw new NonJsonOutputError(taskId, problem);
  }
}

/** Describes the first value in `value` that JSON cannot hold, or returns null. */
export function jsonProblem(value: unknown, path: string): string | null {
  if (value === null || typeof value === "string" || typeof value === "boolean") {
    return null;
  }
  if (typeof value === "number") {
    return Number.isFinite(value) ? null : `${path} is ${value}`;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = jsonProblem(value[i], `${path}[${i}]`);
      if (problem) {
        return problem;
      }
    }
    return null;
  }
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      return `${path} is an instance of ${(value as object).constructor?.name ?? "a class"}`;
    }
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) {
        continue;
      }
      const problem = jsonProblem(item, `${path}.${key}`);
      if (problem) {
        return problem;
      }
    }
    return null;
  }
  return `${path} is ${typeof value === "function" ? "a function" : value === undefined ? "undefined" : `a ${typeof value}`}`;
}

/**
 * The size in bytes of JSON of an output as it will be stored (encoded by the codec, if any).
 * Throws `UnstorableOutputError` when a string or key of it holds what jsonb refuses, and
 * `OutputTooLargeError` when it is larger than `maxOutputBytes`: both fail the task at once.
 */
export function storedOutputBytes(taskId: string, stored: unknown, maxOutputBytes: number): number {
  const json = JSON.stringify(stored) ?? "null";
  if (ESCAPED_UNSTORABLE.test(json)) {
    // The escape may also be plain text ("\\u0000" in a string): only the walk decides.
    const problem = unstorableAt(stored, "output");
    if (problem) {
      throw new UnstorableOutputError(taskId, problem);
    }
  }
  const bytes = Buffer.byteLength(json, "utf8");
  if (bytes > maxOutputBytes) {
    throw new OutputTooLargeError(taskId, bytes, maxOutputBytes);
  }
  return bytes;
}

/** `text` with each NUL and unpaired surrogate replaced by U+FFFD, and cut to {@link MAX_ERROR_MESSAGE_LENGTH}. */
export function storableText(text: string): string {
  const cut =
    text.length > MAX_ERROR_MESSAGE_LENGTH
      ? `${text.slice(0, MAX_ERROR_MESSAGE_LENGTH)}… (${text.length - MAX_ERROR_MESSAGE_LENGTH} more characters cut)`
      : text;
  return cut.replaceAll("\u0000", "\ufffd").replace(LONE_SURROGATES, "\ufffd");
}
