/**
 * The fallback step (docs/llm-steps.md): a steps map may bind `"*"`, which then runs every atomic task
 * whose own step (`task.step ?? task.id`) has no function. With it, validation accepts any step
 * name, and decomposers may plan free-form tasks (a description, no step).
 */

/** The name of the fallback step in a steps map. */
export const FALLBACK_STEP = "*";

/** Whether `stepNames` holds the fallback, so that any step name is accepted. */
export function hasFallbackStep(stepNames: Iterable<string>): boolean {
  for (const name of stepNames) {
    if (name === FALLBACK_STEP) {
      return true;
    }
  }
  return false;
}
