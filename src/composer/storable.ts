/**
 * What PostgreSQL can store. jsonb refuses a NUL character (`\u0000`) and an unpaired UTF-16
 * surrogate in any string or key, and a value of more than 255 MB. One refused value fails the
 * whole settle call it travels in, with every other task's settlement in it; so outputs are
 * checked here before they are sent (a refused one fails its own task), and error messages are
 * made storable instead.
 */
import { OutputTooLargeError, UnstorableOutputError } from "../errors.js";

/** A surrogate without its pair. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, "g");
/** How JSON.stringify writes a NUL or a lone surrogate: the cheap test before walking the value. */
const ESCAPED_UNSTORABLE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/;
/** Longest error message stored, in characters; the rest is cut, so an error never fills a settle. */
export const MAX_ERROR_MESSAGE_LENGTH = 65_536;

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

/** Describes the first string or key in `value` that jsonb refuses, with its path, or returns null. */
export function unstorableAt(value: unknown, path: string): string | null {
  if (typeof value === "string") {
    const char = unstorableChar(value);
    return char === null ? null : `${describeChar(char)} at ${path}`;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = unstorableAt(value[i], `${path}[${i}]`);
      if (problem) {
        return problem;
      }
    }
    return null;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) {
        continue;
      }
      const char = unstorableChar(key);
      if (char !== null) {
        return `${describeChar(char)} in the key ${JSON.stringify(key)} of ${path}`;
      }
      const problem = unstorableAt(item, `${path}.${key}`);
      if (problem) {
        return problem;
      }
    }
  }
  return null;
}

/** `text` with each NUL and unpaired surrogate replaced by U+FFFD, and cut to {@link MAX_ERROR_MESSAGE_LENGTH}. */
export function storableText(text: string): string {
  const cut =
    text.length > MAX_ERROR_MESSAGE_LENGTH
      ? `${text.slice(0, MAX_ERROR_MESSAGE_LENGTH)}… (${text.length - MAX_ERROR_MESSAGE_LENGTH} more characters cut)`
      : text;
  return cut.replaceAll("\u0000", "\ufffd").replace(LONE_SURROGATES, "\ufffd");
}

function unstorableChar(text: string): string | null {
  if (text.includes("\u0000")) {
    return "\u0000";
  }
  return LONE_SURROGATE.exec(text)?.[0] ?? null;
}

function describeChar(char: string): string {
  const escaped = `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return char === "\u0000" ? `a NUL character (${escaped})` : `an unpaired UTF-16 surrogate (${escaped})`;
}
