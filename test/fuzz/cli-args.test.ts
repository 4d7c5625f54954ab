/**
 * The htdag command against hostile argument vectors (unknown flags, values of the wrong type,
 * huge and negative numbers, NUL bytes, run ids that are not runs), run in-process through
 * `main()` against a real Postgres database holding a run: each exits non-zero with a one-line
 * message (no stack trace), and the stored rows are the same afterwards. (A process cannot
 * receive a NUL in its arguments, so vectors with one only run in-process.)
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { createOrchestrator } from "../../src/create-orchestrator.js";
import { validateGraph } from "../../src/graph/validate.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { caseCounter, unstorableString } from "./hostile.js";

let url: string;
let drop: () => Promise<void>;
let runId: string;

async function snapshot(): Promise<string> {
  const orch = await createOrchestrator({ database: url, migrate: false });
  try {
    const tables = ["runs", "tasks", "attempts", "graphs", "workflows", "events"];
    const rows = await Promise.all(
      tables.map(
        async (t) => (await orch.db.query(`SELECT to_jsonb(x) AS row FROM htdag.${t} x ORDER BY 1::text`)).rows,
      ),
    );
    return JSON.stringify(rows.map((r) => r.map((row) => JSON.stringify(row)).sort()));
  } finally {
    await orch.close();
  }
}

/** Runs `htdag …args` in-process; resolves to its exit code and what it wrote to stderr. */
async function htdag(args: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const io = { out: () => undefined, err: (line: string) => err.push(line) };
  const code = await main(["node", "htdag", "--database", url, ...args], io);
  return { code, err: err.join("\n") };
}

beforeAll(async () => {
  ({ url, drop } = await createTestDatabase());
  const orch = await createOrchestrator({ database: url });
  const graph = validateGraph({ goal: "a stored run", tasks: [{ id: "a" }] });
  const result = await orch.composeFromTaskGraph(graph, { a: async () => ({ ok: 1 }) }, { workflow: "stored" });
  runId = result.runId;
  await orch.close();
});

afterAll(async () => {
  await drop?.();
});

const hostileValue = fc.oneof(
  fc.constantFrom("-1", "0", "-0", "1e400", "99999999999999999999", "NaN", "abc", "", " ", "0x10", "1.5", "--"),
  unstorableString.map((s) => `v${s}`),
  fc.integer({ min: 10_001, max: 100_000 }).map((n) => "9".repeat(n % 400) + "x".repeat(n % 1000)),
);

/** Argument vectors each holding at least one thing that must be refused. */
const vector = fc.oneof(
  // An unknown flag or command anywhere.
  fc
    .tuple(
      fc.constantFrom("runs", "show", "events", "validate", "migrate", "cancel", "frobnicate"),
      fc.constantFrom("--bogus", "-x", "--limit=", "--\u0000"),
    )
    .map(([c, f]) => [c, f]),
  // A number flag with a value of the wrong type or out of range.
  fc
    .tuple(
      fc.constantFrom(
        ["runs", "--limit"],
        ["validate", "examples/graphs/release.yaml", "--max-depth"],
        ["worker", "--workflows", "test/fixtures/workflows.mjs", "--concurrency"],
        ["worker", "--workflows", "test/fixtures/workflows.mjs", "--poll-interval"],
        ["worker", "--workflows", "test/fixtures/workflows.mjs", "--lease-ms"],
        ["events", "prune", "--older-than"],
      ),
      hostileValue,
    )
    .map(([prefix, value]) => [...prefix, value]),
  // Run ids and names that are not runs, reasons and filters PostgreSQL cannot store.
  fc
    .tuple(fc.constantFrom("show", "cancel", "pause", "retry", "resume"), fc.oneof(hostileValue, fc.uuid()))
    .map(([c, id]) => [c, id]),
  fc
    .tuple(fc.constantFrom("cancel", "pause"), unstorableString)
    .map(([c, reason]) => [c, "STORED", "--reason", `r${reason}`]),
  fc
    .tuple(fc.constantFrom("--workflow", "--status", "--run", "--type"), unstorableString)
    .map(([flag, v]) => [flag === "--run" || flag === "--type" ? "events" : "runs", flag, `w${v}`]),
  fc
    .tuple(fc.constantFrom("--schema", "--database", "--format"), hostileValue)
    .map(([flag, v]) => (flag === "--format" ? ["show", "STORED", flag, `f${v}`] : [flag, `S-${v}`, "runs"])),
  fc.constantFrom(
    ["worker", "--workflows", "/nonexistent.mjs"],
    ["worker", "--workflows", "README.md"],
    ["plan", "   "],
    ["run", "zzz\u0000"],
  ),
);

