/**
 * `htdag dashboard [--port 4400] [--host 127.0.0.1] [--token T] [--max-streams 100]`: serves the live web dashboard
 * over the store until interrupted. Retries from the page run the built-in catalogue's steps.
 */
import type { Command } from "commander";
import { resolveDashboardOptions } from "../../dashboard/options.js";
import { DASHBOARD_DEFAULTS } from "../../defaults.js";
import { flagWholeNumber } from "../arguments.js";
import { builtinSteps } from "../catalogue/index.js";
import { signalStop, type CliIo } from "../io.js";
import { openOrchestrator } from "../session.js";
import { resolveSettings } from "../settings.js";

/** Options of `registerDashboard`. */
export interface DashboardCommandOptions {
  /** Stops the server (tests abort it; the CLI stops on SIGINT or SIGTERM). @default process signals */
  stop?: AbortSignal;
  /** Where the token comes from when --token is absent. @default process.env */
  env?: NodeJS.ProcessEnv;
}

interface DashboardFlags {
  port: string;
  host: string;
  token?: string;
  maxStreams: string;
}

export function registerDashboard(program: Command, io: CliIo, options: DashboardCommandOptions = {}): void {
  program
    .command("dashboard")
    .description("serve the live web dashboard (runs, task graphs, events, optimizer advice) until interrupted")
    .option("--port <n>", "TCP port to listen on (0: any free one)", String(DASHBOARD_DEFAULTS.port))
    .option(
      "--host <address>",
      "address to listen on; anything but 127.0.0.1, ::1 or localhost needs --token",
      DASHBOARD_DEFAULTS.host,
    )
    .option(
      "--token <token>",
      "secret every API request must carry, at least 16 characters (env HTDAG_DASHBOARD_TOKEN)",
    )
    .option(
      "--max-streams <n>",
      "live event streams served at once; more get 503 until one closes",
      String(DASHBOARD_DEFAULTS.maxStreams),
    )
    .action(async (flags: DashboardFlags) => {
      const port = flagWholeNumber("--port", flags.port, { min: 0, max: 65_535, example: DASHBOARD_DEFAULTS.port });
      const maxStreams = flagWholeNumber("--max-streams", flags.maxStreams, { min: 1, example: 16 });
      const token = flags.token ?? ((options.env ?? process.env).HTDAG_DASHBOARD_TOKEN || undefined);
      const dashboardOptions = { port, host: flags.host, ...(token ? { token } : {}), maxStreams, steps: builtinSteps };
      resolveDashboardOptions(dashboardOptions); // refuse an exposed host without a token before opening the store
      const orch = await openOrchestrator(await resolveSettings(program.opts()));
      try {
        const dashboard = await orch.dashboard(dashboardOptions);
        io.out(`htdag dashboard on ${dashboard.url}`);
        if (token) {
          io.out(
            "requests need the token: open the page once with ?token=<token> (the tab keeps it), or send Authorization: Bearer <token>",
          );
        }
        io.out("press Ctrl-C to stop");
        await aborted(options.stop ?? signalStop());
      } finally {
        await orch.close();
      }
    });
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) {
    return Promise.resolve();
  }
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
