/**
 * The fenced code blocks of the docs, and what the docs test does with each. The info string says it:
 *
 * - ```ts   a program, run with tsx against a fresh test database (DATABASE_URL, HTDAG_DATABASE_URL);
 *           `import … from "htdag"` is the built package. `// → text` after a line: stdout contains text.
 * - ```sh   each line runs in a scratch folder against a fresh test database (```sh embedded: on the
 *           embedded PGlite store in ./.htdag, as on a fresh machine), `htdag` being the built CLI;
 *           `<runId>` stands for the latest run's id. `# → text` after a line: its stdout contains text.
 * - ```json / ```yaml   data: must parse.
 * - ```text   not code (a synopsis, an output): left alone; ```mermaid, a diagram, too.
 * - `no-run: <reason>` after the language (```ts no-run: needs a second machine) skips a block that
 *   cannot run in isolation; the reason is required.
 */
import { readFileSync } from "node:fs";

/** What the test does with a block, by its language. */
export const RUNNERS = {
  ts: "tsx",
  sh: "shell",
  bash: "shell",
  json: "parse",
  yaml: "parse",
  text: "none",
  mermaid: "none",
} as const;
export type BlockLanguage = keyof typeof RUNNERS;

/** One fenced block of a Markdown file. */
export interface CodeBlock {
  file: string;
  /** Line of the opening fence, from 1. */
  line: number;
  /** The info string's first word ("" when there is none). */
  language: string;
  /** Why the block is not run, when its info string says `no-run: …` ("" when it says no reason). */
  noRun?: string;
  /** Words of the info string after the language, before any `no-run` (e.g. `embedded`). */
  flags: string[];
  code: string;
}

const FENCE = /^(`{3,}|~{3,})\s*(.*)$/;

/** The fenced blocks of Markdown `text` (fences of three or more backticks or tildes, not indented). */
export function extractBlocks(file: string, text: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] ?? "");
    if (!open) {
      continue;
    }
    const [, fence = "```", info = ""] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !(lines[j] ?? "").startsWith(fence)) {
      body.push(lines[j++] ?? "");
    }
    const [language = "", ...rest] = info.trim().split(/\s+/);
    const at = rest.findIndex((word) => word.startsWith("no-run"));
    const flags = at === -1 ? rest : rest.slice(0, at);
    const noRun =
      at === -1
        ? undefined
        : rest
            .slice(at)
            .join(" ")
            .replace(/^no-run:?\s*/, "");
    blocks.push({
      file,
      line: i + 1,
      language,
      flags,
      ...(noRun !== undefined ? { noRun } : {}),
      code: body.join("\n"),
    });
    i = j;
  }
  return blocks;
}

/** The blocks of each file, read from disk. */
export function blocksOf(files: readonly string[], root: string): CodeBlock[] {
  return files.flatMap((file) => extractBlocks(file, readFileSync(`${root}/${file}`, "utf8")));
}

/** Shell commands of an `sh` block: comments and blank lines dropped, `\` continuations joined, `npx htdag` → `htdag`. */
export function shellCommands(code: string): { command: string; expect?: string }[] {
  const joined = code.replace(/\s*\\\n\s*/g, " ");
  return joined.split("\n").flatMap((line) => {
    if (/^\s*(#|$)/.test(line)) {
      return [];
    }
    const expect = /#\s*→\s*(.+)$/.exec(line)?.[1]?.trim();
    const command = line.replace(/\bnpx (htdag|tsx)\b/g, "$1");
    return [{ command, ...(expect ? { expect } : {}) }];
  });
}

/** `// → text` expectations of a `ts` block: each text must appear in the program's stdout. */
export function tsExpectations(code: string): string[] {
  return [...code.matchAll(/\/\/\s*→\s*(.+)$/gm)].map((m) => (m[1] ?? "").trim());
}
