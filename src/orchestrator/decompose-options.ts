/** The checks at decomposeGoal's edge: its options and its goal, before any decomposer runs or any event is stored. */
import { z } from "zod";
import { DecompositionError } from "../errors.js";
import { findUnstorable } from "../graph/storable-text.js";
import { parseOptions } from "../options.js";
import type { Steps } from "../composer/steps.js";
import type { CatalogueEntry } from "../graph/decomposer.js";
import { assertOptionsObject, assertStorableOptions, checkSteps } from "./checks.js";

/** The longest goal: a graph's `goal` holds at most this many characters. */
export const MAX_GOAL_LENGTH = 10_000;

/** Options of decomposeGoal. */
export interface DecomposeOptions {
  /** Deepest hierarchy allowed. @default 5 */
  maxDepth?: number;
  /** Use the decomposition cache (LLM and hybrid decomposers); false bypasses it (no lookup, no store). @default true */
  cache?: boolean;
  /** Steps the graph may use; their names, descriptions and input schemas form the catalogue. @default none */
  steps?: Steps;
  /** The catalogue, when no steps are given. @default derived from `steps` */
  catalogue?: CatalogueEntry[];
  /** Time the decomposer may take, in ms. @default 60000 */
  timeoutMs?: number;
  /** Outputs of upstream workflows (composeMultipleWorkflows). @default none */
  upstream?: Record<string, unknown>;
}

const decomposeOptionsSchema = z.strictObject({
  maxDepth: z.number().int().min(1).max(20).optional(),
  cache: z.boolean().optional(),
  steps: z.record(z.string(), z.unknown()).optional(),
  catalogue: z.array(z.looseObject({ name: z.string().min(1) })).optional(),
  timeoutMs: z.number().int().min(1).max(2_147_483_647).optional(),
  upstream: z.record(z.string(), z.unknown()).optional(),
});

/**
 * `options` checked: an object of known options of the right types, steps that are steps, and
 * no text PostgreSQL cannot store in a catalogue.
 *
 * @throws InvalidOptionError naming the first bad option
 */
export function resolveDecomposeOptions(options: unknown): DecomposeOptions {
  assertOptionsObject(options, "decomposeGoal");
  const resolved = parseOptions(decomposeOptionsSchema, options ?? {}, "decomposeGoal");
  if (resolved.steps !== undefined) {
    checkSteps(resolved.steps, "decomposeGoal");
  }
  if (resolved.catalogue !== undefined) {
    assertStorableOptions({ catalogue: resolved.catalogue }, "decomposeGoal");
  }
  // The steps and the upstream outputs are passed on as given (functions, step definitions).
  return options as DecomposeOptions;
}

/**
 * Throws a DecompositionError for a goal that no decomposition can record: not a string, blank,
 * longer than {@link MAX_GOAL_LENGTH} characters, or holding text PostgreSQL cannot store.
 */
export function checkGoal(goal: unknown): asserts goal is string {
  if (typeof goal !== "string" || goal.trim() === "") {
    throw new DecompositionError(String(goal), "the goal must be a non-empty string");
  }
  if (goal.length > MAX_GOAL_LENGTH) {
    throw new DecompositionError(
      goal,
      `the goal is ${goal.length} characters long, more than ${MAX_GOAL_LENGTH}; state it shortly and pass ` +
        "large data as the run's input or in a file",
    );
  }
  const found = findUnstorable(goal, "goal");
  if (found !== null) {
    throw new DecompositionError(goal, `the goal holds ${found.what}, which PostgreSQL cannot store; remove it`);
  }
}
