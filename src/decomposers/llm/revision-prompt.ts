/**
 * The revision prompt of the LLM decomposer (docs/living-plans.md): instead of the goal alone, the model
 * gets the current plan with each task's status, what the completed tasks returned, the failure
 * that asked for the revision, and the rules of an answer (the whole revised plan; completed tasks
 * kept by id; unlisted unfinished tasks superseded; new tasks may depend on completed ones).
 *
 * Outputs can be large, so each is cut to a byte budget and all of them together to another; a cut
 * says where it is and how much was left out (`… [cut: 12,345 more bytes]`). Revisions are never
 * cached, so this wording is not part of a cache key (PROMPT_VERSION covers the planning prompt).
 */
import type { CatalogueEntry, PlanRevisionRequest } from "../../graph/decomposer.js";
import type { TaskSpec } from "../../graph/task-graph.js";
import { catalogueLines } from "./prompt.js";

/** Most bytes of one completed task's output (as JSON) in the prompt. */
export const MAX_OUTPUT_BYTES = 2 * 1024;
/** Most bytes of all completed tasks' outputs together in the prompt. */
export const MAX_OUTPUTS_BYTES = 16 * 1024;
/** Most bytes of one task's input (as JSON) in the plan listing. */
export const MAX_INPUT_BYTES = 1024;
/** Most bytes of the failed task's error message. */
export const MAX_ERROR_BYTES = 2 * 1024;

/** The status of a task whose output a new task may read. */
const COMPLETED = "completed";

/** The user prompt of a revision: goal, catalogue, current plan, outputs, failure and rules. */
export function revisionPrompt(
  goal: string,
  catalogue: readonly CatalogueEntry[],
  revision: PlanRevisionRequest,
): string {
  return [
    `Goal: ${goal}`,
    "",
    "Available steps (use these exact names):",
    ...catalogueLines(catalogue),
    "",
    `The plan below is running and needs revision ${revision.number}.`,
    "Current plan (each task with its status):",
    ...revision.graph.tasks.map((task) => planLine(task, revision.statuses[task.id] ?? "pending")),
    "",
    "Outputs of the completed tasks:",
    ...outputLines(revision),
    "",
    ...failureLines(revision),
    "",
    ...REVISION_RULES,
  ].join("\n");
}

/** How a revision answer is read, as the model must know it. */
const REVISION_RULES = [
  "Answer with the WHOLE revised plan, in the same JSON schema:",
  "- A completed task you list, with its id unchanged, is kept as it is and not run again; so is a running one.",
  "- A task you list that has not started (or the failed task) is replaced by what you write: give its step, dependsOn and input in full.",
  "- A task you leave out that has not completed is dropped.",
  '- New tasks get new ids. They may depend on completed tasks, even ones you leave out, and read their outputs with {"$from": "<task id>", "path": "<field>"}.',
  "- Do not plan the approach that failed again: route around the failure with other steps of the catalogue.",
];

function planLine(task: TaskSpec, status: string): string {
  const parts = [`- ${task.id} [${status.toUpperCase()}]: ${task.description || task.id}`];
  if (task.kind === "composite") {
    parts.push("composite");
  } else {
    parts.push(`step: ${task.step ?? task.id}`);
  }
  if (task.parentId !== undefined) {
    parts.push(`part of: ${task.parentId}`);
  }
  parts.push(`dependsOn: [${(task.dependsOn ?? []).join(", ")}]`);
  if (task.input !== undefined) {
    parts.push(`input: ${cutJson(task.input, MAX_INPUT_BYTES)}`);
  }
  return parts.join("; ");
}

/**
 * One line per completed task, in plan order: its output as JSON, each cut to MAX_OUTPUT_BYTES and
 * all of them to MAX_OUTPUTS_BYTES (an output past the total budget shows only its cut marker).
 */
export function outputLines(
  revision: Pick<PlanRevisionRequest, "graph" | "statuses" | "outputs">,
  budget: { perOutputBytes: number; totalBytes: number } = {
    perOutputBytes: MAX_OUTPUT_BYTES,
    totalBytes: MAX_OUTPUTS_BYTES,
  },
): string[] {
  const completed = revision.graph.tasks.filter((task) => revision.statuses[task.id] === COMPLETED);
  if (completed.length === 0) {
    return ["(none)"];
  }
  let remaining = budget.totalBytes;
  return completed.map((task) => {
    if (!Object.hasOwn(revision.outputs, task.id) || revision.outputs[task.id] === undefined) {
      return `- ${task.id}: (no output)`;
    }
    const text = JSON.stringify(revision.outputs[task.id]) ?? "null";
    const cut = cutToBytes(text, Math.min(budget.perOutputBytes, remaining));
    remaining -= cut.keptBytes;
    return `- ${task.id}: ${cut.text}`;
  });
}

function failureLines(revision: PlanRevisionRequest): string[] {
  const lines = ["What failed:"];
  if (revision.taskId !== null) {
    lines.push(`- task: ${revision.taskId}`);
  }
  const error = describeError(revision.error);
  if (error !== undefined) {
    lines.push(`- error: ${error}`);
  }
  lines.push(`- reason: ${cutToBytes(revision.reason, MAX_ERROR_BYTES).text}`);
  return lines;
}

/** `Name: message` of a stored error (`{ name, message, … }`), cut to MAX_ERROR_BYTES; undefined for none. */
export function describeError(error: unknown): string | undefined {
  if (error === null || error === undefined) {
    return undefined;
  }
  if (typeof error === "object") {
    const { name, message } = error as { name?: unknown; message?: unknown };
    if (typeof message === "string") {
      const text = typeof name === "string" && name !== "" ? `${name}: ${message}` : message;
      return cutToBytes(text, MAX_ERROR_BYTES).text;
    }
  }
  return cutJson(error, MAX_ERROR_BYTES);
}

function cutJson(value: unknown, maxBytes: number): string {
  return cutToBytes(JSON.stringify(value) ?? "null", maxBytes).text;
}

/**
 * `text` cut to at most `maxBytes` bytes of UTF-8 (never inside a character), followed by
 * `… [cut: N more bytes]` when anything was left out.
 */
export function cutToBytes(text: string, maxBytes: number): { text: string; keptBytes: number } {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= maxBytes) {
    return { text, keptBytes: bytes.length };
  }
  let end = Math.max(0, maxBytes);
  // Back up over UTF-8 continuation bytes (10xxxxxx) so the cut falls between characters.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) {
    end -= 1;
  }
  const kept = bytes.subarray(0, end).toString("utf8");
  const more = (bytes.length - end).toLocaleString("en-US");
  return { text: `${kept}… [cut: ${more} more bytes]`, keptBytes: end };
}

/** Ids of the completed tasks of the plan being revised: new tasks may depend on them. */
export function completedIds(revision: PlanRevisionRequest): string[] {
  return Object.entries(revision.statuses)
    .filter(([, status]) => status === COMPLETED)
    .map(([id]) => id);
}
