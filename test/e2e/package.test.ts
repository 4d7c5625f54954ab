/**
 * The package as users get it: `npm pack` (of the suite's build; `--ignore-scripts`, so `prepare`
 * does not build again), installed from the tarball into an empty folder, where `npx htdag` runs a
 * goal, a program imports `htdag`, `htdag/graph` and `htdag/events`, and `tsc` checks a .ts file
 * against the shipped types. The install resolves dependencies from the npm cache when it can
 * (`npm ci` has filled it in CI).
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { root } from "./htdag-process.js";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";

let work: string;
let project: string;
let packed: string[];
const version = (JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string }).version;

/** Runs a command in `cwd` to its end; resolves to its exit code and output. */
async function sh(
  command: string,
  args: string[],
  cwd: string,
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : 1,
      stdout: failed.stdout ?? "",
      stderr: failed.stderr ?? "",
    };
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "htdag-package-"));
  const pack = await sh(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", work], root);
  expect(pack.stderr).not.toMatch(/npm error/);
  const [manifest] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  packed = manifest.files.map((f) => f.path);
  project = join(work, "project");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "uses-htdag", private: true, type: "module" }));
  const install = await sh(
    npm,
    ["install", "--prefer-offline", "--no-audit", "--no-fund", join(work, manifest.filename)],
    project,
    120_000,
  );
  expect(install.stderr).not.toMatch(/npm error/);
  expect(install.code).toBe(0);
}, 180_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

// The three uses of the install are independent: they run at once.
describe.concurrent("the npm package", () => {
  it("holds the built code and types, the migrations, the migrated PGlite data dir and the dashboard; no sources or tests", async () => {
    const migrations = (await readdir(join(root, "migrations"))).filter((f) => f.endsWith(".sql"));
    for (const file of [
      "bin/htdag.js",
      "dist/cli/main.js",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/entries/graph.d.ts",
      "dist/entries/events.d.ts",
      "dist/store/pglite-seed/data.tar.gz",
      "dist/store/pglite-seed/manifest.json",
      "dist/dashboard/app/index.html",
      ...migrations.map((f) => `migrations/${f}`),
    ]) {
      expect(packed).toContain(file);
    }
    expect(packed.some((f) => f.startsWith("dist/dashboard/app/assets/") && f.endsWith(".js"))).toBe(true);
    expect(packed.filter((f) => /^(src|test|web|scripts|bench|node_modules)\//.test(f))).toEqual([]);
  });

  it("runs `npx htdag` from the install: --version, and a health report on a new embedded store loaded from the shipped data dir", async () => {
    const printed = await sh(npx, ["--no-install", "htdag", "--version"], project);
    expect(printed).toMatchObject({ code: 0, stdout: `${version}\n` });
    const report = await sh(npx, ["--no-install", "htdag", "run", "health report for ."], project);
    expect(report.stderr).toBe("");
    expect(report.code).toBe(0);
    // No "with initdb": the store started from the shipped, migrated data dir.
    expect(report.stdout).toMatch(/^creating the embedded database in \.\/\.htdag…\n/);
    expect(report.stdout).toMatch(/run \S+ completed in /);
    expect(report.stdout).toMatch(/report written to .*htdag-report-\d{4}-\d{2}-\d{2}\.md/);
  });

  it("imports htdag, htdag/graph and htdag/events in a program that validates a graph and runs it in memory", async () => {
    await writeFile(join(project, "program.js"), PROGRAM);
    const { code, stdout, stderr } = await sh(process.execPath, ["program.js"], project);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      valid: 3,
      order: ["fetch", "parse", "report"],
      knowsTaskCompleted: true,
      status: "completed",
      report: { lines: 2 },
    });
  });

  it("type-checks a TypeScript file against the shipped declarations", async () => {
    await writeFile(join(project, "check.ts"), TYPED_PROGRAM);
    await writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig()));
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const { code, stdout } = await sh(process.execPath, [tsc, "-p", "tsconfig.json"], project);
    expect(stdout).toBe("");
    expect(code).toBe(0);
  });
});

/** Plain JavaScript, as a user would write it against the installed package. */
const PROGRAM = `
import { createOrchestrator } from "htdag";
import { validateGraph, topologicalOrder } from "htdag/graph";
import { EVENT_TYPES } from "htdag/events";

const tasks = [
  { id: "fetch" },
  { id: "parse", dependsOn: ["fetch"] },
  { id: "report", dependsOn: ["parse"] },
];
const graph = validateGraph({ goal: "count lines", tasks });
const orch = await createOrchestrator({ database: "memory://" });
try {
  const result = await orch.composeFromGoal("count lines", () => tasks, {
    fetch: async () => "a\\nb",
    parse: async ({ deps }) => deps.fetch.split("\\n"),
    report: async ({ deps }) => ({ lines: deps.parse.length }),
  });
  console.log(JSON.stringify({
    valid: graph.tasks.length,
    order: topologicalOrder(graph.tasks),
    knowsTaskCompleted: EVENT_TYPES.includes("task:completed"),
    status: result.status,
    report: result.outputs.report,
  }));
} finally {
  await orch.close();
}
`;

/** Uses the types for real: a wrong option must not compile, or the declarations are \`any\`. */
const TYPED_PROGRAM = `
import { createOrchestrator, type Orchestrator } from "htdag";
import { validateGraph, type TaskGraph } from "htdag/graph";
import { isEventType, type HtdagEvent } from "htdag/events";

const graph: TaskGraph = validateGraph({ goal: "g", tasks: [{ id: "a" }] });
export async function open(): Promise<Orchestrator> {
  // @ts-expect-error maxParallel is a number
  await createOrchestrator({ database: "memory://", defaults: { maxParallel: "4" } });
  return createOrchestrator({ database: "memory://" });
}
export function describe(event: HtdagEvent): string {
  return isEventType(event.type) ? \`\${event.type} of \${graph.goal}\` : "custom";
}
`;

/** What \`tsc --init\` gives a Node project, with Node's types taken from this repository. */
function tsconfig(): object {
  return {
    compilerOptions: {
      target: "es2022",
      module: "nodenext",
      moduleResolution: "nodenext",
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      typeRoots: [join(root, "node_modules", "@types")],
      types: ["node"],
    },
    files: ["check.ts"],
  };
}
