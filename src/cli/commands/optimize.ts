/**
 * `htdag optimize <workflow> [--level advanced] [--merge-chains] [--apply] [--json] [--reset]`: tunes the graph the
 * workflow last ran from its history and prints every change and recommendation with its evidence;
 * `--apply` stores the applied changes so every later run of the workflow uses them.
 */
import type { Command } from "commander";
import { InvalidOptionError } from "../../errors.js";
import type { Orchestrator } from "../../orchestrator/orchestrator.js";
import {
  OPTIMIZATION_LEVELS,
  type OptimizationChange,
  type OptimizationLevel,
  type OptimizationResult,
  type Recommendations,
} from "../../optimizer/types.js";
import { flagChoice, flagWholeNumber } from "../arguments.js";
import type { CliIo } from "../io.js";
import { openOrchestrator } from "../session.js";
import { resolveSettings } from "../settings.js";

interface OptimizeFlags {
  level: string;
  apply?: boolean;
  json?: boolean;
  reset?: boolean;
  minSamples?: string;
  timeoutThreshold?: string;
  mergeChains?: boolean;
}

export function registerOptimize(program: Command, io: CliIo): void {
  program
    .command("optimize")
    .description(
      "tune a workflow from its run history: print each change with its evidence; --apply stores them for its next runs",
    )
    .argument("<workflow>", "the workflow's name (see htdag runs)")
    .option("--level <level>", `what to tune: ${OPTIMIZATION_LEVELS.join(", ")}`, "advanced")
    .option("--apply", "store the applied changes: every later run of the workflow uses them")
    .option("--reset", "remove the workflow's stored tuning instead")
    .option("--json", "print the result as one JSON object")
    .option("--min-samples <n>", "fewest observations a rule needs (default 5)")
    .option("--timeout-threshold <ms>", "leave tasks whose p99 is under this alone (default 1000)")
    .option(
      "--merge-chains",
      "advanced and aggressive may merge chains of tiny tasks into one attempt (preserveStructure: false)",
    )
    .action(async (workflow: string, flags: OptimizeFlags) => {
      flagChoice("--level", flags.level, OPTIMIZATION_LEVELS);
      const orch = await openOrchestrator(await resolveSettings(program.opts()));
      try {
        if (flags.reset) {
          return reset(orch, io, workflow, flags.json === true);
        }
        await optimize(orch, io, workflow, flags);
      } finally {
        await orch.close();
      }
    });
}

async function reset(orch: Orchestrator, io: CliIo, workflow: string, json: boolean): Promise<void> {
  const removed = await orch.optimizer.clearTuning(workflow);
  io.out(
    json
      ? JSON.stringify({ workflow, reset: removed })
      : removed
        ? `removed the stored tuning of ${workflow}`
        : `${workflow} had no stored tuning`,
  );
}

async function optimize(orch: Orchestrator, io: CliIo, workflow: string, flags: OptimizeFlags): Promise<void> {
  const last = await orch.optimizer.lastRunGraph(workflow);
  if (!last) {
    throw new InvalidOptionError(
      "<workflow>",
      "the name of a workflow with at least one run (list them with `htdag runs`)",
      workflow,
      "htdag optimize",
    );
  }
  const options = {
    level: flags.level as OptimizationLevel,
    workflow,
    maxParallel: last.defaults.maxParallel,
    preserveStructure: flags.mergeChains !== true,
    ...(flags.minSamples !== undefined
      ? { minSamples: flagWholeNumber("--min-samples", flags.minSamples, { min: 0, example: 5 }) }
      : {}),
    ...(flags.timeoutThreshold !== undefined
      ? {
          timeoutThresholdMs: flagWholeNumber("--timeout-threshold", flags.timeoutThreshold, { min: 0, example: 1000 }),
        }
      : {}),
  };
  const result = await orch.optimizer.optimizeWorkflow(last.graph, options, last.defaults);
  const advice = await orch.optimizer.getRecommendations(last.graph, { ...options, runId: last.runId }, last.defaults);
  // An empty tuning would only add events to every run: with nothing applied, a stored tuning stays as it is.
  const worthStoring = result.changes.length > 0 || Object.keys(result.hedges ?? {}).length > 0;
  const stored =
    flags.apply && worthStoring ? await orch.optimizer.storeTuning(workflow, last.graph.goal, result) : null;
  if (flags.json) {
    io.out(
      JSON.stringify({
        workflow,
        level: result.level,
        fromRun: last.runId,
        changes: result.changes,
        recommendations: result.recommendations,
        confidence: result.confidence,
        notes: result.notes,
        warnings: advice.failedPatternWarnings,
        failurePatterns: advice.failurePatterns,
        cost: advice.cost,
        resourceAllocation: advice.resourceAllocation,
        ...(result.prediction ? { prediction: result.prediction } : {}),
        ...(result.hedges ? { hedges: result.hedges } : {}),
        ...(result.models ? { models: result.models } : {}),
        stored: stored ? { changes: stored.changes.length, appliedAt: stored.appliedAt } : null,
      }),
    );
    return;
  }
  for (const line of describeOptimization(workflow, last.runId, result, advice)) {
    io.out(line);
  }
  if (stored) {
    io.out(
      `stored ${stored.changes.length} change(s) as the tuning of ${workflow}: its next runs use them (undo with htdag optimize ${workflow} --reset)`,
    );
  } else if (flags.apply) {
    io.out(`nothing applied, so nothing stored: any earlier tuning of ${workflow} stays as it is`);
  } else if (result.changes.length > 0) {
    io.out(`apply them to the next runs with: htdag optimize ${workflow} --level ${result.level} --apply`);
  }
}

