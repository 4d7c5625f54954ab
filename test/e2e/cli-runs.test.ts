/**
 * Run inspection and control as real processes sharing one PGlite directory: `runs`, `show`,
 * `retry` (of a failed run, after fixing its input), `cancel`/`pause` of a final run, and Ctrl-C
 * during `htdag run` leaving the run cancelled.
 */
import type { ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../helpers/postgres.js";
import { fixture, htdag, startHtdag } from "./htdag-process.js";

let work: string;
let database: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "htdag-runs-"));
  database = `pglite:${join(work, "store")}`;
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** 20,000 small files (enough hashing to act on a run while it runs), made once. */
let manyDir: string | undefined;
async function manyFiles(): Promise<string> {
  if (manyDir) {
    return manyDir;
  }
  const many = join(work, "many");
  for (let d = 0; d < 40; d++) {
    await mkdir(join(many, `d${d}`), { recursive: true });
    await Promise.all(
      Array.from({ length: 500 }, (_, i) => writeFile(join(many, `d${d}`, `f${i}.txt`), `${"x".repeat(i % 50)}\n`)),
    );
  }
  manyDir = many;
  return many;
}

/** Collects a child's stdout, calling `onText` with all of it so far after each chunk. */
function collect(child: ChildProcess, onText: (text: string) => void): () => string {
  let stdout = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    onText(stdout);
  });
  return () => stdout;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

interface ListedRun {
  id: string;
  status: string;
  workflow: string;
  goal: string;
}

async function listRuns(...args: string[]): Promise<ListedRun[]> {
  const { code, stdout, stderr } = await htdag(["runs", "--json", "--database", database, ...args]);
  expect(stderr).toBe("");
  expect(code).toBe(0);
  return JSON.parse(stdout) as ListedRun[];
}

