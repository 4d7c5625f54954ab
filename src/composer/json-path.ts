/** A small path language over JSON values: `a.b[0].c`, as conditions and input references use it. */

const SEGMENT = /([^.[\]]+)|\[(\d+)\]/g;

/** Splits `flights[0].id` into `["flights", 0, "id"]`. */
export function parsePath(path: string): (string | number)[] {
  const keys: (string | number)[] = [];
  for (const match of path.matchAll(SEGMENT)) {
    if (match[2] !== undefined) {
      keys.push(Number(match[2]));
    } else if (match[1] !== undefined) {
      keys.push(match[1]);
    }
  }
  return keys;
}

/** The value at `path` inside `value`, or undefined when any step of the path is missing. */
export function getPath(value: unknown, path: string | undefined): unknown {
  if (!path) {
    return value;
  }
  let current = value;
  for (const key of parsePath(path)) {
    if (current === null || typeof current !== "object") {
      return undefined;
    }
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}
