/**
 * Every code example in README.md and docs/*.md is executed (see code-blocks.ts for how a block says
 * what it is): TypeScript programs with tsx against a fresh Postgres database, shell lines with the
 * built CLI (on a fresh Postgres database, or the embedded store when marked), data blocks parsed.
 * LLM calls go to a local server that plans with the catalogue it is sent. `npm test` builds dist/
 * first; run `npm run build` before running this file alone.
 */
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLlmServer, type LlmTestServer, type RecordedRequest } from "../helpers/llm-server.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { RUNNERS, blocksOf, shellCommands, tsExpectations, type BlockLanguage, type CodeBlock } from "./code-blocks.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const docs = [
  "README.md",
  ...(await readdir(join(root, "docs")))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`),
];
const blocks = blocksOf(docs, root);
const programs = join(root, ".tmp-docs-examples");

let llm: LlmTestServer;
let bin: string;

beforeAll(async () => {
  llm = await startLlmServer(planWithCatalogue);
  await rm(programs, { recursive: true, force: true });
  await mkdir(programs, { recursive: true });
  bin = await mkdtemp(join(tmpdir(), "htdag-docs-bin-"));
  await writeFile(join(bin, "htdag"), `#!/bin/sh\nexec node ${JSON.stringify(join(root, "bin", "htdag.js"))} "$@"\n`);
  await chmod(join(bin, "htdag"), 0o755);
});

afterAll(async () => {
  await llm.close();
  await rm(programs, { recursive: true, force: true });
  await rm(bin, { recursive: true, force: true });
});

/** The local model's answer: one task per step of the catalogue it was sent, in a chain. */
function planWithCatalogue(request: RecordedRequest) {
  const steps = stepEnum(request.body) ?? [];
  const ids = steps.map((s) => s.replace(/[^A-Za-z0-9_]/g, "_"));
  return {
    plan: {
      tasks: steps.map((step, i) => ({
        id: ids[i],
        description: `Run ${step}`,
        step,
        kind: "atomic",
        dependsOn: i === 0 ? [] : [ids[i - 1]],
        input: null,
      })),
    },
  };
}

/** The step names the request's schema allows (the enum under a `step` property). */
function stepEnum(value: unknown, underStep = false): string[] | undefined {
  if (value === null || typeof value !== "object") {
    return undefined;
  }
  const record = value as Record<string, unknown>;
  if (underStep && Array.isArray(record.enum)) {
    return record.enum.filter((v): v is string => typeof v === "string");
  }
  for (const [key, child] of Object.entries(record)) {
    const found = stepEnum(child, underStep || key === "step");
    if (found?.length) {
      return found;
    }
  }
  return undefined;
}

/** A scratch working folder with the repository's examples, fixtures and docs reachable by relative path. */
async function scratch(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "htdag-docs-"));
  for (const name of ["examples", "test", "docs"]) {
    await symlink(join(root, name), join(dir, name));
  }
  return dir;
}

function run(
  file: string,
  args: string[],
  options: { cwd: string; env: Record<string, string | undefined> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env as NodeJS.ProcessEnv, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function baseEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    PATH: `${bin}:${join(root, "node_modules", ".bin")}:${process.env.PATH}`,
    OPENAI_API_KEY: "docs-test-key",
    OPENAI_BASE_URL: llm.openaiBaseURL,
    ANTHROPIC_API_KEY: "docs-test-key",
    ANTHROPIC_BASE_URL: llm.anthropicBaseURL,
  };
  for (const name of [
    "DATABASE_URL",
    "HTDAG_DATABASE_URL",
    "HTDAG_DECOMPOSER",
    "HTDAG_PROVIDER",
    "HTDAG_MODEL",
    "HTDAG_MAX_PARALLEL",
    "HTDAG_SCHEMA",
  ]) {
    delete env[name];
  }
  return env;
}

const failure = (block: CodeBlock, what: string, out: { code: number; stdout: string; stderr: string }) =>
  `${block.file}:${block.line}: ${what} exited ${out.code}\n--- stdout\n${out.stdout.slice(-3000)}\n--- stderr\n${out.stderr.slice(-3000)}`;

async function runTs(block: CodeBlock): Promise<void> {
  const database = await createTestDatabase();
  const cwd = await scratch();
  const file = join(programs, `${block.file.replace(/[^A-Za-z0-9]/g, "_")}_L${block.line}.ts`);
  try {
    await writeFile(file, `${block.code}\n`);
    const env = { ...baseEnv(), DATABASE_URL: database.url, HTDAG_DATABASE_URL: database.url };
    const out = await run(join(root, "node_modules", ".bin", "tsx"), [file], { cwd, env });
    expect(out.code, failure(block, "the program", out)).toBe(0);
    for (const text of tsExpectations(block.code)) {
      expect(out.stdout, `${block.file}:${block.line}: stdout should contain ${text}`).toContain(text);
    }
  } finally {
    await database.drop();
    await rm(cwd, { recursive: true, force: true });
  }
}

