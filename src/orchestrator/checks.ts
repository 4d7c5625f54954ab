/** Checks of arguments at the run service's edge, with errors that name the problem. */
import { InvalidOptionError, RunNotFoundError } from "../errors.js";
import { isStep, type Steps } from "../composer/steps.js";

/** Throws unless `steps` is an object of step functions or defineStep results. */
export function checkSteps(steps: unknown): asserts steps is Steps {
  if (steps === null || typeof steps !== "object") {
    throw new InvalidOptionError("steps", "an object of step functions by name", steps, "composeFromTaskGraph");
  }
  for (const [name, step] of Object.entries(steps)) {
    if (!isStep(step)) {
      throw new InvalidOptionError(
        `steps.${name}`,
        "a function or a defineStep({...}) result",
        step,
        "composeFromTaskGraph",
      );
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Throws unless `runId` looks like a run id (a UUID). */
export function assertRunId(runId: unknown): asserts runId is string {
  if (typeof runId !== "string" || !UUID.test(runId)) {
    if (typeof runId === "string") {
      throw new RunNotFoundError(runId);
    }
    throw new InvalidOptionError("runId", "a run id (a UUID string)", runId);
  }
}
