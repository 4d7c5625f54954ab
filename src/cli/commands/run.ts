/**
 * `htdag run "<goal>"`: plans the goal with the built-in catalogue, prints the plan, runs it with
 * live progress, prints the outputs; exits 0 when the run completed, 1 otherwise, 130 on Ctrl-C
 * (the run is cancelled first, so nothing is left running).
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { CLI_DEFAULTS } from "../../defaults.js";
import type { HtdagEvent } from "../../notifications/catalogue.js";
import type { Orchestrator } from "../../orchestrator/orchestrator.js";
import type { RunResult } from "../../orchestrator/run-result.js";
import { OPTIMIZATION_LEVELS } from "../../optimizer/types.js";
import { flagChoice } from "../arguments.js";
import { defaultReportPath } from "../catalogue/health.js";
import { EXIT, type CliIo } from "../io.js";
import { describeOutputs, sinkTasks } from "../outputs.js";
import { ProgressDisplay, formatElapsed, type ProgressMode } from "../progress.js";
import { renderTree } from "../render.js";
import {
  assertGoal,
  buildDecomposer,
  newEmbeddedStoreNotice,
  openOrchestrator,
  planGoal,
  stepsFor,
  type Plan,
} from "../session.js";
import { resolveSettings } from "../settings.js";
import { addGoalOptions, type GoalFlags } from "./goal-options.js";

/** Values of `--optimize`: "none" (the default) or a level of the optimizer. */
const RUN_OPTIMIZATION_LEVELS = ["none", ...OPTIMIZATION_LEVELS] as const;
type RunOptimizationLevel = (typeof RUN_OPTIMIZATION_LEVELS)[number];

interface RunFlags extends GoalFlags {
  json?: boolean;
  out?: string;
  optimize?: string;
  mergeChains?: boolean;
}

export function registerRun(program: Command, io: CliIo): void {
  addGoalOptions(
    program
      .command("run")
      .description("plan a goal with the built-in catalogue, run it with live progress, print the outputs"),
  )
    .argument(
      "<goal>",
      'what to do, e.g. "health report for ." or "find duplicate files in ./docs" or "summarise data.csv"',
    )
    .option(
      "--max-parallel <n>",
      `tasks of the run at once (config maxParallel, env HTDAG_MAX_PARALLEL; default ${CLI_DEFAULTS.maxParallel})`,
    )
    .option("--out <file>", "where the health report is written (default ./htdag-report-<date>.md)")
    .option("--json", "print one JSON object per line: the plan, each event, the result")
    .option(
      "--optimize <level>",
      "tune the plan from earlier runs of the same workflow first: none, basic, advanced or aggressive (default none)",
    )
    .option(
      "--merge-chains",
      "with --optimize advanced or aggressive: merge chains of tiny tasks into one attempt (preserveStructure: false)",
    )
    .action(async (goal: string, flags: RunFlags) => {
      assertGoal(goal);
      const optimizationLevel =
        flags.optimize === undefined
          ? "none"
          : flagChoice("--optimize", flags.optimize, RUN_OPTIMIZATION_LEVELS, "basic");
      const settings = await resolveSettings({ ...program.opts(), ...flags });
      const decomposer = buildDecomposer(settings);
      // A new store appears in the working directory: say where (and, when initdb must run, why it takes seconds).
      const notice = flags.json ? null : await newEmbeddedStoreNotice(settings);
      if (notice) {
        io.out(notice);
      }
      const orch = await openOrchestrator(settings);
      try {
        const plan = await planGoal(orch, goal, decomposer, stepsFor(settings));
        const mode: ProgressMode = flags.json ? "json" : process.stdout.isTTY ? "tty" : "lines";
        if (mode === "json") {
          io.out(JSON.stringify({ type: "plan", workflow: plan.workflow, graph: plan.graph }));
        } else {
          io.out(`${renderTree(plan.graph.goal, plan.graph.tasks)}\n`);
        }
        const { result, interrupted } = await execute(orch, plan, mode, io, {
          maxParallel: settings.maxParallel,
          out: resolve(flags.out ?? defaultReportPath()),
          optimizationLevel,
          preserveStructure: flags.mergeChains !== true,
        });
        report(io, mode, plan, result);
        io.exitCode = interrupted ? EXIT.interrupted : result.status === "completed" ? EXIT.ok : EXIT.failure;
      } finally {
        await orch.close();
      }
    });
}

