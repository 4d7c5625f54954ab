/**
 * Pure and near-pure helpers of the built-in catalogue: which files a scan visits (a rough reading
 * of `.gitignore`), and which language a file is written in.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";

/** Directories a scan never enters, whatever `.gitignore` says. */
export const ALWAYS_SKIPPED = [
  ".git",
  "node_modules",
  "dist",
  ".htdag",
  "coverage",
  "target",
  "__pycache__",
  ".venv",
] as const;

const LANGUAGE_BY_EXTENSION: Readonly<Record<string, string>> = {
  ts: "TypeScript",
  tsx: "TypeScript",
  mts: "TypeScript",
  cts: "TypeScript",
  js: "JavaScript",
  jsx: "JavaScript",
  mjs: "JavaScript",
  cjs: "JavaScript",
  py: "Python",
  rs: "Rust",
  go: "Go",
  java: "Java",
  kt: "Kotlin",
  rb: "Ruby",
  php: "PHP",
  c: "C",
  h: "C",
  cc: "C++",
  cpp: "C++",
  hpp: "C++",
  cs: "C#",
  swift: "Swift",
  scala: "Scala",
  sh: "Shell",
  bash: "Shell",
  zsh: "Shell",
  sql: "SQL",
  md: "Markdown",
  markdown: "Markdown",
  json: "JSON",
  yaml: "YAML",
  yml: "YAML",
  toml: "TOML",
  html: "HTML",
  css: "CSS",
  scss: "CSS",
  xml: "XML",
  csv: "CSV",
  txt: "Text",
  lua: "Lua",
  r: "R",
  ex: "Elixir",
  exs: "Elixir",
  vue: "Vue",
};

const LANGUAGE_BY_NAME: Readonly<Record<string, string>> = {
  Dockerfile: "Dockerfile",
  Makefile: "Makefile",
  LICENSE: "Text",
  LICENCE: "Text",
  "go.mod": "Go",
};

/**
 * The language of a file from its name, or null when htdag does not know it.
 * @example languageOf("src/main.ts") // "TypeScript"
 */
export function languageOf(path: string): string | null {
  const name = path.split(/[\\/]/).pop() ?? path;
  const byName = LANGUAGE_BY_NAME[name];
  if (byName) {
    return byName;
  }
  const dot = name.lastIndexOf(".");
  if (dot <= 0) {
    return null;
  }
  return LANGUAGE_BY_EXTENSION[name.slice(dot + 1).toLowerCase()] ?? null;
}

/** A rule read from `.gitignore`: a name to skip anywhere, or a `*.ext` suffix. */
export interface IgnoreRules {
  names: Set<string>;
  suffixes: string[];
}

/**
 * Reads `.gitignore` roughly: plain names (`build`, `/out/`, `secret.txt`) and `*.ext` patterns.
 * Negations and nested globs are ignored; the scan may then visit a little more than git would.
 */
export function parseGitignore(text: string): IgnoreRules {
  const rules: IgnoreRules = { names: new Set(ALWAYS_SKIPPED), suffixes: [] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^\/+|\/+$/g, "");
    if (line === "" || line.startsWith("#") || line.startsWith("!")) {
      continue;
    }
    if (/^\*\.[^*/?[\]]+$/.test(line)) {
      rules.suffixes.push(line.slice(1));
    } else if (!/[*?[\]/]/.test(line)) {
      rules.names.add(line);
    }
  }
  return rules;
}

/** True if a file or directory called `name` is skipped by `rules`. */
export function isIgnored(name: string, rules: IgnoreRules): boolean {
  return rules.names.has(name) || rules.suffixes.some((suffix) => name.endsWith(suffix));
}

/** A file a scan found. */
export interface ScannedFile {
  /** Path relative to the scanned root, with `/` separators. */
  path: string;
  /** Size in bytes. */
  size: number;
  /** From {@link languageOf}; null when unknown. */
  language: string | null;
}

/** Lists the files under `root` (sorted by path), skipping what `.gitignore` and {@link ALWAYS_SKIPPED} name. */
export async function scanFiles(root: string): Promise<ScannedFile[]> {
  const gitignore = await readFile(join(root, ".gitignore"), "utf8").catch(() => "");
  const rules = parseGitignore(gitignore);
  const files: ScannedFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (isIgnored(entry.name, rules)) {
        continue;
      }
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        await walk(full);
      } else if (entry.isFile()) {
        const path = relative(root, full).split(sep).join("/");
        files.push({ path, size: (await stat(full)).size, language: languageOf(path) });
      }
    }
  };
  await walk(root);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Line counts of one text. A final line without a newline counts; an empty text has 0 lines. */
export function countLines(text: string): { lines: number; blank: number } {
  if (text === "") {
    return { lines: 0, blank: 0 };
  }
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === "") {
    lines.pop();
  }
  return { lines: lines.length, blank: lines.filter((line) => line.trim() === "").length };
}

/** True if the bytes look binary (a NUL in the first 8 KiB). */
export function looksBinary(bytes: Uint8Array): boolean {
  return bytes.subarray(0, 8192).includes(0);
}

/** Groups files by language (unknown languages left out), biggest groups first. */
export function groupByLanguage(files: readonly ScannedFile[]): { language: string; files: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const file of files) {
    if (file.language === null) {
      continue;
    }
    const group = groups.get(file.language) ?? [];
    group.push(file.path);
    groups.set(file.language, group);
  }
  return [...groups]
    .map(([language, paths]) => ({ language, files: paths }))
    .sort((a, b) => b.files.length - a.files.length || a.language.localeCompare(b.language));
}
