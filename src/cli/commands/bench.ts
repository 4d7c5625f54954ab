/**
 * `htdag bench`: the side-by-side benchmark on the user's own Postgres. htdag (Postgres and PGlite)
 * and the raw-SQL floor are built into the package (src/bench); graphile-worker and pg-boss are
 * measured too when run from a clone of htdag with its devDependencies (their adapters live in
 * bench/peers, TypeScript loaded through tsx). Otherwise the command says why they were skipped.
 */
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Command } from "commander";
import { DEFAULT_ADMIN_URL } from "../../bench/databases.js";
import { SIZES } from "../../bench/sizes.js";
import { BUILT_IN_SYSTEMS, PEER_NAMES } from "../../bench/systems.js";
import { WORKLOADS, type BenchSystem, type WorkloadId } from "../../bench/types.js";
import { InvalidOptionError } from "../../errors.js";
import { flagWholeNumber, tryFlag } from "../arguments.js";
import { storeOptions } from "../config.js";
import type { CliIo } from "../io.js";

interface BenchFlags {
  quick?: boolean;
  tiny?: boolean;
  json?: boolean;
  repeats?: string;
  systems?: string;
  workloads?: string;
  prefix?: string;
}

const ALL_SYSTEMS = [...BUILT_IN_SYSTEMS.map((s) => s.name), ...PEER_NAMES];
const ORDER = ["htdag", "graphile-worker", "pg-boss", "floor", "htdag-pglite"];

function names(value: string | undefined, known: readonly string[], flag: string): string[] | undefined {
  if (value === undefined) {
    return undefined;
  }
  const list = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = list.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new InvalidOptionError(
      flag,
      `a comma-separated list of ${known.join(", ")}`,
      value,
      "htdag bench",
      `${unknown.map((name) => JSON.stringify(name)).join(", ")} ${unknown.length === 1 ? "is" : "are"} not among them. ` +
        tryFlag(flag, known.slice(0, 2).join(",")),
    );
  }
  return list;
}

/** The peers' adapters, when this is a clone of htdag with tsx and the peers installed. */
async function loadPeers(wanted: readonly string[]): Promise<{ systems: BenchSystem[]; skipped: string[] }> {
  const peers = PEER_NAMES.filter((p) => wanted.includes(p));
  if (peers.length === 0) {
    return { systems: [], skipped: [] };
  }
  const loader = fileURLToPath(new URL("../../../bench/peers/load.ts", import.meta.url));
  if (!existsSync(loader)) {
    return {
      systems: [],
      skipped: peers.map(
        (p) => `${p}: not measured; its adapter is in bench/peers of a clone of htdag (run \`npm run bench\` there)`,
      ),
    };
  }
  try {
    // tsx is a devDependency of htdag: a variable specifier keeps it out of the published package's imports.
    const specifier = "tsx/esm/api";
    const { tsImport } = (await import(specifier)) as { tsImport(path: string, parent: string): Promise<unknown> };
    const module = (await tsImport(pathToFileURL(loader).href, import.meta.url)) as {
      loadPeers(names: readonly string[]): Promise<{ systems: BenchSystem[]; skipped: string[] }>;
    };
    return await module.loadPeers(peers);
  } catch (error) {
    return {
      systems: [],
      skipped: peers.map(
        (p) =>
          `${p}: not measured; loading bench/peers needs the devDependencies (npm install in the clone): ${(error as Error).message}`,
      ),
    };
  }
}

export function registerBench(program: Command, io: CliIo): void {
  program
    .command("bench")
    .description(
      "benchmark htdag side by side with the raw-SQL floor (and graphile-worker, pg-boss from a clone) on a Postgres server",
    )
    .option("--quick", "smaller workloads and 2 repeats (under 2 minutes)")
    .option("--tiny", "a few seconds: each workload at toy size, 1 repeat, no warm-up (checks the set-up)")
    .option("--json", "print the report as JSON")
    .option("--repeats <n>", "measured runs per workload after the warm-up (default 5, --quick 2)")
    .option("--systems <list>", `comma list of ${ALL_SYSTEMS.join(", ")} (default all)`)
    .option("--workloads <list>", `comma list of ${WORKLOADS.join(", ")} (default all)`)
    .option("--prefix <name>", "databases are <name>_<system>, dropped and recreated (default htdag_bench)")
    .action(async (flags: BenchFlags) => {
      const adminUrl = storeOptions(program).database ?? DEFAULT_ADMIN_URL;
      if (!/^postgres(ql)?:\/\//.test(adminUrl)) {
        throw new InvalidOptionError(
          "--database",
          "a postgres:// URL of a server where htdag may create htdag_bench_* databases",
          adminUrl,
          "htdag bench",
        );
      }
      if (flags.prefix !== undefined && !/^[a-z_][a-z0-9_]{0,40}$/.test(flags.prefix)) {
        throw new InvalidOptionError(
          "--prefix",
          "a lower-case identifier of at most 41 characters (letters, digits, _)",
          flags.prefix,
          "htdag bench",
        );
      }
      const size = flags.tiny ? "tiny" : flags.quick ? "quick" : "full";
      const repeats =
        flags.repeats === undefined
          ? { full: 5, quick: 2, tiny: 1 }[size]
          : flagWholeNumber("--repeats", flags.repeats, { min: 1, example: 3 });
      const wanted = names(flags.systems, ALL_SYSTEMS, "--systems") ?? ALL_SYSTEMS;
      const workloads = names(flags.workloads, WORKLOADS, "--workloads") as WorkloadId[] | undefined;
      const peers = await loadPeers(wanted);
      const systems = [...BUILT_IN_SYSTEMS, ...peers.systems]
        .filter((s) => wanted.includes(s.name))
        .sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name));
      // Loaded here: the harness is a dozen modules that no other command needs.
      const { benchmark, renderReport } = await import("../../bench/report-run.js");
      const report = await benchmark({
        systems,
        sizes: SIZES[size],
        size,
        repeats,
        warmUp: size !== "tiny",
        adminUrl,
        ...(workloads ? { workloads } : {}),
        ...(flags.prefix ? { databasePrefix: flags.prefix } : {}),
        onProgress: (line) => io.err(`bench: ${line}`),
      });
      io.out(flags.json ? JSON.stringify({ ...report, skipped: peers.skipped }, null, 2) : renderReport(report));
      if (!flags.json) {
        for (const line of peers.skipped) {
          io.out(`skipped ${line}`);
        }
      }
      if (report.failures.length > 0) {
        io.exitCode = 1;
      }
    });
}
