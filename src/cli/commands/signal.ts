/**
 * `htdag signal <runId> <name> [--data JSON]`: sends a signal to a run (docs/waits-and-flow-control.md);
 * the wait task waiting for `name` completes with the data as its output, or the signal is kept until
 * one waits. A signal no wait takes (a final run, a name no wait has) is a SignalError: exit 1.
 */
import type { Command } from "commander";
import { flagJson } from "../arguments.js";
import type { CliIo } from "../io.js";
import { withOrchestrator } from "../session.js";

/** An example of `--data`, shown when the value given is not JSON. */
export const SIGNAL_DATA_EXAMPLE = '{"approved": true}';

export function registerSignal(program: Command, io: CliIo): void {
  program
    .command("signal")
    .description("send a signal to a run: the wait task waiting for <name> completes, with --data as its output")
    .argument("<runId>", "the run's id, as `htdag runs` lists it")
    .argument("<name>", "the signal's name, as the wait task names it ({ wait: { signal: name } })")
    .option("--data <json>", `the signal's payload, the wait task's output, as JSON, e.g. '${SIGNAL_DATA_EXAMPLE}'`)
    .option("--json", "print what happened as JSON: { delivered, taskId }")
    .action(async (runId: string, name: string, flags: { data?: string; json?: boolean }) => {
      const payload = flags.data === undefined ? undefined : flagJson("--data", flags.data, SIGNAL_DATA_EXAMPLE);
      await withOrchestrator(program, async (orch) => {
        const result = await orch.signal(runId, name, payload);
        if (flags.json) {
          return io.out(JSON.stringify(result));
        }
        io.out(
          result.delivered
            ? `signal ${name} delivered to task ${result.taskId ?? "?"} of run ${runId}`
            : `signal ${name} kept for run ${runId}: it is delivered when a wait for it starts`,
        );
      });
    });
}
