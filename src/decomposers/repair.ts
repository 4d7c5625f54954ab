/**
 * Local repair of a planned level before validation (docs/decomposers.md): fixes that need no model
 * and cannot change what the plan means. Each fix is recorded as a repair action.
 *
 * - exact duplicate tasks are dropped (the same task twice);
 * - self-dependencies and repeated dependencies are dropped;
 * - a dependency or step name that names nothing is mapped to a near-miss when exactly one
 *   candidate is close (same letters ignoring case and separators, or a small edit distance);
 * - an atomic task without a step takes the step its id names;
 * - a "composite" that names a catalogue step is atomic.
 *
 * Cycles, ambiguous names and unknown steps with no close match are left for validation to
 * report (and for a re-ask to fix): guessing which edge of a cycle to cut would change the plan.
 */
import type { PlannedTask } from "./llm/parse.js";
import { stableStringify } from "./normalize.js";

/** What repair may map names to. */
export interface RepairScope {
  /** The catalogue's step names; empty when any step name is allowed. */
  stepNames: readonly string[];
  /** Ids outside the level that tasks may depend on (the expanded composite's dependencies). */
  outsideIds?: readonly string[];
  /** A fallback step runs free-form tasks: an atomic task's null step is kept, not guessed from its id. */
  freeForm?: boolean;
}

/** Repairs `tasks` (a copy is returned), calling `record` once per repair. */
export function repairPlan(
  tasks: readonly PlannedTask[],
  scope: RepairScope,
  record: (action: string) => void,
): PlannedTask[] {
  const unique = dropExactDuplicates(tasks, record);
  const ids = unique.map((task) => task.id);
  const dependable = [...new Set([...ids, ...(scope.outsideIds ?? [])])];
  const steps = new Set(scope.stepNames);
  return unique.map((task, index) => {
    const path = `tasks[${index}]`;
    const repaired = { ...task, step: repairStep(task, path, scope, record) };
    if (repaired.kind === "composite" && repaired.step !== null && steps.has(repaired.step)) {
      record(
        `${path}.kind: task ${JSON.stringify(task.id)} names step ${JSON.stringify(repaired.step)}, so it is atomic`,
      );
      repaired.kind = "atomic";
    }
    repaired.dependsOn = repairDependencies(task, path, dependable, record);
    return repaired;
  });
}

function dropExactDuplicates(tasks: readonly PlannedTask[], record: (action: string) => void): PlannedTask[] {
  const seen = new Set<string>();
  return tasks.filter((task, index) => {
    const key = stableStringify(task);
    if (!seen.has(key)) {
      return seen.add(key);
    }
    record(`tasks[${index}]: dropped an exact duplicate of task ${JSON.stringify(task.id)}`);
    return false;
  });
}

function repairStep(
  task: PlannedTask,
  path: string,
  { stepNames, freeForm }: RepairScope,
  record: (action: string) => void,
): string | null {
  if (stepNames.length === 0) {
    return task.step;
  }
  if (task.step === null) {
    if (task.kind === "composite" || freeForm === true) {
      return null;
    }
    const named = stepNames.includes(task.id) ? task.id : nearMatch(task.id, stepNames);
    if (named !== undefined) {
      record(`${path}.step: missing, set to ${JSON.stringify(named)}, which the id names`);
    }
    return named ?? null;
  }
  if (stepNames.includes(task.step)) {
    return task.step;
  }
  const mapped = nearMatch(task.step, stepNames);
  if (mapped === undefined) {
    return task.step;
  }
  record(`${path}.step: mapped unknown step ${JSON.stringify(task.step)} to ${JSON.stringify(mapped)}`);
  return mapped;
}

function repairDependencies(
  task: PlannedTask,
  path: string,
  ids: readonly string[],
  record: (action: string) => void,
): string[] {
  const result: string[] = [];
  task.dependsOn.forEach((dependency, index) => {
    const at = `${path}.dependsOn[${index}]`;
    const known = ids.includes(dependency)
      ? dependency
      : nearMatch(
          dependency,
          ids.filter((id) => id !== task.id),
        );
    if (known !== undefined && known !== dependency) {
      record(`${at}: mapped unknown id ${JSON.stringify(dependency)} to ${JSON.stringify(known)}`);
    }
    const target = known ?? dependency;
    if (target === task.id) {
      record(`${at}: dropped the self-dependency of ${JSON.stringify(task.id)}`);
    } else if (result.includes(target)) {
      record(`${at}: dropped a repeated dependency on ${JSON.stringify(target)}`);
    } else {
      result.push(target);
    }
  });
  return result;
}

/** Lower case, letters and digits only: `Get-Weather` and `get_weather` agree. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * The one candidate `word` plausibly means: the only one equal ignoring case and separators, else
 * the only one within the edit distance allowed for the word's length (a quarter of it, at least 1;
 * none for words under 3 characters). A third proved too lax on TaskBench's invented tool names
 * ("find_item_online" became "sell_item_online"). Undefined when there is none, or more than one.
 */
export function nearMatch(word: string, candidates: readonly string[]): string | undefined {
  const key = canonical(word);
  const same = candidates.filter((candidate) => canonical(candidate) === key);
  if (same.length > 0) {
    return same.length === 1 ? same[0] : undefined;
  }
  if (key.length < 3) {
    return undefined;
  }
  const allowed = Math.max(1, Math.floor(key.length / 4));
  let best: string[] = [];
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    // The limit is fixed, so a capped distance never poses as a tie with a real one.
    const distance = editDistance(key, canonical(candidate), allowed + 1);
    if (distance < bestDistance) {
      [best, bestDistance] = [[candidate], distance];
    } else if (distance === bestDistance && distance <= allowed) {
      best.push(candidate);
    }
  }
  return best.length === 1 ? best[0] : undefined;
}

/** Levenshtein distance, or `limit` as soon as it cannot be below `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) >= limit) {
    return limit;
  }
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, (previous[j] as number) + 1, (current[j - 1] as number) + 1));
    }
    if (Math.min(...current) >= limit) {
      return limit;
    }
    previous = current;
  }
  return Math.min(previous[b.length] as number, limit);
}
