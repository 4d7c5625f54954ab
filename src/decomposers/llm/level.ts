/**
 * Planning one level of the hierarchy with the model: the goal's top-level tasks, or the children
 * of one composite. The pipeline is parse → schema → local repair → validate; what is still wrong
 * is quoted back to the model, up to `maxRepairs` times, before a `DecompositionError` lists it.
 * A revision (docs/living-plans.md) is the top level asked with the revision prompt; the completed tasks
 * of the plan being revised count as known, so that new tasks may depend on them unlisted.
 */
import { DecompositionError, type GraphIssue } from "../../errors.js";
import { repairPlan } from "../repair.js";
import { recordRepair, type DecompositionUsage } from "../services.js";
import type { TaskSpec } from "../../graph/task-graph.js";
import type { CatalogueEntry, PlanRevisionRequest } from "../../graph/decomposer.js";
import { collectGraphIssues } from "../../graph/validate.js";
import { LlmRefusalError, providerError } from "./errors.js";
import { apiKeyOf, type ResolvedLlmOptions } from "./options.js";
import { readPlan, readTask, type PlannedTask } from "./parse.js";
import {
  allowsFreeForm,
  pickableStepNames,
  reaskPrompt,
  systemPrompt,
  userPrompt,
  type ExpansionContext,
} from "./prompt.js";
import { completedIds, revisionPrompt } from "./revision-prompt.js";
import { PLAN_SCHEMA_NAME, planJsonSchema } from "./schema.js";
import { taskStream } from "./task-stream.js";
import type { LlmTransport, Reply, Turn } from "./transport.js";
import { traceLlmCall } from "../../telemetry/llm-span.js";
import type { Telemetry } from "../../telemetry/telemetry.js";

/** One level to plan. */
export interface LevelRequest {
  goal: string;
  catalogue: readonly CatalogueEntry[];
  /** Whether tasks of this level may be composites (false at the deepest level allowed). */
  allowComposite: boolean;
  /** The composite being expanded; absent for the goal's top level. */
  expansion?: ExpansionContext;
  /** The plan being revised; absent for a first plan. Only the top level of a revision has one. */
  revision?: PlanRevisionRequest;
  /**
   * Streams the first answer and hands over each task as soon as its JSON object is complete,
   * read on its own (not yet checked against the other tasks); re-asks are not streamed.
   */
  onTask?: (task: TaskSpec) => void;
}

/** What planning a level uses. */
export interface LevelRunner {
  transport: LlmTransport;
  options: ResolvedLlmOptions;
  usage: DecompositionUsage;
  signal: AbortSignal;
  /** Traces each call; absent when the orchestrator's `telemetry` is off. */
  telemetry?: Telemetry;
}

/** Plans one level: its tasks, valid among themselves, with composites not yet expanded. */
export async function planLevel(request: LevelRequest, runner: LevelRunner): Promise<TaskSpec[]> {
  const stepNames = pickableStepNames(request.catalogue);
  const freeForm = allowsFreeForm(request.catalogue);
  const schema = planJsonSchema({ stepNames, allowComposite: request.allowComposite, freeForm });
  const system = systemPrompt(
    request.allowComposite,
    runner.options.instructions,
    request.revision !== undefined,
    freeForm,
  );
  const prompt =
    request.revision === undefined
      ? userPrompt(request.goal, request.catalogue, request.expansion)
      : revisionPrompt(request.goal, request.catalogue, request.revision);
  const turns: Turn[] = [{ role: "user", text: prompt }];
  for (let attempt = 0; ; attempt++) {
    const onText = attempt === 0 && request.onTask ? streamedTasks(request, request.onTask) : undefined;
    const reply = await ask(request.goal, runner, { system, turns, schema }, onText);
    if (reply.end === "refused") {
      throw new LlmRefusalError(request.goal, reply.refusal ?? "");
    }
    const outcome =
      reply.end === "truncated"
        ? { issues: [truncated(runner.options.maxTokens)] }
        : checkReply(reply, request, runner.usage);
    if ("specs" in outcome) {
      return outcome.specs;
    }
    if (attempt >= runner.options.maxRepairs) {
      throw invalidPlan(request, outcome.issues, runner.options.maxRepairs);
    }
    recordRepair(
      runner.usage,
      `re-asked the model about ${outcome.issues.length} problem(s): ${outcome.issues.map((i) => i.code).join(", ")}`,
    );
    turns.push({ role: "assistant", reply }, { role: "user", text: reaskPrompt(outcome.issues, stepNames) });
  }
}

async function ask(
  goal: string,
  runner: LevelRunner,
  prompt: { system: string; turns: Turn[]; schema: Record<string, unknown> },
  onText?: (text: string) => void,
): Promise<Reply> {
  const { options, usage } = runner;
  usage.llmCalls += 1;
  let reply: Reply;
  const request = {
    ...prompt,
    schemaName: PLAN_SCHEMA_NAME,
    model: options.model,
    maxTokens: options.maxTokens,
    temperature: options.temperature,
  };
  const send = onText
    ? () => drain(runner.transport.stream(request, runner.signal), onText)
    : () => runner.transport.complete(request, runner.signal);
  const call = { provider: runner.transport.provider, model: options.model, maxTokens: options.maxTokens };
  try {
    reply = await (runner.telemetry ? traceLlmCall(runner.telemetry, call, send) : send());
  } catch (error) {
    throw await providerError(goal, options.provider, error, {
      retries: options.maxRetries,
      requestTimeoutMs: options.requestTimeoutMs,
      apiKey: apiKeyOf(options),
    });
  }
  usage.inputTokens += reply.inputTokens;
  usage.outputTokens += reply.outputTokens;
  usage.model = reply.model;
  return reply;
}

