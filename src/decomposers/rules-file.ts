/**
 * Rules files: the rule decomposer's rules as YAML (or JSON), so that people who are not writing
 * TypeScript can teach htdag their goals. See `examples/rules/` for complete files.
 *
 * ```yaml
 * rules:
 *   - name: weather                     # unique
 *     match: "^(?:what's|get) the weather in (?<city>.+?)(?: on (?<date>.+))?$"
 *     flags: i                          # RegExp flags; default "i"
 *     tasks:
 *       - id: forecast
 *         step: get_weather
 *         input: { location: "{{city}}", date: "{{date}}" }
 * ```
 *
 * `match` may also be a list of patterns; the first that matches supplies the captures.
 */
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import { z } from "zod";
import { RULES_FILE_DEFAULTS } from "../defaults.js";
import { HtdagError, InvalidOptionError } from "../errors.js";
import { issueProblem } from "../option-messages.js";
import { yamlToJs } from "../graph/file.js";
import { nestedRepetition } from "./rule-safety.js";
import type { Captures, Rule } from "./rules.js";
import type { TaskSpec } from "../graph/task-graph.js";

/** A rules file could not be read or holds invalid rules; `problems` lists every one. */
export class RulesFileError extends HtdagError {
  readonly problems: string[];

  constructor(source: string, problems: string[], options?: { cause?: unknown }) {
    super(
      "RULES_FILE_INVALID",
      `rules file ${source} is invalid:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` +
        `a rules file holds \`rules:\`, a list of { name, match, flags?, tasks }; see examples/rules/`,
      options,
    );
    this.problems = problems;
  }
}

const ruleEntrySchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  match: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** @default "i" */
  flags: z
    .string()
    .regex(/^[dimsuv]*$/, "RegExp flags among d, i, m, s, u, v")
    .default(RULES_FILE_DEFAULTS.flags),
  tasks: z.array(z.record(z.string(), z.unknown())).min(1),
});

/** A file holds `rules: [...]`, or the list itself. */
const rulesFileSchema = z.preprocess(
  (value) => (Array.isArray(value) ? { rules: value } : value),
  z.strictObject({ rules: z.array(ruleEntrySchema) }),
);

/** Reads and parses a rules file. */
export async function loadRulesFile(path: string): Promise<Rule[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new RulesFileError(path, [`cannot read it: ${(error as Error).message}`], { cause: error });
  }
  return parseRulesText(text, path);
}

/**
 * Parses the text of a rules file into rules.
 *
 * @throws RulesFileError listing every problem, with the path of each (`rules[2].match`)
 */
export function parseRulesText(text: string, source = "(text)"): Rule[] {
  const document = parseDocument(text, { prettyErrors: false });
  const syntax = document.errors[0];
  if (syntax !== undefined) {
    const before = text.slice(0, syntax.pos[0]);
    const at = syntax.linePos?.[0] ?? {
      line: before.split("\n").length,
      col: syntax.pos[0] - before.lastIndexOf("\n"),
    };
    throw new RulesFileError(source, [`invalid YAML at line ${at.line}, column ${at.col}: ${syntax.message}`]);
  }
  let content: unknown;
  try {
    content = yamlToJs(document);
  } catch (error) {
    throw new RulesFileError(source, [(error as Error).message], { cause: error });
  }
  const parsed = rulesFileSchema.safeParse(content);
  if (!parsed.success) {
    // Issue paths start at `rules`, also for a file that holds the bare list.
    const root = Array.isArray(content) ? { rules: content } : content;
    throw new RulesFileError(
      source,
      parsed.error.issues.map(
        (issue) => `${issue.path.map(String).join(".") || "(file)"}: ${issueProblem(issue, root, rulesFileSchema)}`,
      ),
    );
  }
  const entries = parsed.data.rules;
  const problems: string[] = [];
  const rules = entries.flatMap((entry, index): Rule[] => {
    try {
      const patterns = (Array.isArray(entry.match) ? entry.match : [entry.match]).map((source, at) =>
        compilePattern(source, entry.flags, `rules[${index}].match${Array.isArray(entry.match) ? `[${at}]` : ""}`),
      );
      return [{ name: entry.name, match: firstMatch(patterns), tasks: entry.tasks as TaskSpec[] }];
    } catch (error) {
      problems.push((error as Error).message);
      return [];
    }
  });
  if (problems.length > 0) {
    throw new RulesFileError(source, problems);
  }
  return rules;
}

/** Compiles a pattern string, naming the option when it is not a valid regular expression. */
export function compilePattern(source: string, flags: string, option: string): RegExp {
  let pattern: RegExp;
  try {
    pattern = new RegExp(source, flags);
  } catch (error) {
    throw new InvalidOptionError(
      option,
      `a valid regular expression (${(error as Error).message})`,
      source,
      "ruleDecomposer",
    );
  }
  assertNoNestedRepetition(pattern, option);
  return pattern;
}

/**
 * Throws when `pattern` repeats a part that itself repeats without bound (`(a+)+`): matching it
 * can take time exponential in the goal's length (rule-safety.ts).
 */
export function assertNoNestedRepetition(pattern: RegExp, option: string): void {
  const nested = nestedRepetition(pattern.source, pattern.flags);
  if (nested !== null) {
    throw new InvalidOptionError(
      option,
      `a pattern without a repeated part that itself repeats without bound (${nested} can take time ` +
        "exponential in the goal's length); write (a+)+ as a+, or bound the inner repetition, e.g. {1,50}",
      pattern.source,
      "ruleDecomposer",
    );
  }
}

/**
 * A matcher trying each pattern in turn. A named group of any of the rule's patterns that the
 * matching pattern lacks is captured as empty, like a group that did not take part.
 */
function firstMatch(patterns: readonly RegExp[]): (goal: string) => Captures | null {
  const groupNames = [
    ...new Set(patterns.flatMap((p) => [...p.source.matchAll(/\(\?<([A-Za-z_$][\w$]*)>/g)].map((m) => m[1] as string))),
  ];
  return (goal) => {
    for (const pattern of patterns) {
      const found = pattern.exec(goal);
      if (found === null) {
        continue;
      }
      const captures: Record<string, string | undefined> = Object.fromEntries(
        groupNames.map((name) => [name, undefined]),
      );
      Object.assign(captures, found.groups);
      found.forEach((value, index) => (captures[String(index)] = value));
      return captures;
    }
    return null;
  };
}