async function runShell(block: CodeBlock): Promise<void> {
  const cwd = await scratch();
  const database = block.flags.includes("embedded") ? undefined : await createTestDatabase();
  const env = { ...baseEnv(), ...(database ? { HTDAG_DATABASE_URL: database.url } : {}) };
  try {
    for (const { command, expect: text } of shellCommands(block.code)) {
      let line = command;
      if (line.includes("<runId>")) {
        const latest = await run("htdag", ["runs", "--json", "--limit", "1"], { cwd, env: { ...env } });
        const id = (JSON.parse(latest.stdout) as { id: string }[])[0]?.id;
        expect(id, `${block.file}:${block.line}: \`${line}\` needs a run before it`).toBeDefined();
        line = line.replaceAll("<runId>", id ?? "");
      }
      const out = await run("bash", ["-o", "pipefail", "-c", line], { cwd, env });
      expect(out.code, failure(block, `\`${line}\``, out)).toBe(0);
      if (text) {
        expect(out.stdout, `${block.file}:${block.line}: \`${line}\` should print ${text}`).toContain(text);
      }
    }
  } finally {
    await database?.drop();
    await rm(cwd, { recursive: true, force: true });
  }
}

describe("docs: every fenced block says what it is", () => {
  it("finds the examples", () => {
    expect(blocks.filter((b) => b.language === "ts").length).toBeGreaterThanOrEqual(8);
    expect(blocks.filter((b) => b.language === "sh").length).toBeGreaterThanOrEqual(3);
  });

  it.each(blocks.map((b) => [`${b.file}:${b.line}`, b] as const))(
    "%s has a known language, and a reason if it is not run",
    (_, block) => {
      expect(
        Object.keys(RUNNERS),
        `${block.file}:${block.line}: give the fence a language (${Object.keys(RUNNERS).join(", ")})`,
      ).toContain(block.language);
      expect(
        block.flags.filter((f) => f !== "embedded"),
        `${block.file}:${block.line}: unknown info-string words`,
      ).toEqual([]);
      if (block.noRun !== undefined) {
        expect(
          block.noRun.length,
          `${block.file}:${block.line}: say why it cannot run: no-run: <reason>`,
        ).toBeGreaterThan(10);
      }
    },
  );
});

describe("docs: TypeScript examples typecheck", () => {
  it("every runnable ts block compiles under the project's strict settings", async () => {
    const dir = join(programs, "typecheck");
    await mkdir(dir, { recursive: true });
    const ts = blocks.filter((b) => b.language === "ts" && b.noRun === undefined);
    // `export {}` makes each block a module of its own, as a file of the user's would be.
    for (const b of ts) {
      await writeFile(join(dir, `${b.file.replace(/[^A-Za-z0-9]/g, "_")}_L${b.line}.ts`), `${b.code}\nexport {};\n`);
    }
    await writeFile(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        extends: "../../tsconfig.json",
        compilerOptions: { noEmit: true, rootDir: "../.." },
        include: ["./*.ts"],
      }),
    );
    const out = await run(
      process.execPath,
      [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(dir, "tsconfig.json")],
      { cwd: root, env: process.env },
    );
    // tsc names files by their block: docs_composing_md_L25.ts is the block at docs/composing.md line 25.
    expect(out.stdout, out.stdout).toBe("");
    expect(out.code).toBe(0);
  }, 120_000);
});

describe("docs: examples run", () => {
  const runnable = blocks.filter(
    (b) => b.noRun === undefined && (RUNNERS[b.language as BlockLanguage] ?? "none") !== "none",
  );
  // Each example is its own process on its own database or folder: three run at once (vitest's
  // maxConcurrency), which the suite's time needs.
  it.concurrent.each(runnable.map((b) => [`${b.file}:${b.line} ${b.language}`, b] as const))(
    "%s",
    async (_, block) => {
      const runner = RUNNERS[block.language as BlockLanguage];
      if (runner === "tsx") {
        await runTs(block);
      } else if (runner === "shell") {
        await runShell(block);
      } else if (block.language === "json") {
        expect(() => JSON.parse(block.code)).not.toThrow();
      } else {
        expect(() => parseYaml(block.code)).not.toThrow();
      }
    },
    180_000,
  );
});
