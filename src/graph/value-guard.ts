/**
 * A cheap first look at a value from outside (a graph, a decomposer's answer, a step's output)
 * before zod or `JSON.stringify` walks it. Both follow every path, and both recurse: a cycle, a
 * value nested thousands of levels deep (a stack overflow), or a few objects shared many times
 * (`v = { a: v, b: v }` forty times over is 2^40 paths, a "JSON bomb" in memory) would crash or
 * hang them. This walk visits each distinct object once, so it costs as much as the value's
 * size in memory, whatever its shape.
 */

/** What is wrong with a value, and where (a path from the value's root). */
export interface ValueHazard {
  kind: "cycle" | "too_deep" | "too_large";
  path: PropertyKey[];
  /** What is wrong and how to fix it, e.g. "nested more than 200 levels deep; flatten it". */
  message: string;
}

/** Limits of {@link valueHazard}. */
export interface ValueLimits {
  /** Deepest nesting of arrays and objects; the value itself is level 0. */
  maxDepth: number;
  /** Most bytes the value may take as JSON (a lower bound is compared: strings count their length). */
  maxBytes: number;
}

/** Nesting deeper than this is refused before a recursive walk (zod, JSON) would overflow the stack. */
export const MAX_VALUE_DEPTH = 200;

/** Thrown inside the walk to stop it at the first hazard; never leaves this module. */
class Stop {
  constructor(readonly hazard: ValueHazard) {}
}

/**
 * The first hazard of `value`: a cycle, nesting deeper than `maxDepth`, or more than `maxBytes`
 * bytes of JSON once shared references are written out each time they appear (as
 * `JSON.stringify` writes them). Null when the value is safe to walk and serialise.
 */
export function valueHazard(value: unknown, limits: ValueLimits): ValueHazard | null {
  const state: WalkState = { limits, path: [], ancestors: new Set(), sizes: new WeakMap() };
  try {
    sizeOf(value, 0, state);
    return null;
  } catch (error) {
    if (error instanceof Stop) {
      return error.hazard;
    }
    throw error;
  }
}

interface WalkState {
  limits: ValueLimits;
  /** The path to the value being walked; copied only when a hazard is found. */
  path: PropertyKey[];
  /** Objects on the path from the root: meeting one again is a cycle. */
  ancestors: Set<object>;
  /** Lower bound of the JSON size of each object already walked, so a shared one is walked once. */
  sizes: WeakMap<object, number>;
}

function sizeOf(value: unknown, depth: number, state: WalkState): number {
  if (typeof value === "string") {
    return value.length + 2;
  }
  if (value === null || typeof value !== "object") {
    return 4;
  }
  const known = state.sizes.get(value);
  if (known !== undefined) {
    return known;
  }
  if (state.ancestors.has(value)) {
    stop(state, "cycle", "refers back to an object that holds it (a cycle), which JSON cannot hold; remove the loop");
  }
  if (depth >= state.limits.maxDepth) {
    stop(state, "too_deep", `nested more than ${state.limits.maxDepth} levels deep; flatten it`);
  }
  state.ancestors.add(value);
  let size = 2;
  const keys = Array.isArray(value) ? null : Object.keys(value);
  const count = keys === null ? (value as unknown[]).length : keys.length;
  for (let i = 0; i < count; i++) {
    const key = keys === null ? i : (keys[i] as string);
    state.path.push(key);
    size += 1 + sizeOf((value as Record<PropertyKey, unknown>)[key], depth + 1, state);
    if (typeof key === "string") {
      size += key.length + 3;
    }
    state.path.pop();
    if (size > state.limits.maxBytes) {
      stop(
        state,
        "too_large",
        `is more than ${state.limits.maxBytes} bytes as JSON (a value shared by several references is ` +
          `written out at each); make it smaller`,
      );
    }
  }
  state.ancestors.delete(value);
  state.sizes.set(value, size);
  return size;
}

function stop(state: WalkState, kind: ValueHazard["kind"], message: string): never {
  throw new Stop({ kind, path: [...state.path], message });
}
