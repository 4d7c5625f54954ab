/**
 * The revisions of a run's plan (docs/living-plans.md) as `htdag show` lists them, and how superseded tasks
 * are told apart from the live plan. Pure: revisions in, lines out.
 */
import type { RunRevision } from "../store/revisions.js";

/** The status of a task a revision dropped: kept for history, never run again unless listed again. */
export const SUPERSEDED = "superseded";

/** The legend printed above the superseded group of `htdag show` and the live view of `htdag run`. */
export const SUPERSEDED_LEGEND = "superseded (dropped by a revision of the plan, kept for history):";

/** Whether a status is the superseded one: such tasks are drawn apart from the live plan. */
export function isSuperseded(status: string | undefined): boolean {
  return status === SUPERSEDED;
}

const count = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? value : null;

/**
 * What a revision's decomposition cost, when it called an LLM: `2 LLM calls, 1200 in / 340 out tokens`,
 * with its latency; an empty string for a decomposition that cost nothing to speak of.
 */
export function describeCost(decomposition: Record<string, unknown>): string {
  const calls = count(decomposition.llmCalls);
  const input = count(decomposition.inputTokens);
  const output = count(decomposition.outputTokens);
  if (calls === null && input === null && output === null) {
    return "";
  }
  const parts: string[] = [];
  if (calls !== null) {
    parts.push(`${calls} LLM call${calls === 1 ? "" : "s"}`);
  }
  if (input !== null || output !== null) {
    parts.push(`${input ?? 0} in / ${output ?? 0} out tokens`);
  }
  const latency = count(decomposition.latencyMs);
  if (latency !== null) {
    parts.push(`${Math.round(latency)}ms`);
  }
  return parts.join(", ");
}

/** One revision as a few lines: number, time and why, then the task that asked and the ids it touched, then its cost. */
export function describeRevision(revision: RunRevision): string[] {
  const lines = [`  revision ${revision.revision}  ${new Date(revision.at).toISOString()}  ${revision.reason}`];
  const touched = (["added", "removed", "changed"] as const)
    .filter((key) => revision[key].length > 0)
    .map((key) => `${key} ${revision[key].join(", ")}`);
  const asked = revision.taskId ? [`asked by ${revision.taskId}`] : [];
  lines.push(`    ${[...asked, ...(touched.length > 0 ? touched : ["no tasks changed"])].join("; ")}`);
  const cost = describeCost(revision.decomposition);
  if (cost) {
    lines.push(`    cost: ${cost}`);
  }
  return lines;
}

/** The `revisions:` section of `htdag show`, or nothing for a run whose plan was never revised. */
export function describeRevisions(revisions: readonly RunRevision[]): string[] {
  if (revisions.length === 0) {
    return [];
  }
  return [`revisions (${revisions.length}):`, ...revisions.flatMap(describeRevision)];
}