describe("htdag with hostile arguments", () => {
  it("exits non-zero with a one-line message and changes nothing stored", { timeout: 60_000 }, async () => {
    const before = await snapshot();
    const cases = caseCounter("htdag main(hostile argv)");
    const codes: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(vector, async (args) => {
        cases.count();
        const argv = args.map((a) => (a === "STORED" ? runId : a));
        const { code, err } = await htdag(argv);
        codes[code] = (codes[code] ?? 0) + 1;
        expect(code, `htdag ${JSON.stringify(argv).slice(0, 300)}: ${err.slice(0, 300)}`).toBeGreaterThan(0);
        expect([1, 2]).toContain(code);
        expect(err.length).toBeGreaterThan(0);
        expect(err).not.toMatch(/\n\s+at .+:\d+:\d+/);
      }),
      { numRuns: 200 },
    );
    cases.report(200);
    console.log(`  exit codes: ${JSON.stringify(codes)}`);
    expect(await snapshot()).toBe(before);
  });

  // Findings, each a test that failed before its fix.
  it("refuses number flags of the wrong type (was: --concurrency abc ignored, the worker ran forever)", async () => {
    for (const args of [
      ["worker", "--workflows", "test/fixtures/workflows.mjs", "--concurrency", "abc"],
      ["worker", "--workflows", "test/fixtures/workflows.mjs", "--concurrency", "-1"],
      ["validate", "examples/graphs/release.yaml", "--max-depth", "abc"],
      ["validate", "examples/graphs/release.yaml", "--max-depth", "0"],
    ]) {
      const { code, err } = await htdag(args);
      expect(code).toBe(1);
      expect(err).toMatch(
        /^htdag: invalid option `--(concurrency|max-depth)`: expected a whole number from 1 to \d+, received the string "(abc|-1|0)"\. Try `--\1 \d+`\.$/,
      );
    }
  });

  it("every bad flag value reads as one sentence: the flag, what was given, what it expects, and a value to try", async () => {
    const cases: [string[], string][] = [
      [
        ["run", "x", "--max-parallel", "abc"],
        '`--max-parallel`: expected a whole number from 1 to 10000, received the string "abc". Try `--max-parallel 4`.',
      ],
      [
        ["run", "x", "--optimize", "max"],
        '`--optimize`: expected one of none, basic, advanced, aggressive, received the string "max". Try `--optimize basic`.',
      ],
      [
        ["plan", "x", "--format", "svg"],
        '`--format`: expected one of tree, mermaid, dot, json, received the string "svg". Try `--format tree`.',
      ],
      [
        ["worker", "--workflows", "test/fixtures/workflows.mjs", "--lease-ms", "5"],
        '`--lease-ms`: expected a whole number from 1000 to 86400000, received the string "5". Try `--lease-ms 30000`.',
      ],
      [
        ["worker", "--workflows", "test/fixtures/workflows.mjs", "--poll-interval", "1e3"],
        '`--poll-interval`: expected a whole number from 1 to 86400000, received the string "1e3". Try `--poll-interval 1000`.',
      ],
      [
        ["runs", "--status", "done"],
        '`--status`: expected one of pending, awaiting_approval, running, paused, completed, failed, cancelled, timed_out, received the string "done". Try `--status pending`.',
      ],
      [
        ["events", "--limit", "-1"],
        '`--limit`: expected a whole number of at least 0, received the string "-1". Try `--limit 100`.',
      ],
      [
        ["optimize", "stored", "--level", "max"],
        '`--level`: expected one of basic, advanced, aggressive, received the string "max". Try `--level basic`.',
      ],
      [
        ["optimize", "stored", "--min-samples", "0x10"],
        '`--min-samples`: expected a whole number of at least 0, received the string "0x10". Try `--min-samples 5`.',
      ],
      [
        ["dashboard", "--port", "65536"],
        '`--port`: expected a whole number from 0 to 65535, received the string "65536". Try `--port 4400`.',
      ],
      [
        ["dashboard", "--max-streams", "0"],
        '`--max-streams`: expected a whole number of at least 1, received the string "0". Try `--max-streams 16`.',
      ],
      [
        ["bench", "--repeats", "two"],
        '`--repeats`: expected a whole number of at least 1, received the string "two". Try `--repeats 3`.',
      ],
    ];
    for (const [args, sentence] of cases) {
      expect(await htdag(args), args.join(" ")).toEqual({ code: 1, err: `htdag: invalid option ${sentence}` });
    }
  });

  it("reads a --limit in decimal digits only (was: runs --limit 0x10 listed 16 runs, found by CI's seed)", async () => {
    for (const args of [
      ["runs", "--limit", "0x10"],
      ["runs", "--limit", "1e1"],
      ["events", "--limit", "0x10"],
    ]) {
      const { code, err } = await htdag(args);
      expect(code).toBe(1);
      expect(err).toMatch(/invalid option `--limit`: expected a whole number/);
    }
  });

  it("names a --workflows module that cannot be imported (was: exit 70, an internal error)", async () => {
    const { code, err } = await htdag(["worker", "--workflows", "/nonexistent.mjs"]);
    expect(code).toBe(1);
    expect(err).toMatch(
      /^htdag: invalid option `--workflows`: expected an ES module \(\.js or \.mjs\) that can be imported/,
    );
  });

  it("refuses a NUL in a reason or a filter (was: exit 70, a DatabaseError)", async () => {
    expect(await htdag(["cancel", runId, "--reason", "r\u0000"])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/invalid option `reason` in cancelRun/),
    });
    expect(await htdag(["runs", "--workflow", "w\u0000"])).toMatchObject({
      code: 1,
      err: expect.stringMatching(/invalid option `workflow` in listRuns/),
    });
  });
});
