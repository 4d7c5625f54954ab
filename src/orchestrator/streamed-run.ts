/**
 * Streamed planning (docs/living-plans.md, `composeFromGoal(…, { streamPlan: true })`): the run is
 * recorded before its plan is complete, each task the decomposer streams is stored as soon as it
 * is valid on its own and every task it depends on is stored (event `plan:task_added`), and starts
 * once those have completed. When the answer ends, the whole plan is validated and recorded as a
 * non-streamed call would have recorded it; a plan that differs from what was stored (a repair, a
 * task that never arrived) is applied as a revision that keeps what ran.
 */
import { randomUUID } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import { DecompositionError, GraphValidationError, InvalidOptionError } from "../errors.js";
import type { Decomposer, StreamingDecomposer } from "../graph/decomposer.js";
import type { TaskGraph, TaskSpec } from "../graph/task-graph.js";
import { validateGraph } from "../graph/validate.js";
import { bindGraph, type TaskDefaults, type TaskRow } from "../composer/bind.js";
import { stepEntryOf, toStepDefinition, type Steps } from "../composer/steps.js";
import { isFinalRunStatus, type RunStatus } from "../composer/state-machine.js";
import { emptyUsage, type ServicedContext } from "../decomposers/services.js";
import type { PayloadCodec } from "../store/codec.js";
import type { EventQueries } from "../store/events.js";
import type { GraphQueries } from "../store/graphs.js";
import type { DecompositionQueries } from "../store/decomposition-cache.js";
import type { UsageQueries } from "../store/usage.js";
import type { ModelPrice } from "./options.js";
import { costOf } from "./usage.js";
import type { RevisionQueries } from "../store/revisions.js";
import type { RunControlQueries } from "../store/run-control.js";
import type { Telemetry } from "../telemetry/telemetry.js";
import { catalogueOf, decomposerName } from "./decompose.js";
import type { RunResult } from "./run-result.js";
import type { RunOptions } from "./run-options.js";
import type { RunService } from "./runs.js";

/** What a streamed run needs. */
export interface StreamedRunDeps {
  runService: RunService;
  revisions: RevisionQueries;
  control: RunControlQueries;
  graphs: GraphQueries;
  /** Where the decomposition's record (calls, tokens, repairs, latency) is stored. */
  decompositions: DecompositionQueries;
  /** Where the decomposition's spend is charged to the run (and its budget checked). */
  usage: UsageQueries;
  /** Prices per model, for the decomposition's cost. @default none */
  pricing?: Readonly<Record<string, ModelPrice>>;
  events: EventQueries;
  channel: string | null;
  /** The plan's lease: a run whose writer stops renewing it this long is failed by the reconciler. */
  leaseMs: number;
  limits: { maxTasks: number; maxInputBytes: number };
  codec: PayloadCodec | undefined;
  telemetry?: Telemetry;
  onError(error: unknown): void;
}

/** Whether `decomposer` can stream its plan. */
export function isStreamingDecomposer(decomposer: Decomposer): decomposer is StreamingDecomposer {
  return typeof decomposer === "object" && typeof (decomposer as StreamingDecomposer).streamPlan === "function";
}

/**
 * Runs `goal` while `decomposer` writes its plan, and resolves with the run's result.
 *
 * @throws InvalidOptionError when the decomposer cannot stream
 */
export async function composeStreamed(
  deps: StreamedRunDeps,
  goal: string,
  decomposer: Decomposer,
  steps: Steps,
  options: RunOptions,
): Promise<RunResult> {
  if (options?.approvePlan === true) {
    // A streamed plan starts its first tasks while it is written: there is no whole plan to approve first.
    throw new InvalidOptionError(
      "streamPlan",
      "false with approvePlan: true (a plan to approve is written whole before anything runs)",
      true,
      "composeFromGoal",
    );
  }
  if (!isStreamingDecomposer(decomposer)) {
    throw new InvalidOptionError(
      "streamPlan",
      "a decomposer that streams its plan (llmDecomposer), or streamPlan: false",
      decomposerName(decomposer),
      "composeFromGoal",
    );
  }
  const name = decomposerName(decomposer);
  const graphId = randomUUID();
  const decomposedAt = new Date().toISOString();
  const placeholder = { id: graphId, goal, tasks: [], decomposer: name, source: "llm", decomposedAt } as TaskGraph;
  const recorded = await deps.runService.recordStreamed(placeholder, options, steps, decomposer, deps.leaseMs);
  const { runId } = recorded;
  const done = deps.runService.execute(runId, steps);
  if (recorded.existing) {
    await done;
    return deps.runService.result(runId);
  }
  const plan = new PlanStream(deps, runId, goal, steps, deps.runService.defaultsFor(recorded.options));
  try {
    await plan.write(decomposer, name, graphId, decomposedAt);
  } catch (error) {
    await failRun(deps, runId, error);
  } finally {
    plan.stop();
  }
  await done;
  return deps.runService.result(runId);
}

