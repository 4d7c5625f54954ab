/**
 * Checks of flag values: a wrong value is an `InvalidOptionError` that names the flag, what it
 * expected and what it got, with an example to copy ("Try `--max-parallel 4`."); `htdag` prints
 * it as one line and exits 1 (a bad setting, docs/cli.md). Never ignored, never guessed at.
 */
import { InvalidOptionError } from "../errors.js";
import type { Json } from "../graph/task-graph.js";

/** `text` as a whole number written in decimal digits (no sign, exponent or 0x), else NaN. */
export function decimalWholeNumber(text: string): number {
  return /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
}

/** The fix of a flag's error: an example to copy. */
export function tryFlag(flag: string, example: string | number): string {
  return `Try \`${flag} ${example}\`.`;
}

/** What a whole number from `min` to `max` is called in messages. */
function rangeText(min: number, max: number): string {
  return max === Number.MAX_SAFE_INTEGER ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
}

/**
 * The value of `flag` as a whole number from `min` to `max`, in decimal digits (so "0x10", "1e1",
 * "-0" and "" are refused, not read as 16, 10, 0 and 0).
 * @param example a good value, shown in the fix.
 */
export function flagWholeNumber(
  flag: string,
  text: string,
  bounds: { min: number; max?: number; example: number },
): number {
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  const parsed = decimalWholeNumber(text);
  if (!Number.isSafeInteger(parsed) || parsed < bounds.min || parsed > max) {
    throw new InvalidOptionError(flag, rangeText(bounds.min, max), text, undefined, tryFlag(flag, bounds.example));
  }
  return parsed;
}

/** A commander parser of {@link flagWholeNumber}: `.option("--concurrency <n>", "…", wholeNumber(…))`. */
export function wholeNumber(
  flag: string,
  bounds: { min: number; max?: number; example: number },
): (value: string) => number {
  return (value) => flagWholeNumber(flag, value, bounds);
}

/** The value of `flag` if it is one of `choices`. @param example the choice the fix shows. @default choices[0] */
export function flagChoice<T extends string>(
  flag: string,
  text: string,
  choices: readonly T[],
  example: T | undefined = choices[0],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new InvalidOptionError(flag, `one of ${choices.join(", ")}`, text, undefined, tryFlag(flag, example ?? ""));
  }
  return text as T;
}

/**
 * The value of `flag` parsed as JSON (`--data '{"approved": true}'`); text that is not JSON is an
 * `InvalidOptionError` naming the flag, the parser's complaint and an example to copy.
 * @param example a good value, shown in the fix (quoted for a shell).
 */
export function flagJson(flag: string, text: string, example: string): Json {
  try {
    return JSON.parse(text) as Json;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InvalidOptionError(flag, `a JSON value (${reason})`, text, undefined, tryFlag(flag, `'${example}'`));
  }
}