/** The lines `htdag optimize` prints: a table of changes and recommendations with evidence, then notes. */
export function describeOptimization(
  workflow: string,
  runId: string,
  result: OptimizationResult,
  advice: Recommendations,
): string[] {
  const lines = [
    `workflow ${workflow} (graph of run ${runId}), level ${result.level}: ${result.changes.length} change(s) applied, ` +
      `${result.recommendations.length} recommendation(s), confidence ${result.confidence.toFixed(2)}`,
  ];
  const rows = [...result.changes.map((c) => row(c, "yes")), ...result.recommendations.map((c) => row(c, "no"))];
  if (rows.length > 0) {
    lines.push(
      "",
      ...table(["target", "field", "from", "to", "applied", "samples", "statistic", "value", "confidence"], rows),
    );
  }
  const reasons = [...result.changes, ...result.recommendations];
  if (reasons.length > 0) {
    lines.push("", "why:", ...reasons.map((c) => `  ${c.taskId ?? c.queue ?? "run"}.${c.field}: ${c.reason}`));
  }
  // Timeout advice only getRecommendations gives (a tighter limit): in neither list above.
  const tuned = new Set(reasons.filter((c) => c.field === "timeoutMs").map((c) => c.taskId));
  for (const c of advice.changes.filter((c) => c.field === "timeoutMs" && !tuned.has(c.taskId))) {
    lines.push(`advice: ${c.taskId ?? "run"}.timeoutMs ${c.from} → ${c.to}: ${c.reason}`);
  }
  for (const warning of advice.failedPatternWarnings) {
    lines.push(`warning: ${warning}`);
  }
  const perRun = advice.cost?.perRun;
  if (perRun) {
    lines.push(
      `cost per run: p50 $${perRun.p50Usd} (${perRun.p50Tokens} tokens), p95 $${perRun.p95Usd} (${perRun.p95Tokens} tokens) over ${perRun.samples} runs`,
    );
  }
  for (const note of result.notes) {
    lines.push(`note: ${note}`);
  }
  if (result.prediction) {
    lines.push(
      `predicted makespan: p50 ${result.prediction.makespanP50Ms} ms, p95 ${result.prediction.makespanP95Ms} ms (${result.prediction.trials} simulated runs)`,
    );
  }
  if (result.hedges) {
    lines.push(
      `hedging: a second run of the step starts beside a straggler, ${Object.entries(result.hedges)
        .map(([id, ms]) => `${id} after ${ms} ms`)
        .join(", ")}`,
    );
  }
  if (rows.length === 0) {
    lines.push("nothing to change: the history gives no rule enough evidence");
  }
  return lines;
}

function row(change: OptimizationChange, applied: string): string[] {
  const show = (value: unknown) => (value === null || value === undefined ? "-" : String(value));
  return [
    change.taskId ?? (change.queue ? `queue ${change.queue}` : "run"),
    change.field,
    show(change.from),
    show(change.to),
    applied,
    String(change.evidence.samples),
    change.evidence.statistic,
    show(change.evidence.value),
    change.confidence.toFixed(2),
  ];
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  return [header, ...rows].map((cells) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}
