/**
 * `htdag approve <runId> [--graph file]` and `htdag approve <runId> --reject <reason>`: a person's
 * answer to a run whose plan awaits approval (`approvePlan: true`, docs/waits-and-flow-control.md). Approving
 * starts the run, with the plan as recorded or with an edited graph file (JSON or YAML, validated as
 * `htdag validate` does); rejecting cancels it with the reason.
 */
import { Option, type Command } from "commander";
import { loadGraphFile } from "../../graph/file.js";
import { createDashboardTaskQueries } from "../../store/dashboard-tasks.js";
import type { CliIo } from "../io.js";
import { planToYaml } from "../plan-file.js";
import { withOrchestrator } from "../session.js";

interface ApproveFlags {
  graph?: string;
  reject?: string;
  printPlan?: boolean;
}

export function registerApprove(program: Command, io: CliIo): void {
  program
    .command("approve")
    .description("approve the plan of a run awaiting approval (it starts), with --graph an edited plan; or --reject it")
    .argument("<runId>", "the run's id; `htdag runs --status awaiting_approval` lists them")
    .option("--graph <file>", "run this graph (.json, .yaml, .yml) instead of the recorded plan, e.g. an edited copy")
    .addOption(
      new Option("--reject <reason>", "reject the plan instead: the run ends cancelled, with this reason").conflicts(
        "graph",
      ),
    )
    .addOption(
      new Option("--print-plan", "print the recorded plan as YAML, to edit a copy, and answer nothing").conflicts([
        "graph",
        "reject",
      ]),
    )
    .addHelpText(
      "after",
      "\nTo edit the plan: htdag approve <runId> --print-plan > plan.yaml, edit it, then htdag approve <runId> --graph plan.yaml",
    )
    .action(async (runId: string, flags: ApproveFlags) => {
      // The file is read and validated before the store is opened: a broken edit costs nothing.
      const graph = flags.graph === undefined ? undefined : await loadGraphFile(flags.graph);
      await withOrchestrator(program, async (orch) => {
        if (flags.printPlan) {
          const run = await orch.getRun(runId);
          const plan = await createDashboardTaskQueries(orch.db, orch.options.schema).plan(runId);
          return io.out(planToYaml(run.goal, plan).trimEnd());
        }
        if (flags.reject !== undefined) {
          await orch.rejectPlan(runId, flags.reject);
          return io.out(`run ${runId} rejected (cancelled): ${flags.reject}`);
        }
        await orch.approvePlan(runId, graph ? { graph } : {});
        io.out(
          graph
            ? `run ${runId} approved with the plan in ${flags.graph} (${graph.tasks.length} tasks); it runs now`
            : `run ${runId} approved; it runs now`,
        );
      });
    });
}