/** The writing of one run's plan: what arrived, what was stored, what waits for its dependencies. */
class PlanStream {
  private readonly stored = new Map<string, TaskRow>();
  private readonly held: TaskSpec[] = [];
  private readonly renewal: NodeJS.Timeout;
  private readonly abort = new AbortController();

  constructor(
    private readonly deps: StreamedRunDeps,
    private readonly runId: string,
    private readonly goal: string,
    private readonly steps: Steps,
    private readonly defaults: TaskDefaults,
  ) {
    this.renewal = setInterval(
      () => {
        deps.revisions
          .renewPlanStream(runId, deps.leaseMs)
          .then((writing) => writing || this.abort.abort(new Error("the run ended while its plan was written")))
          .catch(deps.onError);
      },
      Math.max(100, Math.floor(deps.leaseMs / 3)),
    );
  }

  stop(): void {
    clearInterval(this.renewal);
    this.abort.abort();
  }

  /** Streams the plan into the run, then closes it with the whole plan. */
  async write(decomposer: StreamingDecomposer, name: string, graphId: string, decomposedAt: string): Promise<void> {
    const usage = emptyUsage();
    const ctx: ServicedContext = {
      catalogue: catalogueOf(this.steps),
      depth: 0,
      signal: this.abort.signal,
      services: {
        usage,
        cache: null,
        patterns: null,
        ...(this.deps.telemetry ? { telemetry: this.deps.telemetry } : {}),
      },
    };
    const started = performance.now();
    await this.deps.events.emit(
      {
        type: "decomposition:started",
        runId: this.runId,
        payload: { goal: this.goal, decomposer: name, stream: true },
      },
      this.deps.channel,
    );
    const stream = decomposer.streamPlan(this.goal, ctx);
    let next = await stream.next();
    while (!next.done) {
      if (!(await this.arrived(next.value))) {
        await stream.return(undefined as never);
        return;
      }
      next = await stream.next();
    }
    const graph = this.validated(next.value, name, graphId, decomposedAt);
    await this.deps.graphs.recordGraph(graph);
    const latencyMs = performance.now() - started;
    await this.deps.decompositions.record({
      graphId: graph.id,
      goal: this.goal,
      decomposer: name,
      source: usage.source ?? "llm",
      model: usage.model ?? null,
      cacheKey: null,
      llmCalls: usage.llmCalls,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      repairs: usage.repairs,
      latencyMs,
    });
    if (usage.llmCalls > 0 || usage.inputTokens + usage.outputTokens > 0) {
      // The plan's spend is charged to its run like any decomposition's (a reached budget fails the run).
      const model = usage.model ?? name;
      await this.deps.usage.record(
        {
          runId: this.runId,
          taskId: null,
          attempt: null,
          source: "decomposition",
          model,
          llmCalls: usage.llmCalls,
          inputTokens: usage.inputTokens,
          outputTokens: usage.outputTokens,
          costUsd: costOf(this.deps.pricing, model, usage.inputTokens, usage.outputTokens),
        },
        this.deps.channel,
      );
    }
    await this.close(graph, name, {
      llmCalls: usage.llmCalls,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      repairs: usage.repairs,
      latencyMs,
    });
  }

  /** Stores `spec` if it may run now, and any held task that may run after it. False once the run ended. */
  private async arrived(spec: TaskSpec): Promise<boolean> {
    this.held.push(spec);
    for (;;) {
      const ready = this.held.filter((task) => this.mayStore(task));
      if (ready.length === 0) {
        return true;
      }
      for (const task of ready) {
        this.held.splice(this.held.indexOf(task), 1);
      }
      const graph = validateGraph(
        { goal: this.goal, tasks: ready },
        {
          stepNames: Object.keys(this.steps),
          upstream: this.stored.keys(),
          limits: this.deps.limits,
          defaults: { source: "llm" },
        },
      );
      const rows = bindGraph(graph, this.steps, this.defaults, this.deps.codec);
      const edges = graph.tasks.flatMap((task) => task.dependsOn.map((dep) => ({ task_id: task.id, depends_on: dep })));
      const result = await this.deps.revisions.addPlanTasks(
        this.runId,
        rows.tasks,
        edges,
        this.deps.leaseMs,
        this.deps.channel,
      );
      if (result.added === 0) {
        return false;
      }
      rows.tasks.forEach((row) => this.stored.set(row.id, row));
      this.deps.runService.wake(this.runId);
    }
  }