/** Runs the plan while showing its events; the first SIGINT cancels the run. */
async function execute(
  orch: Orchestrator,
  plan: Plan,
  mode: ProgressMode,
  io: CliIo,
  options: { maxParallel: number; out: string; optimizationLevel: RunOptimizationLevel; preserveStructure: boolean },
): Promise<{ result: RunResult; interrupted: boolean }> {
  const display = new ProgressDisplay(
    plan.graph.tasks.map((t) => ({ ...t })),
    mode,
    (text) => io.out(text),
  );
  let runId: string | undefined;
  let interrupted = false;
  const cancel = () => {
    if (runId) {
      void orch
        .cancelRun(runId, "interrupted (SIGINT)")
        .catch((error: unknown) => io.err(`htdag: cannot cancel run ${runId}: ${String(error)}`));
    }
  };
  const onEvent = (event: HtdagEvent) => {
    // The run's id is learnt from its first event: this process runs one graph, so the first
    // execution:started of this goal is ours. A Ctrl-C that came before it cancels now.
    if (
      runId === undefined &&
      event.type === "execution:started" &&
      event.runId &&
      (event.payload as { goal?: string }).goal === plan.graph.goal
    ) {
      runId = event.runId;
      if (interrupted) {
        cancel();
      }
    }
    if (runId !== undefined && event.runId === runId) {
      display.handle(event);
    }
  };
  const onSigint = () => {
    if (interrupted) {
      // A second Ctrl-C while the cancel is in flight (say the database stopped answering): the user
      // wants out now. Each state change is one transaction, so none is half-applied; the run may stay
      // `running` until `htdag resume` finishes it.
      io.err(
        `htdag: stopped without waiting${runId ? `; finish or inspect the run with: htdag resume ${runId} / htdag show ${runId}` : ""}`,
      );
      process.exit(EXIT.interrupted);
    }
    if (mode !== "json") {
      io.err("\nhtdag: interrupted, cancelling the run… (Ctrl-C again to stop at once)");
    }
    interrupted = true;
    cancel();
  };
  orch.on("*", onEvent);
  process.on("SIGINT", onSigint);
  display.start();
  try {
    const result = await orch.composeFromTaskGraph(plan.graph, plan.steps, {
      workflow: plan.workflow,
      maxParallel: options.maxParallel,
      input: { out: options.out },
      optimizationLevel: options.optimizationLevel,
      preserveStructure: options.preserveStructure,
    });
    return { result, interrupted };
  } finally {
    display.stop();
    process.off("SIGINT", onSigint);
    orch.off("*", onEvent);
  }
}

function report(io: CliIo, mode: ProgressMode, plan: Plan, result: RunResult): void {
  const sinks = sinkTasks(plan.graph.tasks);
  if (mode === "json") {
    const outputs = Object.fromEntries(
      sinks.filter((id) => id in result.outputs).map((id) => [id, result.outputs[id]]),
    );
    io.out(
      JSON.stringify({
        type: "result",
        runId: result.runId,
        workflow: result.workflow,
        status: result.status,
        durationMs: result.durationMs,
        outputs,
        ...(result.error ? { error: result.error } : {}),
      }),
    );
    return;
  }
  io.out("");
  io.out(`run ${result.runId} ${result.status} in ${formatElapsed(result.durationMs)}`);
  const failures = result.tasks.filter((t) => (t.status === "failed" || t.status === "timed_out") && t.error?.message);
  for (const task of failures) {
    io.err(`htdag: task ${task.id} ${task.status}: ${task.error?.message ?? ""}`);
  }
  if (result.error && failures.length === 0) {
    io.err(`htdag: ${result.error.taskId ? `task ${result.error.taskId}: ` : ""}${result.error.message}`);
  }
  for (const line of describeOutputs(result, sinks)) {
    io.out(line);
  }
  if (result.status !== "completed") {
    io.out(`inspect it with: htdag show ${result.runId}; re-run failed tasks with: htdag retry ${result.runId}`);
  }
}
