/**
 * `htdag run` and `htdag plan` as real processes on the built-in catalogue: the health report, the
 * duplicate finder and the CSV summary produce the expected results; plan formats; exit codes.
 */
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/postgres.js";
import { fixture, htdag, root } from "./htdag-process.js";

let work: string;
let repo: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "htdag-run-"));
  repo = join(work, "repo");
  await cp(fixture("health-repo"), repo, { recursive: true });
  // Files a scan must skip or flag, made here because git would not keep them in the fixture.
  await mkdir(join(repo, "build-output"));
  await writeFile(join(repo, "build-output", "out.js"), "ignored();\n// TODO not counted\n");
  await mkdir(join(repo, "node_modules", "dep"), { recursive: true });
  await writeFile(join(repo, "node_modules", "dep", "index.js"), "// TODO not counted\n");
  await writeFile(join(repo, "debug.log"), "TODO not counted\n");
  await writeFile(join(repo, "big.bin"), Buffer.alloc(600 * 1024, 0));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Asserts the report of the fixture repository. */
function expectFixtureReport(report: string): void {
  expect(report).toMatch(/^# Health report: .*repo$/m);
  expect(report).toContain("- Files: 9 ");
  expect(report).toContain("- Licence: MIT (LICENSE)");
  expect(report).toContain("- README: README.md (3 lines)");
  expect(report).toContain("- TODO/FIXME markers: 3");
  expect(report).toContain("| TypeScript | 2 | 7 | 1 |");
  expect(report).toContain("| Python | 1 | 3 | 0 |");
  expect(report).toContain("| JSON | 1 | 6 | 0 |");
  expect(report).toContain("| Text | 2 | 8 | 2 |");
  expect(report).not.toContain("JavaScript");
  for (const dep of ["left-pad@^1.3.0", "zod@^4.0.0", "vitest@^4.0.0 (dev)", "requests==2.32.0", "numpy>=2"]) {
    expect(report).toContain(`- ${dep}`);
  }
  expect(report).toMatch(/- FIXME `src\/c\.ts:1` wrong constant/);
  expect(report).toContain("- `big.bin` 600.0 KB");
}

describe("htdag run: health report", () => {
  it("on the embedded store by default: plans, runs with plain progress lines (not a TTY), writes the report and prints its path", async () => {
    const out = join(work, "report.md");
    const cwd = await mkdtemp(join(work, "default-store-"));
    const { code, stdout, stderr } = await htdag(["run", `health report for ${repo}`, "--out", out], {
      cwd,
      env: { HTDAG_DATABASE_URL: "", DATABASE_URL: "" },
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect((await stat(join(cwd, ".htdag"))).isDirectory()).toBe(true);
    // The build ships a migrated data dir, so a new store is loaded, not created with initdb.
    expect(stdout).toMatch(/^creating the embedded database in \.\/\.htdag…\n/);
    expect(stdout).toMatch(/├─ count_lines {2}\[health\.count_lines\] {2}forEach scan\.languages/);
    expect(stdout).toMatch(/task:started run=\S+ task=scan attempt=1 step=files\.scan/);
    expect(stdout).toMatch(/task:progress run=\S+ task=count_lines attempt=1 done=\d+ total=5/);
    expect(stdout).toMatch(/run \S+ completed in /);
    expect(stdout).toContain(`report written to ${out}`);
    expectFixtureReport(await readFile(out, "utf8"));
    const again = await htdag(["run", `summarise ${fixture("people.csv")}`], {
      cwd,
      env: { HTDAG_DATABASE_URL: "", DATABASE_URL: "" },
    });
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain("creating the embedded database");
  }, 60_000);

  it("writes ./htdag-report-<date>.md in the working directory by default, on Postgres with --database", async () => {
    const pg = await createTestDatabase();
    const cwd = await mkdtemp(join(work, "cwd-"));
    try {
      const { code, stdout } = await htdag(["run", `health report for ${repo}`, "--database", pg.url], { cwd });
      expect(code).toBe(0);
      const path = join(cwd, `htdag-report-${new Date().toISOString().slice(0, 10)}.md`);
      expect(stdout).toContain(`report written to ${path}`);
      expectFixtureReport(await readFile(path, "utf8"));
    } finally {
      await pg.drop();
    }
  });

  it("the README's first command works on this repository", async () => {
    const out = join(work, "self.md");
    const { code, stdout } = await htdag(["run", "health report for .", "--database", "memory://", "--out", out]);
    expect(code).toBe(0);
    expect(stdout).toContain(`report written to ${out}`);
    const report = await readFile(out, "utf8");
    expect(report).toMatch(/\| TypeScript \| \d+ \| \d+ \| \d+ \|/);
    expect(report).toContain("- commander@");
  }, 60_000);

  it("--json prints one JSON object per line: plan, events, result", async () => {
    const { code, stdout } = await htdag([
      "run",
      `health report for ${repo}`,
      "--database",
      "memory://",
      "--out",
      join(work, "r2.md"),
      "--json",
    ]);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; status?: string; workflow?: string });
    expect(lines[0]?.type).toBe("plan");
    expect(lines.some((l) => l.type === "task:completed")).toBe(true);
    expect(lines.at(-1)).toMatchObject({ type: "result", status: "completed", workflow: "builtin.health" });
  });
});

/** util-linux `script` runs a command under a pseudo-terminal, so stdout is a TTY. */
const hasScript = spawnSync("script", ["--version"]).status === 0;

describe("htdag run on a terminal", () => {
  it.skipIf(!hasScript)(
    "redraws the plan as a tree with each task's state instead of printing event lines",
    async () => {
      const command = `node ${JSON.stringify(join(root, "bin", "htdag.js"))} run ${JSON.stringify(`summarise ${fixture("people.csv")}`)} --database memory://`;
      const { stdout } = await promisify(execFile)("script", ["-qec", command, "/dev/null"], { cwd: work });
      expect(stdout).toMatch(/· read +pending\r?\n· profile +pending\r?\n· summary +pending/);
      expect(stdout).toContain("\x1b[3A\x1b[0J"); // cursor up over the three task lines, then redraw
      expect(stdout).toMatch(
        /✔ read +completed +\d+(ms|\.\ds)\r?\n✔ profile +completed +\d+(ms|\.\ds)\r?\n✔ summary +completed/,
      );
      expect(stdout).not.toMatch(/task:started run=/);
      expect(stdout).toMatch(/run \S+ completed in /);
    },
    60_000,
  );
});

describe("htdag run: other goal families", () => {
  it("finds duplicate files by content", async () => {
    const { code, stdout } = await htdag([
      "run",
      `find duplicate files in ${fixture("duplicates")}`,
      "--database",
      "memory://",
      "--json",
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "") as {
      outputs: {
        duplicates: { filesHashed: number; groups: { paths: string[]; size: number }[]; wastedBytes: number };
      };
    };
    const { duplicates } = result.outputs;
    expect(duplicates.filesHashed).toBe(8);
    expect(duplicates.groups.map((g) => g.paths)).toEqual([
      ["a.txt", "sub/b.txt", "sub/c.txt"],
      ["e.md", "f.md"],
    ]);
    expect(duplicates.wastedBytes).toBe(2 * 13 + 11);
  });

  it("summarises a CSV file's columns", async () => {
    const { code, stdout } = await htdag(["run", `summarise ${fixture("people.csv")}`, "--database", "memory://"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/people\.csv: 4 row\(s\), 6 column\(s\)/);
    expect(stdout).toMatch(/^age +integer +3 +1 +3 +27 +41 +34$/m);
    expect(stdout).toMatch(/^height +number +4 +0 +4 +1\.62 +1\.8 +1\.7125$/m);
    expect(stdout).toMatch(/^member +boolean +4 +0 +2 /m);
    expect(stdout).toMatch(/^joined +date +4 +0 +4 +2019-07-01 +2022-01-15 +-$/m);
    expect(stdout).toMatch(/^city +string +4 +0 +4 +Lyon +Paris, FR +-$/m);
  });
});

describe("htdag run --optimize", () => {
  it("tunes the plan at the given level, and names a level it does not know", async () => {
    const ok = await htdag([
      "run",
      `summarise ${fixture("people.csv")}`,
      "--database",
      "memory://",
      "--optimize",
      "basic",
    ]);
    expect(ok.code).toBe(0);
    const bad = await htdag([
      "run",
      `summarise ${fixture("people.csv")}`,
      "--database",
      "memory://",
      "--optimize",
      "extreme",
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/`--optimize`.*none, basic, advanced, aggressive.*"extreme".*Try `--optimize basic`/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }, 90_000);
});

describe("htdag plan", () => {
  const goal = "health report for .";
  it("prints a tree, Mermaid, DOT and JSON", async () => {
    // Four processes at once: each plans on its own in-memory store.
    const plan = (...format: string[]) => htdag(["plan", goal, ...format, "--database", "memory://"]);
    const [tree, mermaid, dot, json] = await Promise.all([
      plan(),
      plan("--format", "mermaid"),
      plan("--format", "dot"),
      plan("--format", "json"),
    ]);
    expect(tree.code).toBe(0);
    expect(tree.stdout).toMatch(/^goal: health report for \.\n├─ scan {2}\[files\.scan\]/);
    expect(tree.stdout).toMatch(
      /└─ report {2}\[health\.write_report\] {2}after scan, count_lines, todos, docs, dependencies, large/,
    );
    expect(mermaid.stdout).toMatch(/^flowchart TD/);
    expect(mermaid.stdout).toContain("t_scan --> t_count_lines");
    expect(dot.stdout).toMatch(/^digraph plan \{/);
    expect(dot.stdout).toContain('"todos" -> "report";');
    const parsed = JSON.parse(json.stdout) as { workflow: string; graph: { tasks: { id: string }[] } };
    expect(parsed.workflow).toBe("builtin.health");
    expect(parsed.graph.tasks.map((t) => t.id)).toEqual([
      "scan",
      "count_lines",
      "todos",
      "docs",
      "dependencies",
      "large",
      "report",
    ]);
  }, 120_000);

  it("rejects an unknown format with exit 1 and one line", async () => {
    const { code, stderr } = await htdag(["plan", goal, "--format", "png", "--database", "memory://"]);
    expect(code).toBe(1);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/--format.*png/);
  });
});

describe("bad input gets one clear line and a non-zero exit", () => {
  it.each([
    [["run", "   "], 1, /goal/],
    [["run", "bake a cake"], 1, /no built-in rule matches.*health report for \./],
    [["run", "health report for .", "--decomposer", "magic"], 1, /decomposer.*magic/],
    [["run"], 2, /missing required argument/],
  ])("htdag %j", async (args, exit, message) => {
    const { code, stderr } = await htdag([...args, "--database", "memory://"]);
    expect(code).toBe(exit);
    expect(stderr).toMatch(message);
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it("names the env var when --decomposer llm has no key", async () => {
    const { code, stderr } = await htdag(
      ["run", "health report for .", "--decomposer", "llm", "--database", "memory://"],
      { env: { OPENAI_API_KEY: "", ANTHROPIC_API_KEY: "" } },
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/set OPENAI_API_KEY/);
  });

  it.each(["plan", "run"])(
    "htdag %s reports an unreachable database in one line, with the stack only under --verbose",
    async (command) => {
      const { code, stderr } = await htdag([
        command,
        "health report for .",
        "--database",
        "postgres://nobody:secret@127.0.0.1:1/none",
      ]);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^htdag: cannot connect to postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none/);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      const verbose = await htdag([
        command,
        "health report for .",
        "--database",
        "postgres://nobody@127.0.0.1:1/none",
        "--verbose",
      ]);
      expect(verbose.code).toBe(1);
      expect(verbose.stderr).toMatch(/\n\s+at /);
    },
  );
});

describe("settings: defaults < htdag.config.* < env < flags", () => {
  it("takes the database from htdag.config.json in the working directory", async () => {
    const cwd = await mkdtemp(join(work, "config-"));
    await writeFile(
      join(cwd, "htdag.config.json"),
      JSON.stringify({ database: "pglite:./from-config", maxParallel: 2 }),
    );
    const { code } = await htdag(["plan", "health report for ."], {
      cwd,
      env: { HTDAG_DATABASE_URL: "", DATABASE_URL: "" },
    });
    expect(code).toBe(0);
    expect((await stat(join(cwd, "from-config"))).isDirectory()).toBe(true);
  }, 60_000);

  it("migrate takes its database from the config file too, and env beats it", async () => {
    const cwd = await mkdtemp(join(work, "config-"));
    await writeFile(join(cwd, "htdag.config.json"), JSON.stringify({ database: "pglite:./from-config" }));
    const fromFile = await htdag(["migrate"], { cwd, env: { HTDAG_DATABASE_URL: "", DATABASE_URL: "" } });
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toMatch(/applied \d+ migration\(s\) to pglite:\.\/from-config/);
    const fromEnv = await htdag(["migrate", "--status"], { cwd, env: { HTDAG_DATABASE_URL: "memory://" } });
    expect(fromEnv.stdout).toMatch(/^database: memory:\/\//);
  }, 60_000);

  it("env beats the file and flags beat env; a bad value names where it came from", async () => {
    const cwd = await mkdtemp(join(work, "config-"));
    await writeFile(join(cwd, "htdag.config.yaml"), "decomposer: llm\n");
    // Three processes at once, each on its own in-memory store.
    const [fromFile, fromEnv, fromFlags] = await Promise.all([
      htdag(["plan", "health report for .", "--database", "memory://"], {
        cwd,
        env: { OPENAI_API_KEY: "", ANTHROPIC_API_KEY: "" },
      }),
      htdag(["plan", "health report for .", "--database", "memory://"], { cwd, env: { HTDAG_DECOMPOSER: "magic" } }),
      htdag(["plan", "health report for .", "--database", "memory://", "--decomposer", "rules"], {
        cwd,
        env: { HTDAG_DECOMPOSER: "hybrid" },
      }),
    ]);
    expect(fromFile.code).toBe(1);
    expect(fromFile.stderr).toMatch(/--decomposer llm .*set OPENAI_API_KEY/);
    expect(fromEnv.stderr).toMatch(/`HTDAG_DECOMPOSER` in the environment.*magic/);
    expect(fromFlags.code).toBe(0);
    await writeFile(join(cwd, "htdag.config.yaml"), "maxParallel: zero\n");
    const bad = await htdag(["plan", "health report for .", "--database", "memory://"], { cwd });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/`maxParallel`.*htdag\.config\.yaml/);
  }, 60_000);
});
