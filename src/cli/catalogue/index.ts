/**
 * The built-in catalogue of `htdag run`: steps that do real work offline, the rules that plan with
 * them, and the workflows (by name) a worker or `htdag resume` binds them under.
 */
import type { Steps } from "../../composer/steps.js";
import { findDuplicates, hashFiles } from "./duplicates.js";
import { profileColumn, readCsv, summariseCsv } from "./csv.js";
import { checkDocs, countLanguageLines, findTodos, largeFiles, readDependencies, scan, writeReport } from "./health.js";
import { builtinRules } from "./rules.js";

export { builtinRules, EXAMPLE_GOALS } from "./rules.js";

/** Every built-in step by name; the LLM and hybrid decomposers see these names and descriptions. */
export const builtinSteps: Steps = {
  "files.scan": scan,
  "files.hash": hashFiles,
  "files.find_duplicates": findDuplicates,
  "health.count_lines": countLanguageLines,
  "health.find_todos": findTodos,
  "health.check_docs": checkDocs,
  "health.read_dependencies": readDependencies,
  "health.large_files": largeFiles,
  "health.write_report": writeReport,
  "csv.read": readCsv,
  "csv.profile_column": profileColumn,
  "csv.summarise": summariseCsv,
};

/** Workflow of runs planned by an LLM (no rule answered). */
export const BUILTIN_WORKFLOW = "builtin";

/** The workflow a goal's run is recorded under: its rule's name, else {@link BUILTIN_WORKFLOW}. */
export function workflowFor(rule: string | undefined): string {
  return rule && builtinRules.some((r) => r.name === rule) ? rule : BUILTIN_WORKFLOW;
}

/** Every built-in workflow name mapped to `steps` (for workers, resume and retry). @default the built-in steps */
export function builtinWorkflows(steps: Steps = builtinSteps): Record<string, Steps> {
  const names = [BUILTIN_WORKFLOW, ...builtinRules.map((r) => r.name)];
  return Object.fromEntries(names.map((name) => [name, steps]));
}
