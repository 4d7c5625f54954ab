/**
 * Text PostgreSQL cannot store: its text and jsonb types refuse a NUL character (`\u0000`) and an
 * unpaired UTF-16 surrogate in any string or key. A graph holding one is refused by validation
 * (issue `unstorable_text`), a step's output holding one fails its task (composer/storable.ts),
 * so the database never sees it: it would refuse the whole statement that carried it.
 */

/** A surrogate without its pair. */
export const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** How JSON.stringify writes a NUL or a lone surrogate: the cheap test before walking a value. */
export const ESCAPED_UNSTORABLE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/;

/** Where a value holds text PostgreSQL refuses: the path of the string (or of the object whose key it is) and what. */
export interface UnstorableText {
  /** `output.a[1].b`: the string, or the object holding the key. */
  path: string;
  /** `a NUL character (\u0000)`, or `an unpaired UTF-16 surrogate (\ud800) in the key "k\u0000"`. */
  what: string;
}

/** Describes the first string or key in `value` that PostgreSQL refuses, with its path, or returns null. */
export function unstorableAt(value: unknown, path: string): string | null {
  const found = findUnstorable(value, path);
  return found === null ? null : `${found.what} ${found.what.includes(" in the key ") ? "of" : "at"} ${found.path}`;
}

/** The first string or key in `value` that PostgreSQL refuses, or null; `undefined` members are skipped as JSON skips them. */
export function findUnstorable(value: unknown, path: string): UnstorableText | null {
  if (typeof value === "string") {
    const char = unstorableChar(value);
    return char === null ? null : { path, what: describeChar(char) };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], `${path}[${i}]`);
      if (found) {
        return found;
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
        return { path, what: `${describeChar(char)} in the key ${JSON.stringify(key)}` };
      }
      const found = findUnstorable(item, `${path}.${key}`);
      if (found) {
        return found;
      }
    }
  }
  return null;
}

/** The first NUL or unpaired surrogate of `text`, or null. */
export function unstorableChar(text: string): string | null {
  if (text.includes("\u0000")) {
    return "\u0000";
  }
  return LONE_SURROGATE.exec(text)?.[0] ?? null;
}

function describeChar(char: string): string {
  const escaped = `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return char === "\u0000" ? `a NUL character (${escaped})` : `an unpaired UTF-16 surrogate (${escaped})`;
}
