/**
 * The prompts of the LLM decomposer: a system prompt with the plan's rules, a user prompt with the
 * goal, the catalogue and (for an expansion) the task being expanded, and the re-ask that quotes
 * every remaining problem. Bump PROMPT_VERSION when the wording changes what plans look like: it
 * is part of the cache key. The revision prompt (`revision-prompt.ts`) is never cached, so its
 * wording (and the system prompt's `revising` variant) needs no version.
 */
import type { GraphIssue } from "../../errors.js";
import type { TaskSpec } from "../../graph/task-graph.js";
import type { CatalogueEntry } from "../../graph/decomposer.js";
import { FALLBACK_STEP } from "../../graph/fallback.js";

export const PROMPT_VERSION = 1;

/** The composite being expanded, for the prompt. */
export interface ExpansionContext {
  task: TaskSpec;
  /** Descriptions of the composites above it, outermost first. */
  ancestors: readonly string[];
  /** Ids of tasks it depends on (its own and inherited) that children may read with `$from`. */
  dependencyIds: readonly string[];
  /** Outputs of its dependencies, when it is expanded at run time. */
  depsOutputs?: Record<string, unknown>;
}

/** Caps a JSON rendering so that one large value cannot crowd out the plan. */
const MAX_VALUE_CHARS = 2_000;

/**
 * The plan's rules; `revising` lets dependencies name completed tasks of the plan being revised;
 * `freeForm` (a fallback step is bound) lets atomic tasks have no step.
 */
export function systemPrompt(
  allowComposite: boolean,
  instructions: string | undefined,
  revising = false,
  freeForm = false,
): string {
  return [
    "You plan work as a task graph that a workflow engine will run. Answer only with the plan, in the JSON schema given.",
    "Rules:",
    '- Every task has a unique "id" of lower-case letters, digits and _ (for example "fetch_data").',
    revising
      ? '- "dependsOn" lists ids of tasks in your plan, or of completed tasks of the current plan, that must finish before this one starts. Never list the task itself, never make a cycle, and leave independent tasks unconnected so they can run in parallel.'
      : '- "dependsOn" lists ids of tasks in your plan that must finish before this one starts. Never list the task itself, never make a cycle, and leave independent tasks unconnected so they can run in parallel.',
    '- An atomic task ("kind": "atomic") runs exactly one step of the catalogue: set "step" to its exact name.',
    ...(freeForm
      ? [
          '- Free-form tasks are fine: an atomic task with "step": null is done by a general-purpose assistant that sees only its description, its input and the outputs of the tasks it depends on, so say in the description exactly what to do and what to answer. Prefer a catalogue step when one fits.',
        ]
      : []),
    allowComposite
      ? '- A composite task ("kind": "composite", "step": null) stands for work that needs several steps; it will be planned in detail later. Use one only when the work clearly needs several steps.'
      : "- Every task is atomic: composite tasks are not allowed here.",
    '- "input" is the step\'s input as a JSON object encoded as a string (for example "{\\"city\\": \\"Paris\\"}"), following the step\'s input schema, or null. To use the output of a task this one depends on, write {"$from": "<task id>", "path": "<field>"} as the value.',
    "- Plan only what the goal needs.",
    ...(instructions ? ["", instructions] : []),
  ].join("\n");
}

export function userPrompt(goal: string, catalogue: readonly CatalogueEntry[], expansion?: ExpansionContext): string {
  const lines = [`Goal: ${goal}`, "", "Available steps (use these exact names):", ...catalogueLines(catalogue)];
  if (expansion !== undefined) {
    lines.push("", ...expansionLines(expansion));
  }
  return lines.join("\n");
}

/** Whether the catalogue offers the fallback step: free-form tasks (no step) may be planned. */
export function allowsFreeForm(catalogue: readonly CatalogueEntry[]): boolean {
  return catalogue.some((entry) => entry.name === FALLBACK_STEP);
}

/** The step names the model may pick: the catalogue's, without the fallback. */
export function pickableStepNames(catalogue: readonly CatalogueEntry[]): string[] {
  return catalogue.map((entry) => entry.name).filter((name) => name !== FALLBACK_STEP);
}

/** One line per step: name, description and input schema; the fallback is said as "free-form tasks allowed". */
export function catalogueLines(catalogue: readonly CatalogueEntry[]): string[] {
  const freeForm = allowsFreeForm(catalogue);
  const steps = catalogue.filter((entry) => entry.name !== FALLBACK_STEP);
  const freeFormLine = '(free-form tasks allowed: "step": null, with a description that says exactly what to do)';
  if (steps.length === 0) {
    return [freeForm ? freeFormLine : "(no catalogue: name steps after what they do)"];
  }
  const lines = steps.map((entry) => {
    const schema = entry.inputSchema === undefined ? "" : `; input schema: ${capped(entry.inputSchema)}`;
    return `- ${entry.name}${entry.description ? `: ${entry.description}` : ""}${schema}`;
  });
  return freeForm ? [...lines, freeFormLine] : lines;
}

function expansionLines(expansion: ExpansionContext): string[] {
  const { task } = expansion;
  const lines = [
    "Plan only the subtasks of this composite task of a larger plan:",
    `- id: ${task.id}`,
    `- description: ${task.description || task.id}`,
  ];
  if (expansion.ancestors.length > 0) {
    lines.push(`- part of: ${expansion.ancestors.join(" > ")}`);
  }
  if (expansion.depsOutputs !== undefined && Object.keys(expansion.depsOutputs).length > 0) {
    lines.push("Outputs of the tasks it depends on (copy the values you need into inputs):");
    for (const [id, output] of Object.entries(expansion.depsOutputs)) {
      lines.push(`- ${id}: ${capped(output)}`);
    }
  } else if (expansion.dependencyIds.length > 0) {
    lines.push(
      `It runs after: ${expansion.dependencyIds.join(", ")}. Subtasks may read their outputs with {"$from": "<id>", "path": "<field>"}.`,
    );
  }
  lines.push('"dependsOn" of a subtask names other subtasks of your answer only.');
  return lines;
}

/** The follow-up after an answer with problems: every problem, with its path. */
export function reaskPrompt(issues: readonly GraphIssue[], stepNames: readonly string[]): string {
  const lines = [
    `Your plan has ${issues.length === 1 ? "1 problem" : `${issues.length} problems`}:`,
    ...issues.map((issue) => `- ${issue.path}: ${issue.message}`),
  ];
  if (issues.some((issue) => issue.code === "unknown_step") && stepNames.length > 0) {
    lines.push(`Allowed step names: ${stepNames.join(", ")}.`);
  }
  if (issues.some((issue) => issue.code === "truncated")) {
    lines.push("Answer with a shorter plan: fewer tasks and one-line descriptions.");
  }
  lines.push("Answer again with the whole corrected plan.");
  return lines.join("\n");
}

function capped(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS)}… (${text.length} characters)` : text;
}
