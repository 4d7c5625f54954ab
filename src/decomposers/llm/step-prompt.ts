/**
 * The prompt of `llmStep` (docs/llm-steps.md): the run's goal, the task's description, its input
 * and its dependencies' outputs, each cut to a byte budget so that one large value cannot crowd out
 * the rest (or the model's context); a cut is said where it is made.
 */
import type { StepContext } from "../../composer/steps.js";

/** Bytes of the goal in the prompt. */
export const GOAL_BYTES = 4 * 1024;
/** Bytes of the task's description. */
export const DESCRIPTION_BYTES = 4 * 1024;
/** Bytes of the task's input (as JSON). */
export const INPUT_BYTES = 8 * 1024;
/** Bytes of one dependency's output (as JSON). */
export const DEPENDENCY_BYTES = 4 * 1024;
/** Bytes of all dependencies' outputs together. */
export const ALL_DEPENDENCIES_BYTES = 16 * 1024;

/** The system prompt: the role, how to answer, and the step's own instructions. */
export function stepSystemPrompt(instructions: string | undefined, structured: boolean): string {
  return [
    "You carry out one task of a larger plan that a workflow engine runs.",
    "You are given the plan's goal, the task, its input and the outputs of the tasks it depends on.",
    structured
      ? "Do the task and answer only with its result, in the JSON schema given."
      : "Do the task and answer with its result only: no preamble, no questions back.",
    ...(instructions ? ["", instructions] : []),
  ].join("\n");
}

/** The user prompt of the task `ctx` runs. */
export function stepUserPrompt(ctx: Pick<StepContext, "goal" | "task" | "input" | "deps">): string {
  const lines = [
    `Goal of the plan: ${cutText(ctx.goal, GOAL_BYTES)}`,
    "",
    `Task ${JSON.stringify(ctx.task.id)}: ${cutText(ctx.task.description || ctx.task.id, DESCRIPTION_BYTES)}`,
  ];
  if (ctx.input !== null && ctx.input !== undefined) {
    lines.push("", "Input:", cutText(jsonOf(ctx.input), INPUT_BYTES));
  }
  const deps = Object.entries(ctx.deps);
  if (deps.length > 0) {
    lines.push("", "Outputs of the tasks it depends on:");
    let left = ALL_DEPENDENCIES_BYTES;
    for (const [id, output] of deps) {
      const text = jsonOf(output);
      const shown = cutText(text, Math.min(DEPENDENCY_BYTES, left));
      left = Math.max(0, left - Math.min(byteLength(text), DEPENDENCY_BYTES));
      lines.push(`- ${id}: ${shown}`);
    }
  }
  return lines.join("\n");
}

/** The re-ask after an answer that does not fit the output schema: every issue, with its path. */
export function stepReaskPrompt(issues: readonly string[]): string {
  return [
    `Your answer does not fit the schema (${issues.length === 1 ? "1 problem" : `${issues.length} problems`}):`,
    ...issues.map((issue) => `- ${issue}`),
    "Answer again with the whole corrected result.",
  ].join("\n");
}

/** `text` cut to `maxBytes` of UTF-8 (never inside a character), ending `… [cut: N more bytes]` when cut. */
export function cutText(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) {
    return text;
  }
  let end = Math.max(0, maxBytes);
  // Back up to the start of a character: UTF-8 continuation bytes are 0b10xxxxxx.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) {
    end -= 1;
  }
  return `${bytes.subarray(0, end).toString("utf8")}… [cut: ${bytes.length - end} more bytes]`;
}

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** A value as the prompt shows it: strings as they are, everything else as JSON. */
function jsonOf(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? "null");
}
