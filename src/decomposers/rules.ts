/**
 * The rule decomposer (docs/decomposers.md): ordered rules, each a pattern and the tasks it stands for.
 * The first rule whose pattern matches the goal answers; its captures fill `{{name}}` and `{{1}}`
 * placeholders in every string of its tasks. No rule matching means "no opinion" (`null`), which
 * lets a hybrid decomposer ask someone else. Deterministic, and far below a millisecond per goal.
 * A revision of a running plan (`ctx.revision`) is always "no opinion".
 */
import { InvalidOptionError } from "../errors.js";
import { RULE_DECOMPOSER_DEFAULTS } from "../defaults.js";
import { assertNoNestedRepetition, compilePattern, loadRulesFile, parseRulesText } from "./rules-file.js";
import { boundedRunner, RuleMatchTimeoutError } from "./rule-safety.js";
import { servicesOf } from "./services.js";
import type { Json, TaskGraphInput, TaskSpec } from "../graph/task-graph.js";
import type { DecomposerContext } from "../graph/decomposer.js";

/** What a match function returns: named or numbered captures, or nothing for "no match". */
export type Captures = Readonly<Record<string, string | undefined>> | readonly (string | undefined)[];

/** A rule's pattern: a RegExp, a pattern string (compiled case-insensitively), or a function. */
export type RuleMatcher = RegExp | string | ((goal: string) => Captures | null | undefined | false);

/** One rule. */
export interface Rule {
  /** Unique name; recorded with the decomposition when the rule answers. */
  name: string;
  /** Tested against the goal, in rule order; the first match answers. */
  match: RuleMatcher;
  /**
   * The tasks the goal stands for. Every string in them (ids, descriptions, steps, inputs) may hold
   * `{{name}}` (a named group), `{{1}}` (a numbered group) or `{{goal}}`; a group that did not
   * take part in the match becomes the empty string. Other `{{…}}` text, such as a run-time input
   * reference `{{ fetch.rows[0] }}`, is left as written.
   */
  tasks: readonly TaskSpec[];
}

/** What matched: the rule, its captures (`goal`, `0`, `1`, … and named groups) and its filled-in tasks. */
export interface RuleMatch {
  rule: string;
  captures: Record<string, string>;
  tasks: TaskSpec[];
}

/** A rule decomposer: usable wherever a decomposer is. */
export interface RuleDecomposer {
  readonly name: string;
  readonly rules: readonly Rule[];
  /** The first rule matching `goal`, with its tasks filled in; null when none matches. */
  match(goal: string): RuleMatch | null;
  decompose(goal: string, ctx?: DecomposerContext): TaskGraphInput | null;
}

/** Options of {@link ruleDecomposer}. */
export interface RuleDecomposerOptions {
  /** Name recorded on the graphs it makes. @default "rules" */
  name?: string;
  /**
   * Longest time matching one goal against every rule may take, in ms: past it, `match` and
   * `decompose` throw `RuleMatchTimeoutError` naming the rule (a pattern that backtracks
   * catastrophically; docs/decomposers.md). Also bounds match functions.
   * @default 1000
   */
  matchTimeoutMs?: number;
}

interface CompiledRule {
  rule: Rule;
  test: (goal: string) => Record<string, string> | null;
}

/**
 * A decomposer from ordered rules.
 *
 * @throws InvalidOptionError when a rule has no name, a duplicate name, no tasks, or a pattern that
 *   is not a RegExp, string or function
 * @example
 * const rules = ruleDecomposer([
 *   { name: "weather", match: /^weather in (?<city>.+)$/i,
 *     tasks: [{ id: "forecast", step: "get_weather", input: { location: "{{city}}" } }] },
 * ]);
 */
