/**
 * Steps of the health report: scan a directory, count lines per language (a `forEach` over
 * languages), find TODO/FIXME markers, check licence and README, read manifests, flag large
 * files, and write the Markdown report.
 */
import { readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { defineStep } from "../../composer/steps.js";
import { HEALTH_DEFAULTS } from "../../defaults.js";
import { NonRetryableError } from "../../errors.js";
import { countLines, groupByLanguage, looksBinary, scanFiles } from "./files.js";
import { findMarkers, MANIFEST_FILES, parseManifest, type Manifest, type Marker } from "./manifests.js";
import { renderHealthReport, type HealthReportData } from "./report.js";

const fileSchema = z.object({ path: z.string(), size: z.number(), language: z.string().nullable() });

/** Largest file whose text the line counter and marker finder read, in bytes. */
const MAX_TEXT_BYTES = 2_000_000;

async function readText(root: string, path: string): Promise<string | null> {
  const bytes = await readFile(join(root, path));
  if (bytes.length > MAX_TEXT_BYTES || looksBinary(bytes)) {
    return null;
  }
  return bytes.toString("utf8");
}

export const scan = defineStep({
  description:
    "List the files of a directory (skipping .git, node_modules, dist and .gitignore'd names) with size and language, and group them by language. Output: { root, fileCount, totalBytes, files: [{path,size,language}], languages: [{language, files}] }",
  input: z.object({ dir: z.string().min(1).describe("the directory to scan, relative to the working directory") }),
  idempotent: true,
  run: async ({ input }) => {
    const root = resolve(input.dir.replace(/^["']|["']$/g, ""));
    const files = await scanFiles(root).catch((error: unknown) => {
      throw new NonRetryableError(`cannot scan ${root}: ${(error as Error).message}`, { cause: error });
    });
    return {
      root,
      fileCount: files.length,
      totalBytes: files.reduce((sum, f) => sum + f.size, 0),
      files,
      languages: groupByLanguage(files),
    };
  },
});

export const countLanguageLines = defineStep({
  description:
    "Count total and blank lines of one language's files; use with forEach over scan's `languages`. Output: { language, files, lines, blank }",
  input: z.object({ root: z.string(), item: z.object({ language: z.string(), files: z.array(z.string()) }) }),
  idempotent: true,
  run: async ({ input, signal }) => {
    let lines = 0;
    let blank = 0;
    for (const path of input.item.files) {
      signal.throwIfAborted();
      const text = await readText(input.root, path);
      if (text === null) {
        continue;
      }
      const counted = countLines(text);
      lines += counted.lines;
      blank += counted.blank;
    }
    return { language: input.item.language, files: input.item.files.length, lines, blank };
  },
});

export const findTodos = defineStep({
  description:
    "Find TODO and FIXME markers in the scanned text files. Output: { count, markers: [{path,line,kind,text}] } (at most 50 markers listed)",
  input: z.object({ root: z.string(), files: z.array(fileSchema) }),
  idempotent: true,
  run: async ({ input, progress }) => {
    const markers: Marker[] = [];
    for (const [index, file] of input.files.entries()) {
      const text = await readText(input.root, file.path);
      if (text !== null) {
        markers.push(...findMarkers(file.path, text));
      }
      if (index % 50 === 0) {
        progress(index, input.files.length);
      }
    }
    return { count: markers.length, markers: markers.slice(0, 50) };
  },
});

export const checkDocs = defineStep({
  description:
    "Check whether a directory has a licence file (and which licence) and a README. Output: { licence: {file, kind} | null, readme: {file, lines} | null }",
  input: z.object({ root: z.string() }),
  idempotent: true,
  run: async ({ input }) => {
    const names = await readdir(input.root);
    const licenceFile = names.find((n) => /^(licen[cs]e|copying)(\.|$)/i.test(n));
    const readmeFile = names.find((n) => /^readme(\.|$)/i.test(n));
    const licence = licenceFile
      ? { file: licenceFile, kind: licenceKind(await readFile(join(input.root, licenceFile), "utf8")) }
      : null;
    const readme = readmeFile
      ? { file: readmeFile, lines: countLines(await readFile(join(input.root, readmeFile), "utf8")).lines }
      : null;
    return { licence, readme };
  },
});

/** The licence a licence text is, from its first lines. */
export function licenceKind(text: string): string {
  const head = text.slice(0, 1000);
  if (/MIT License|Permission is hereby granted, free of charge/i.test(head)) {
    return "MIT";
  }
  if (/Apache License/i.test(head)) {
    return "Apache-2.0";
  }
  if (/GNU GENERAL PUBLIC LICENSE/i.test(head)) {
    return "GPL";
  }
  if (/BSD/i.test(head)) {
    return "BSD";
  }
  if (/Mozilla Public License/i.test(head)) {
    return "MPL-2.0";
  }
  return "unknown";
}

export const readDependencies = defineStep({
  description:
    "Read the dependency lists of package.json, requirements.txt, Cargo.toml, go.mod and pyproject.toml at a directory's top level. Output: { manifests: [{file, dependencies, devDependencies}] }",
  input: z.object({ root: z.string() }),
  idempotent: true,
  run: async ({ input }) => {
    const manifests: Manifest[] = [];
    for (const file of MANIFEST_FILES) {
      const text = await readFile(join(input.root, file), "utf8").catch(() => null);
      if (text !== null) {
        manifests.push(parseManifest(file, text));
      }
    }
    return { manifests };
  },
});

export const largeFiles = defineStep({
  description:
    "List the scanned files at or above a size threshold, biggest first. Output: { thresholdBytes, files: [{path,size}] }",
  input: z.object({
    files: z.array(fileSchema),
    thresholdBytes: z.number().int().min(1).default(HEALTH_DEFAULTS.largeFileBytes),
  }),
  idempotent: true,
  run: ({ input }) => ({
    thresholdBytes: input.thresholdBytes,
    files: input.files
      .filter((f) => f.size >= input.thresholdBytes)
      .sort((a, b) => b.size - a.size)
      .map(({ path, size }) => ({ path, size })),
  }),
});

export const writeReport = defineStep({
  description:
    "Write the health report as Markdown from the outputs of the other health steps. Output: { path, bytes }",
  input: z.object({
    root: z.string(),
    fileCount: z.number(),
    totalBytes: z.number(),
    out: z.string().optional(),
    lines: z.array(z.object({ language: z.string(), files: z.number(), lines: z.number(), blank: z.number() })),
    todos: z.object({
      count: z.number(),
      markers: z.array(
        z.object({ path: z.string(), line: z.number(), kind: z.enum(["TODO", "FIXME"]), text: z.string() }),
      ),
    }),
    docs: z.object({
      licence: z.object({ file: z.string(), kind: z.string() }).nullable(),
      readme: z.object({ file: z.string(), lines: z.number() }).nullable(),
    }),
    dependencies: z.object({
      manifests: z.array(
        z.object({ file: z.string(), dependencies: z.array(z.string()), devDependencies: z.array(z.string()) }),
      ),
    }),
    large: z.object({ thresholdBytes: z.number(), files: z.array(z.object({ path: z.string(), size: z.number() })) }),
  }),
  run: async ({ input }) => {
    const { out, ...data } = input;
    const path = resolve(out ?? defaultReportPath());
    const text = renderHealthReport({ ...data, generatedAt: new Date().toISOString() } satisfies HealthReportData);
    // Written aside then renamed: a run cancelled mid-write leaves no half-written report.
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, text);
    await rename(temporary, path);
    return { path, bytes: Buffer.byteLength(text) };
  },
});

/** `htdag-report-YYYY-MM-DD.md` in the working directory. */
export function defaultReportPath(now = new Date()): string {
  return resolve(`htdag-report-${now.toISOString().slice(0, 10)}.md`);
}
