/**
 * Plan approval (docs/waits-and-flow-control.md, "Plan approval"): starts a run that awaits approval
 * of its plan, as recorded or as a person edited it, or cancels it. Arguments are checked and an
 * edited plan is validated and bound here; the guards and the changes are one SQL call each
 * (approve_plan, reject_plan), and the run's executor in this process, if any, is told at once.
 */
import { randomUUID } from "node:crypto";
import { IllegalTransitionError, InvalidOptionError, RunNotFoundError } from "../errors.js";
import type { TaskGraphInput } from "../graph/task-graph.js";
import { validateGraph } from "../graph/validate.js";
import { bindGraph, type TaskDefaults } from "../composer/bind.js";
import type { Steps } from "../composer/steps.js";
import { sealTaskInputs, type PayloadCodec } from "../store/codec.js";
import type { EditedPlan, PlanApprovalQueries } from "../store/plan-approval.js";
import type { RunQueries, RunRow } from "../store/runs.js";
import { assertOptionsObject, assertRunId, checkReason, checkSteps } from "./checks.js";
import type { ResolvedOrchestratorOptions } from "./options.js";
import { runOptionsSchema } from "./run-options.js";
import type { RunService } from "./runs.js";

/** Options of `orch.approvePlan`. */
export interface ApprovePlanOptions {
  /**
   * The plan to run instead of the recorded one, validated and bound like any graph; it is recorded
   * as a graph of its own (a new id). @default the recorded plan
   */
  graph?: TaskGraphInput;
  /**
   * The steps of the run's workflow, to check the edited plan's step names: needed when this process
   * did not bind them (a submitted run). @default the steps this process bound for the workflow, if any
   */
  steps?: Steps;
}

export interface PlanApprovalDeps {
  queries: PlanApprovalQueries;
  runs: RunQueries;
  runService: Pick<RunService, "boundSteps" | "defaultsFor" | "wake" | "notice">;
  options: Pick<ResolvedOrchestratorOptions, "maxTasks" | "maxInputBytes" | "channel">;
  codec: PayloadCodec | undefined;
}

const NOT_AWAITING =
  "only a run recorded with approvePlan: true, while it awaits approval, can be approved or rejected";

export class PlanApproval {
  constructor(private readonly deps: PlanApprovalDeps) {}

  /** Starts the run `runId` awaits approval of its plan, with `options.graph` replacing the plan when given. */
  async approve(runId: string, options: ApprovePlanOptions = {}): Promise<void> {
    assertRunId(runId);
    assertOptionsObject(options, "approvePlan");
    const { graph, steps, ...rest } = options ?? {};
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) {
      throw new InvalidOptionError(
        unknown,
        "graph or steps",
        (rest as Record<string, unknown>)[unknown],
        "approvePlan",
      );
    }
    if (steps !== undefined) {
      checkSteps(steps, "approvePlan");
    }
    const edited = graph === undefined ? null : await this.editedPlan(runId, graph, steps);
    const before = await this.deps.queries.approvePlan(runId, edited, this.deps.options.channel);
    this.checkWasAwaiting(runId, before, "running");
    this.deps.runService.wake(runId);
  }

  /** Cancels the run `runId`, which awaits approval of its plan, with `reason`. */
  async reject(runId: string, reason: string): Promise<void> {
    assertRunId(runId);
    checkReason(reason, "rejectPlan");
    const before = await this.deps.queries.rejectPlan(runId, reason, this.deps.options.channel);
    this.checkWasAwaiting(runId, before, "cancelled");
    this.deps.runService.notice(runId, "cancelled");
  }

  /**
   * The rows of an edited plan: validated (with the step names when known) and bound with the run's
   * task defaults. The run is read first, so a run that does not await approval is reported as such
   * rather than by the problems of a graph that would not be used.
   */
  private async editedPlan(runId: string, graph: TaskGraphInput, steps: Steps | undefined): Promise<EditedPlan> {
    const run = await this.deps.runs.getRun(runId);
    this.checkWasAwaiting(runId, run?.status ?? null, "running");
    const known = steps ?? this.deps.runService.boundSteps(run!.workflow);
    // A fresh id: the recorded plan's graph row (which other runs may share) stays as it is.
    const input =
      graph !== null && typeof graph === "object" && !Array.isArray(graph) ? { ...graph, id: randomUUID() } : graph;
    const validated = validateGraph(input, {
      ...(known ? { stepNames: Object.keys(known) } : {}),
      limits: { maxTasks: this.deps.options.maxTasks, maxInputBytes: this.deps.options.maxInputBytes },
      defaults: { source: "function", decomposer: "manual" },
    });
    const { codec } = this.deps;
    const bound = bindGraph(validated, known ?? {}, this.taskDefaultsOf(run!), codec);
    return {
      graph: { ...validated, tasks: sealTaskInputs(validated.tasks, codec) },
      tasks: bound.tasks,
      edges: bound.edges,
    };
  }

  /** The task defaults the run was recorded with (runs.options.taskDefaults). */
  private taskDefaultsOf(run: RunRow): TaskDefaults {
    return (
      (run.options.taskDefaults as TaskDefaults | undefined) ??
      this.deps.runService.defaultsFor(runOptionsSchema.parse({}))
    );
  }

  private checkWasAwaiting(runId: string, before: string | null, to: "running" | "cancelled"): void {
    if (before === null) {
      throw new RunNotFoundError(runId);
    }
    if (before !== "awaiting_approval") {
      throw new IllegalTransitionError("run", runId, before, to, NOT_AWAITING);
    }
  }
}
