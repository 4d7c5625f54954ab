/**
 * `htdag plan "<goal>" --format tree|mermaid|dot|json`: decomposes a goal and prints its graph, without
 * running it. `htdag show` draws a run with the same renderers (render.ts).
 */
import type { Command } from "commander";
import { flagChoice } from "../arguments.js";
import type { CliIo } from "../io.js";
import { PLAN_FORMATS, renderPlan } from "../render.js";
import { assertGoal, buildDecomposer, openOrchestrator, planGoal, stepsFor } from "../session.js";
import { resolveSettings } from "../settings.js";
import { addGoalOptions, type GoalFlags } from "./goal-options.js";

export function registerPlan(program: Command, io: CliIo): void {
  addGoalOptions(
    program.command("plan").description("decompose a goal with the built-in catalogue and print the graph (no run)"),
  )
    .argument("<goal>", 'what to plan, e.g. "health report for ."')
    .option("--format <format>", `output format: ${PLAN_FORMATS.join(", ")}`, "tree")
    .action(async (goal: string, flags: GoalFlags & { format: string }) => {
      const format = flagChoice("--format", flags.format, PLAN_FORMATS);
      assertGoal(goal);
      const settings = await resolveSettings({ ...program.opts(), ...flags });
      const decomposer = buildDecomposer(settings);
      const orch = await openOrchestrator(settings);
      try {
        const { graph, workflow } = await planGoal(orch, goal, decomposer, stepsFor(settings));
        io.out(renderPlan(graph, workflow, format));
      } finally {
        await orch.close();
      }
    });
}