/** Reads a stream to its end, handing each piece of text to `onText`; resolves to its reply. */
async function drain(stream: AsyncGenerator<string, Reply, void>, onText: (text: string) => void): Promise<Reply> {
  for (;;) {
    const next = await stream.next();
    if (next.done === true) {
      return next.value;
    }
    onText(next.value);
  }
}

/** A writer for the streamed answer's text that hands each task that reads well on its own to `onTask`. */
function streamedTasks(request: LevelRequest, onTask: (task: TaskSpec) => void): (text: string) => void {
  const ignore = () => undefined; // repairs are recorded once, when the whole answer is checked
  const stream = taskStream((raw, index) => {
    const read = readTask(raw, `tasks[${index}]`, ignore);
    if ("issues" in read) {
      return;
    }
    const { specs, issues } = toSpecs([read.task], request.allowComposite, ignore);
    if (issues.length === 0 && specs[0] !== undefined) {
      onTask(specs[0]);
    }
  });
  return (text) => stream.write(text);
}

function checkReply(
  reply: Reply,
  request: LevelRequest,
  usage: DecompositionUsage,
): { specs: TaskSpec[] } | { issues: GraphIssue[] } {
  const record = (action: string) => recordRepair(usage, action);
  const parsed = readPlan(reply.content, record);
  if (parsed.issues.length > 0) {
    return { issues: parsed.issues };
  }
  const stepNames = pickableStepNames(request.catalogue);
  const freeForm = allowsFreeForm(request.catalogue);
  const completed = request.revision === undefined ? [] : completedIds(request.revision);
  const outsideIds = request.expansion?.dependencyIds ?? completed;
  const repaired = repairPlan(parsed.tasks, { stepNames, outsideIds, freeForm }, record);
  const { specs, issues } = toSpecs(repaired, request.allowComposite, record);
  const planned = new Set(specs.map((spec) => spec.id));
  // The expanded composite's dependencies stand in as lazy composites, so that references to them check out.
  const stubs: TaskSpec[] = (request.expansion?.dependencyIds ?? [])
    .filter((id) => !planned.has(id))
    .map((id) => ({ id, kind: "composite", expand: "lazy" }));
  const placeholders = specs.map((spec) => (spec.kind === "composite" ? { ...spec, expand: "lazy" as const } : spec));
  const check = collectGraphIssues(
    { goal: request.goal, tasks: [...placeholders, ...stubs] },
    {
      // With the fallback bound every step name runs, so none is checked.
      ...(stepNames.length > 0 && !freeForm ? { stepNames } : {}),
      // Completed tasks the revised plan leaves out are still there to depend on and read.
      upstream: completed.filter((id) => !planned.has(id)),
      limits: { maxDepth: 100 },
    },
  );
  issues.push(...check.issues);
  return issues.length > 0 ? { issues } : { specs };
}

/** Planned tasks as task specs: inputs decoded, composites without step or input. */
function toSpecs(
  tasks: readonly PlannedTask[],
  allowComposite: boolean,
  record: (action: string) => void,
): { specs: TaskSpec[]; issues: GraphIssue[] } {
  const issues: GraphIssue[] = [];
  const specs = tasks.map((task, index): TaskSpec => {
    const path = `tasks[${index}]`;
    const base = { id: task.id, description: task.description, dependsOn: task.dependsOn };
    if (task.kind === "composite") {
      if (!allowComposite) {
        issues.push({
          code: "composite_not_allowed",
          path: `${path}.kind`,
          message: `task ${JSON.stringify(task.id)} is composite, but this level is the deepest allowed (maxDepth); make it atomic with one step`,
        });
      }
      if (task.input !== null) {
        record(`${path}.input: dropped the input of composite ${JSON.stringify(task.id)}`);
      }
      return { ...base, kind: "composite" };
    }
    const input = decodeInput(task.input, `${path}.input`, issues);
    return { ...base, ...(task.step !== null ? { step: task.step } : {}), ...(input !== undefined ? { input } : {}) };
  });
  return { specs, issues };
}

function decodeInput(input: unknown, path: string, issues: GraphIssue[]): TaskSpec["input"] {
  if (input === null || input === undefined) {
    return undefined;
  }
  if (typeof input !== "string") {
    return input as TaskSpec["input"];
  }
  const text = input.trim();
  if (text === "" || text === "null") {
    return undefined;
  }
  try {
    return JSON.parse(text) as TaskSpec["input"];
  } catch (error) {
    issues.push({
      code: "invalid_input",
      path,
      message: `not a JSON object encoded as a string (${(error as Error).message})`,
    });
    return undefined;
  }
}

function truncated(maxTokens: number): GraphIssue {
  return {
    code: "truncated",
    path: "$",
    message: `the answer was cut off at the output limit of ${maxTokens} tokens (raise maxTokens if plans are this long)`,
  };
}

function invalidPlan(request: LevelRequest, issues: readonly GraphIssue[], maxRepairs: number): DecompositionError {
  const what =
    request.expansion !== undefined
      ? `the model's plan for composite ${JSON.stringify(request.expansion.task.id)}`
      : request.revision !== undefined
        ? `the model's revised plan (revision ${request.revision.number})`
        : "the model's plan";
  const lines = issues.map((issue) => `  - ${issue.path}: ${issue.message}`).join("\n");
  return new DecompositionError(
    request.goal,
    `${what} was still invalid after ${maxRepairs} re-ask(s) (maxRepairs):\n${lines}\nraise maxRepairs, use a stronger model, or add a rule for this goal`,
    { issues: [...issues] },
  );
}