function createRuleDecomposer(rules: readonly Rule[], options: RuleDecomposerOptions = {}): RuleDecomposer {
  const compiled = compileRules(rules);
  const name = options.name ?? "rules";
  const timeoutMs = options.matchTimeoutMs ?? RULE_DECOMPOSER_DEFAULTS.matchTimeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new InvalidOptionError("matchTimeoutMs", "a positive integer (ms)", timeoutMs, "ruleDecomposer");
  }
  const bounded = boundedRunner(timeoutMs);
  let running: CompiledRule | undefined;
  const firstMatch = (goal: string) => {
    for (const entry of compiled) {
      running = entry;
      const captures = entry.test(goal);
      if (captures !== null) {
        return { rule: entry.rule, captures };
      }
    }
    return null;
  };
  const match = (goal: string): RuleMatch | null => {
    const outcome = bounded(() => firstMatch(goal));
    if (outcome === "timed out") {
      const rule = running?.rule;
      throw new RuleMatchTimeoutError(rule?.name ?? "?", String(rule?.match), goal.length, timeoutMs);
    }
    const found = outcome.value;
    if (found === null) {
      return null;
    }
    const { rule, captures } = found;
    captures.goal ??= goal;
    return { rule: rule.name, captures, tasks: rule.tasks.map((task) => fill(task, captures) as TaskSpec) };
  };
  return {
    name,
    rules,
    match,
    decompose(goal, ctx) {
      // Rules know first plans only: a revision gets no opinion, and the run fails as it would without one.
      if (ctx?.revision !== undefined) {
        return null;
      }
      const found = match(goal);
      if (found === null) {
        return null;
      }
      if (ctx !== undefined) {
        Object.assign(servicesOf(ctx).usage, { rule: found.rule, source: "rules" });
      }
      return { goal, tasks: found.tasks, source: "rules" };
    },
  };
}

/**
 * {@link createRuleDecomposer}, plus `fromFile(path)` (a YAML or JSON rules file, see
 * `examples/rules/`) and `fromText(text)`.
 */
export const ruleDecomposer = Object.assign(createRuleDecomposer, {
  /** Loads a rules file: `rules: [{ name, match, flags?, tasks }]`. */
  fromFile: async (path: string, options?: RuleDecomposerOptions): Promise<RuleDecomposer> =>
    createRuleDecomposer(await loadRulesFile(path), options),
  /** Parses the text of a rules file (YAML, which includes JSON). */
  fromText: (text: string, options?: RuleDecomposerOptions): RuleDecomposer =>
    createRuleDecomposer(parseRulesText(text), options),
});

function compileRules(rules: readonly Rule[]): CompiledRule[] {
  if (!Array.isArray(rules)) {
    throw new InvalidOptionError("rules", "an array of rules { name, match, tasks }", rules, "ruleDecomposer");
  }
  const seen = new Set<string>();
  return rules.map((rule, index) => {
    const where = `rules[${index}]`;
    if (typeof rule?.name !== "string" || rule.name === "") {
      throw new InvalidOptionError(`${where}.name`, "a non-empty string", rule?.name, "ruleDecomposer");
    }
    if (seen.has(rule.name)) {
      throw new InvalidOptionError(`${where}.name`, "a name no other rule has", rule.name, "ruleDecomposer");
    }
    seen.add(rule.name);
    if (!Array.isArray(rule.tasks) || rule.tasks.length === 0) {
      throw new InvalidOptionError(`${where}.tasks`, "a non-empty array of tasks", rule.tasks, "ruleDecomposer");
    }
    return { rule, test: matcherOf(rule.match, `${where}.match`) };
  });
}

function matcherOf(match: RuleMatcher, option: string): CompiledRule["test"] {
  if (typeof match === "function") {
    return (goal) => capturesOf(match(goal));
  }
  const pattern = typeof match === "string" ? compilePattern(match, "i", option) : match;
  if (!(pattern instanceof RegExp)) {
    throw new InvalidOptionError(option, "a RegExp, a pattern string or a function", match, "ruleDecomposer");
  }
  assertNoNestedRepetition(pattern, option);
  // A global or sticky RegExp keeps lastIndex between calls; a copy without those flags does not.
  const regexp = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
  return (goal) => capturesOf(regexp.exec(goal));
}

function capturesOf(result: Captures | RegExpExecArray | null | undefined | false): Record<string, string> | null {
  if (result === null || result === undefined || result === false) {
    return null;
  }
  const captures: Record<string, string> = {};
  if (Array.isArray(result)) {
    result.forEach((value, index) => (captures[String(index)] = value ?? ""));
  }
  const named = Array.isArray(result)
    ? (result as RegExpExecArray).groups
    : (result as Record<string, string | undefined>);
  for (const [key, value] of Object.entries(named ?? {})) {
    captures[key] = value ?? "";
  }
  return captures;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*|\d+)\s*\}\}/g;

/** A deep copy of `value` with every placeholder naming a capture replaced by it. */
function fill(value: unknown, captures: Readonly<Record<string, string>>): unknown {
  if (typeof value === "string") {
    return value.includes("{{") ? value.replace(PLACEHOLDER, (text, key: string) => captures[key] ?? text) : value;
  }
  if (Array.isArray(value)) {
    return value.map((item) => fill(item, captures));
  }
  if (value === null || typeof value !== "object") {
    return value as Json;
  }
  const copy: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    copy[key] = fill(member, captures);
  }
  return copy;
}
