/**
 * `npm run chaos [-- --minutes 10] [--seed n]`: the chaos harness (harness.ts). Without --minutes,
 * one 1,000-task run (more if needed until every kind of fault has hit once). Prints each fault and
 * run as it happens, then the report; exits 1 when an invariant broke.
 */
import { parseArgs } from "node:util";
import { runChaos } from "./harness.js";
import { formatReport } from "./report.js";

const { values } = parseArgs({
  options: { minutes: { type: "string" }, seed: { type: "string" } },
});
const minutes = values.minutes === undefined ? 0 : Number(values.minutes);
const seed = values.seed === undefined ? 1 : Number(values.seed);
if (!Number.isFinite(minutes) || minutes < 0 || !Number.isInteger(seed)) {
  console.error("usage: npm run chaos -- [--minutes <m ≥ 0>] [--seed <integer>]");
  process.exit(2);
}
// Ctrl-C: exit through process.exit, so the harness stops its cluster (its "exit" handler).
process.once("SIGINT", () => process.exit(130));
const report = await runChaos({
  durationMs: minutes * 60_000,
  seed,
  log: (line) => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`),
});
console.log(formatReport(report));
process.exit(report.violations.length === 0 ? 0 : 1);