  /**
   * A streamed task may be stored when it is valid on its own (a known step, an input its step's
   * schema accepts, references to stored tasks only), atomic and top-level (composites and their
   * children wait for the whole plan), and every task it depends on is stored.
   */
  private mayStore(spec: TaskSpec): boolean {
    if (spec.kind === "composite" || spec.parentId !== undefined || this.stored.has(spec.id)) {
      return false;
    }
    if (!(spec.dependsOn ?? []).every((dep) => this.stored.has(dep))) {
      return false;
    }
    const entry = stepEntryOf(this.steps, spec.step ?? spec.id);
    if (entry === undefined) {
      return false;
    }
    try {
      validateGraph(
        { goal: this.goal, tasks: [spec] },
        { stepNames: Object.keys(this.steps), upstream: this.stored.keys(), limits: this.deps.limits },
      );
    } catch (error) {
      if (error instanceof GraphValidationError) {
        return false;
      }
      throw error;
    }
    const schema = toStepDefinition(entry).input;
    return !schema || hasReferences(spec.input) || schema.safeParse(spec.input ?? {}).success;
  }

  /** The whole plan, validated as decomposeGoal validates a graph. */
  private validated(input: unknown, name: string, graphId: string, decomposedAt: string): TaskGraph {
    const plan = Array.isArray(input) ? { goal: this.goal, tasks: input } : (input as object);
    return validateGraph(
      { ...plan, id: graphId, decomposedAt },
      {
        stepNames: Object.keys(this.steps),
        limits: this.deps.limits,
        defaults: { id: graphId, source: "llm", decomposer: name },
      },
    );
  }

  /**
   * Closes the plan: adds what had not been stored when everything stored is in the plan as it was
   * stored; otherwise revises the run to the whole plan, which keeps what ran.
   */
  private async close(graph: TaskGraph, name: string, usage: Record<string, number>): Promise<void> {
    const rows = bindGraph(graph, this.steps, this.defaults, this.deps.codec);
    const byId = new Map(rows.tasks.map((row) => [row.id, row]));
    const differing = [...this.stored.values()].filter((row) => {
      const final = byId.get(row.id);
      return final === undefined || !isDeepStrictEqual({ ...final, remaining_deps: 0 }, { ...row, remaining_deps: 0 });
    });
    const { revisions, channel } = this.deps;
    const result =
      differing.length === 0
        ? await revisions.closePlanStream(
            this.runId,
            graph.id,
            rows.tasks.filter((row) => !this.stored.has(row.id)),
            rows.edges.filter((edge) => !this.stored.has(edge.task_id)),
            null,
            channel,
          )
        : await revisions.closePlanStream(
            this.runId,
            graph.id,
            rows.tasks,
            rows.edges,
            {
              reason: `the whole plan differs from the streamed one in ${differing.map((row) => row.id).join(", ")} (repaired or not in the final plan)`,
              // The streamed decomposition, recorded above, made the calls: this revision makes none.
              record: { decomposer: name, source: "llm", llmCalls: 0, latencyMs: 0 },
            },
            channel,
          );
    this.deps.runService.abortEnded(this.runId, result.aborted);
    if (result.runStatus !== null && isFinalRunStatus(result.runStatus as RunStatus)) {
      this.deps.runService.notice(this.runId, result.runStatus as RunStatus);
    } else {
      this.deps.runService.wake(this.runId);
    }
    await this.deps.events.emit(
      {
        type: "decomposition:completed",
        runId: this.runId,
        payload: {
          goal: this.goal,
          decomposer: name,
          graphId: graph.id,
          source: "llm",
          tasks: graph.tasks.length,
          stream: true,
          ...usage,
        },
      },
      channel,
    );
  }
}

/** Whether an input holds references to other tasks' outputs, resolved at run time. */
function hasReferences(input: unknown): boolean {
  const text = JSON.stringify(input ?? null);
  return text.includes('"$from"') || text.includes("{{");
}

/** The plan could not be written: the run fails with the reason (what already ran stays recorded). */
async function failRun(deps: StreamedRunDeps, runId: string, error: unknown): Promise<void> {
  const failure =
    error instanceof DecompositionError || error instanceof GraphValidationError
      ? error
      : new DecompositionError(
          "",
          `the plan stream failed: ${error instanceof Error ? error.message : String(error)}`,
          {
            cause: error,
          },
        );
  await deps.control.stopRun(runId, "failed", `the plan could not be written: ${failure.message}`, deps.channel);
  await deps.events
    .emit({ type: "decomposition:failed", runId, payload: { error: failure.message, stream: true } }, deps.channel)
    .catch(deps.onError);
}
