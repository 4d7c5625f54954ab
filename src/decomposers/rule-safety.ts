/**
 * Rules against catastrophic backtracking (docs/decomposers.md, "Patterns that backtrack"). A
 * pattern such as `(a+)+$` takes time exponential in the goal's length on a goal that almost
 * matches: thirty characters already block the event loop for seconds. Two guards:
 *
 * 1. **Refused when loaded**: a repeated group that itself holds an unbounded repetition
 *    (`(a+)+`, `(\w*)*`, `(?:x|y+){2,}`), the shape behind most such patterns, is refused by
 *    `ruleDecomposer` and rules files with an error that names the pattern.
 * 2. **Bounded when matched**: the match of a goal against all rules runs under a time limit
 *    (`matchTimeoutMs`, node:vm's watchdog, which interrupts a running RegExp); past it, the
 *    match fails with `RuleMatchTimeoutError` naming the rule. This covers what the static check
 *    cannot see (overlapping alternatives such as `(a|a)*$`), and match functions too.
 */
import vm from "node:vm";
import { HtdagError } from "../errors.js";

/** Matching a goal against the rules took longer than `matchTimeoutMs`; the rule named was running. */
export class RuleMatchTimeoutError extends HtdagError {
  readonly rule: string;

  constructor(rule: string, pattern: string, goalLength: number, timeoutMs: number) {
    super(
      "RULE_MATCH_TIMEOUT",
      `rule ${JSON.stringify(rule)} took longer than ${timeoutMs} ms (matchTimeoutMs) to match a goal of ` +
        `${goalLength} characters: its pattern ${pattern} backtracks catastrophically, as (a+)+$ does. ` +
        `Rewrite the pattern so that no repeated part can match the same text in several ways, or raise matchTimeoutMs`,
    );
    this.rule = rule;
  }
}

/**
 * A runner of synchronous functions under a time limit. The function runs in this realm (its
 * results and errors are ordinary values); only the watchdog comes from node:vm.
 */
export function boundedRunner(timeoutMs: number): <T>(fn: () => T) => { value: T } | "timed out" {
  const context = vm.createContext({ run: null as unknown });
  const script = new vm.Script("run()");
  return <T>(fn: () => T) => {
    context.run = fn;
    try {
      return { value: script.runInContext(context, { timeout: timeoutMs }) as T };
    } catch (error) {
      if ((error as { code?: unknown })?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
        return "timed out";
      }
      throw error;
    } finally {
      context.run = null;
    }
  };
}

/** An open group, or the last atom a quantifier would apply to, and whether it holds an unbounded repetition. */
interface Atom {
  start: number;
  repeats: boolean;
}

/**
 * The first part of `source` that repeats without bound and holds a part that repeats without
 * bound (`(a+)+`), or null. Bounded repetitions (`?`, `{2}`, `{1,5}`) are allowed either way.
 */
export function nestedRepetition(source: string, flags = ""): string | null {
  const open: Atom[] = [];
  let last: Atom | null = null;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === "\\") {
      last = { start: i, repeats: false };
      i = escapeEnd(source, i);
    } else if (char === "[") {
      last = { start: i, repeats: false };
      i = classEnd(source, i, flags.includes("v"));
    } else if (char === "(") {
      open.push({ start: i, repeats: false });
      last = null;
      i = groupHeaderEnd(source, i);
    } else if (char === ")") {
      last = open.pop() ?? null;
      if (last?.repeats && open.length > 0) {
        (open[open.length - 1] as Atom).repeats = true;
      }
    } else if (char === "*" || char === "+" || (char === "{" && /^\{\d+,\}/.test(source.slice(i)))) {
      const end = char === "{" ? source.indexOf("}", i) : i;
      if (last?.repeats) {
        return source.slice(last.start, end + 1);
      }
      const top = open[open.length - 1];
      if (top) {
        top.repeats = true;
      }
      i = source[end + 1] === "?" ? end + 1 : end;
      last = null;
    } else if (char === "{" && /^\{\d+(,\d+)?\}/.test(source.slice(i))) {
      i = source.indexOf("}", i);
    } else if (char !== "?" && char !== "|" && char !== "^" && char !== "$") {
      last = { start: i, repeats: false };
    }
  }
  return null;
}

/** The index of the last character of the escape starting at `at` (`\d`, `\p{L}`, `\u{1F600}`, `\k<name>`). */
function escapeEnd(source: string, at: number): number {
  const next = source[at + 1];
  if ((next === "p" || next === "P" || next === "u") && source[at + 2] === "{") {
    return Math.max(source.indexOf("}", at), at + 1);
  }
  if (next === "k" && source[at + 2] === "<") {
    return Math.max(source.indexOf(">", at), at + 1);
  }
  return at + 1;
}

/** The index of the `]` closing the class opened at `at` (nested classes only with the v flag). */
function classEnd(source: string, at: number, nested: boolean): number {
  let depth = 0;
  for (let i = at; i < source.length; i++) {
    if (source[i] === "\\") {
      i++;
    } else if (source[i] === "[" && (nested || depth === 0)) {
      depth++;
    } else if (source[i] === "]" && --depth === 0) {
      return i;
    }
  }
  return source.length;
}

/** The index of the last character of a group's header: `(`, `(?:`, `(?=`, `(?<!`, `(?<name>`, `(?i:`. */
function groupHeaderEnd(source: string, at: number): number {
  if (source[at + 1] !== "?") {
    return at;
  }
  const header = /^\(\?(?:[:=!]|<[=!]|<[^>]*>|[a-zA-Z-]*:)/.exec(source.slice(at));
  return at + (header?.[0].length ?? 2) - 1;
}