describe("runs, show, retry, cancel, pause", () => {
  it("a failed run is listed and shown with its error; retry after fixing the input completes it", async () => {
    const csv = join(work, "later.csv");
    const failed = await htdag(["run", `summarise ${csv}`, "--database", database]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/run \S+ failed in /);
    expect(failed.stderr).toMatch(/task read failed: cannot read .*later\.csv/);

    const [run] = await listRuns("--status", "failed");
    expect(run).toMatchObject({ status: "failed", workflow: "builtin.csv", goal: `summarise ${csv}` });
    const runId = run?.id ?? "";

    const shown = await htdag(["show", runId, "--database", database]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`run ${runId}  failed  workflow builtin.csv`);
    expect(shown.stdout).toMatch(/failed +read {2}\[csv\.read\] {2}- attempts 1, .*error: cannot read/);
    expect(shown.stdout).toMatch(/(cancelled|skipped|pending) +profile/);
    const json = JSON.parse((await htdag(["show", runId, "--json", "--database", database])).stdout) as {
      status: string;
      tasks: { id: string; attempts: number }[];
    };
    expect(json.status).toBe("failed");
    expect(json.tasks.find((t) => t.id === "read")?.attempts).toBe(1);
    expect(json.tasks.find((t) => t.id === "profile")).toMatchObject({ dependsOn: ["read"] });

    // The same renderers as `htdag plan`, with each task coloured by its state.
    const mermaid = await htdag(["show", runId, "--format", "mermaid", "--database", database]);
    expect(mermaid.code).toBe(0);
    expect(mermaid.stdout).toMatch(/^flowchart TD\n {2}%% run \S+ \(failed\): summarise /);
    expect(mermaid.stdout).toContain("t_read --> t_profile");
    expect(mermaid.stdout).toMatch(/^ {2}classDef failed fill:#\w+,stroke:#\w+$/m);
    expect(mermaid.stdout).toMatch(/^ {2}class t_read failed$/m);
    const dot = await htdag(["show", runId, "--format", "dot", "--database", database]);
    expect(dot.code).toBe(0);
    expect(dot.stdout).toMatch(/^digraph plan \{/);
    expect(dot.stdout).toMatch(/"read" \[label="read\\ncsv\.read\\nfailed", fillcolor="#ffcdd2"/);
    expect(dot.stdout).toContain('"read" -> "profile";');
    const badFormat = await htdag(["show", runId, "--format", "svg", "--database", database]);
    expect(badFormat.code).toBe(1);
    expect(badFormat.stderr).toMatch(/--format.*tree, mermaid, dot, json.*svg/);

    await copyFile(fixture("people.csv"), csv);
    const retried = await htdag(["retry", runId, "--database", database]);
    expect(retried.stderr).toBe("");
    expect(retried.stdout).toMatch(new RegExp(`run ${runId} completed in `));
    expect(retried.code).toBe(0);
    const after = await htdag(["show", runId, "--json", "--database", database]);
    const outputs = (JSON.parse(after.stdout) as { outputs: { summary: { rows: number } } }).outputs;
    expect(outputs.summary.rows).toBe(4);

    // resume without --workflows binds the built-in catalogue; a completed run is final at once.
    const resumed = await htdag(["resume", runId, "--database", database]);
    expect(resumed.stdout).toMatch(new RegExp(`run ${runId} completed`));
    expect(resumed.code).toBe(0);

    const again = await htdag(["retry", runId, "--from", "summary", "--database", database]);
    expect(again.code).toBe(0);
    expect((await listRuns("--workflow", "builtin.csv"))[0]?.status).toBe("completed");
  }, 120_000);

  it("cancel and pause of a final run, and an unknown run id, exit 1 with one line", async () => {
    const [run] = await listRuns("--limit", "1");
    for (const command of ["cancel", "pause"]) {
      const { code, stderr } = await htdag([command, run?.id ?? "", "--database", database]);
      expect(code).toBe(1);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toMatch(
        new RegExp(`cannot move run "${run?.id}" from completed to ${command === "cancel" ? "cancelled" : "paused"}`),
      );
    }
    const unknown = await htdag(["show", "00000000-0000-4000-8000-000000000000", "--database", database]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/00000000-0000-4000-8000-000000000000/);
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);
    const verbose = await htdag(["show", "00000000-0000-4000-8000-000000000000", "--database", database, "--verbose"]);
    expect(verbose.code).toBe(1);
    expect(verbose.stderr).toMatch(/\n\s+at /);
  }, 60_000);

  it("Ctrl-C during a run cancels it and exits 130", async () => {
    const many = await manyFiles();
    const child = startHtdag(["run", `find duplicate files in ${many}`, "--database", database]);
    let signalled = false;
    const output = collect(child, (text) => {
      // Wait on state: the hashing fan-out has started (the run has thousands of files to go).
      if (!signalled && /task:progress run=\S+ task=hash/.test(text)) {
        signalled = true;
        child.kill("SIGINT");
      }
    });
    const code = await exited(child);
    const stdout = output();
    expect(signalled).toBe(true);
    expect(code).toBe(130);
    expect(stdout).toMatch(/run \S+ cancelled in /);
    const [run] = await listRuns("--limit", "1");
    expect(run).toMatchObject({ status: "cancelled", workflow: "builtin.duplicates" });
    // Nothing half-written: every task is final (none left running or ready), and only completed
    // tasks have outputs; the interrupted fan-out and the tasks after it have none.
    const shown = JSON.parse((await htdag(["show", run?.id ?? "", "--json", "--database", database])).stdout) as {
      tasks: { id: string; status: string }[];
      outputs: Record<string, unknown>;
    };
    expect(shown.tasks.map((t) => [t.id, t.status])).toEqual([
      ["scan", "completed"],
      ["hash", "cancelled"],
      ["duplicates", "cancelled"],
    ]);
    expect(Object.keys(shown.outputs)).toEqual(["scan"]);
  }, 90_000);
});

describe("pause and resume across processes (Postgres)", () => {
  it("htdag pause stops a running run; htdag resume without --workflows finishes it with the built-in steps", async () => {
    const many = await manyFiles();
    const pg = await createTestDatabase();
    try {
      const child = startHtdag(["run", `find duplicate files in ${many}`, "--database", pg.url]);
      const exit = exited(child); // listened to at once: the run may end before resume returns
      let runId: string | undefined;
      const started = new Promise<string>((resolve) =>
        collect(child, (text) => {
          const match = /task:progress run=(\S+) task=hash/.exec(text);
          if (match?.[1] && runId === undefined) {
            resolve((runId = match[1]));
          }
        }),
      );
      const id = await started;
      const paused = await htdag(["pause", id, "--reason", "test", "--database", pg.url]);
      expect(paused.stdout).toContain(`run ${id} paused`);
      const listed = await htdag(["runs", "--json", "--database", pg.url]);
      expect((JSON.parse(listed.stdout) as ListedRun[])[0]).toMatchObject({ id, status: "paused" });
      const resumed = await htdag(["resume", id, "--database", pg.url]);
      expect(resumed.stdout).toMatch(new RegExp(`run ${id} completed`));
      expect(resumed.code).toBe(0);
      expect(await exit).toBe(0);
    } finally {
      await pg.drop();
    }
  }, 120_000);
});
