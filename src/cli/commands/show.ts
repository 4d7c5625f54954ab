/**
 * `htdag show <runId> [--format tree|mermaid|dot|json]`: a run's tasks with their statuses, attempts,
 * durations, errors and outputs, drawn by the renderers of `htdag plan` (Mermaid and DOT colour each
 * task by its state and draw composites as subgraphs/clusters).
 */
import type { Command } from "commander";
import { createRunDetailQueries } from "../../store/run-detail.js";
import { flagChoice } from "../arguments.js";
import type { CliIo } from "../io.js";
import { PLAN_FORMATS } from "../render.js";
import { renderRun, runView } from "../run-view.js";
import { withOrchestrator } from "../session.js";

export function registerShow(program: Command, io: CliIo): void {
  program
    .command("show")
    .description("show a run: tasks, statuses, attempts, durations, outputs, errors (as a tree, Mermaid, DOT or JSON)")
    .argument("<runId>", "the run's id, as `htdag runs` lists it")
    .option("--format <format>", `output format: ${PLAN_FORMATS.join(", ")}`, "tree")
    .option("--json", "the same as --format json")
    .action(async (runId: string, flags: { format: string; json?: boolean }) => {
      const format = flags.json ? "json" : flagChoice("--format", flags.format, PLAN_FORMATS);
      await withOrchestrator(program, async (orch) => {
        const result = await orch.getRun(runId);
        const graph = await createRunDetailQueries(orch.db, orch.options.schema).getRunGraph(runId);
        io.out(renderRun(runView(result, graph), format));
      });
    });
}
