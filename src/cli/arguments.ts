/** Parsers of flag values for commander: a wrong value exits 2 with a message naming the flag's value, never ignored. */
import { InvalidArgumentError } from "commander";

/** `text` as a whole number written in decimal digits (no sign, exponent or 0x), else NaN. */
export function decimalWholeNumber(text: string): number {
  return /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
}

/** A whole number from `min` to `max`; commander names the flag in its message. */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const parsed = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    }
    return parsed;
  };
}
