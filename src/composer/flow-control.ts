/**
 * Flow control at bind (docs/waits-and-flow-control.md, "Flow control"): a task's own `concurrency`
 * and `rateLimit` override its step's, and their keys, templates over the task's input as written
 * (`{{input.customer}}`), are rendered once, when the task is bound. The claim enforces them
 * (migrations/0009_flow_control.sql): a concurrency key is the queue `concurrency:<key>`, a rate
 * limit is a GCRA cell per key.
 */
import { GraphValidationError } from "../errors.js";
import type { ConcurrencyLimit, RateLimit } from "../graph/flow-control.js";
import type { Task } from "../graph/task-graph.js";
import { getPath } from "./json-path.js";

/** The queue a concurrency key's tasks sit in: `concurrency:<rendered key>`. */
export const CONCURRENCY_QUEUE_PREFIX = "concurrency:";
/** Longest rendered key: keys are names, not payloads. */
const MAX_RENDERED_KEY = 200;
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** A task's flow control as the claim reads it (spec.concurrency, spec.rateLimit), keys rendered. */
export interface ResolvedFlowControl {
  concurrency?: ConcurrencyLimit;
  rateLimit?: RateLimit;
}

/** The task's own limits, else its step's, with their keys rendered over the task's input. */
export function resolveFlowControl(
  task: Task,
  step: { concurrency?: ConcurrencyLimit; rateLimit?: RateLimit } | undefined,
): ResolvedFlowControl {
  const concurrency = task.concurrency ?? step?.concurrency;
  const rateLimit = task.rateLimit ?? step?.rateLimit;
  const owner = (own: unknown) => (own === undefined ? `its step's` : `its own`);
  return {
    ...(concurrency
      ? {
          concurrency: {
            ...concurrency,
            key: renderFlowKey(task, "concurrency", concurrency.key, owner(task.concurrency)),
          },
        }
      : {}),
    ...(rateLimit
      ? { rateLimit: { ...rateLimit, key: renderFlowKey(task, "rateLimit", rateLimit.key, owner(task.rateLimit)) } }
      : {}),
  };
}

/**
 * Renders `template` over the task: each `{{input.a.b}}` is the value at `a.b` of the task's input
 * as written (a reference in the input is not resolved: keys are known when the task is bound). A
 * missing path or a value that is not a string, number or boolean is a GraphValidationError.
 */
export function renderFlowKey(task: Task, field: "concurrency" | "rateLimit", template: string, owner: string): string {
  const rendered = template.replace(PLACEHOLDER, (_match, expression: string) => {
    const problem = (what: string): never => {
      throw new GraphValidationError(
        [
          {
            code: "flow_control_key",
            path: `tasks.${task.id}.${field}.key`,
            message:
              `${owner} ${field} key ${JSON.stringify(template)} of task ${JSON.stringify(task.id)} ${what}; ` +
              "a key may name only a string, number or boolean of the task's input as written " +
              '(e.g. "{{input.customer}}"): give the task that input, or set a key on the task itself',
          },
        ],
        `task ${task.id}`,
      );
    };
    if (expression !== "input" && !expression.startsWith("input.") && !expression.startsWith("input[")) {
      return problem(`names ${JSON.stringify(expression)}, which is not the task's input`);
    }
    const value = getPath(task.input, expression.slice("input".length).replace(/^\./, ""));
    if (value === undefined) {
      return problem(`names ${JSON.stringify(expression)}, which the task's input lacks`);
    }
    if (typeof value === "string" && /\{\{|\}\}/.test(value)) {
      return problem(`names ${JSON.stringify(expression)}, a reference, which is not resolved for a key`);
    }
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      return problem(`names ${JSON.stringify(expression)}, which is ${value === null ? "null" : typeof value}`);
    }
    return String(value);
  });
  if (rendered.length === 0 || rendered.length > MAX_RENDERED_KEY) {
    throw new GraphValidationError(
      [
        {
          code: "flow_control_key",
          path: `tasks.${task.id}.${field}.key`,
          message:
            `${owner} ${field} key ${JSON.stringify(template)} of task ${JSON.stringify(task.id)} renders to ` +
            `${rendered.length} characters; a key must have 1 to ${MAX_RENDERED_KEY}: name a shorter field`,
        },
      ],
      `task ${task.id}`,
    );
  }
  return rendered;
}
