/** Merging chains of tiny tasks: which links qualify, the rewrite, its undoing and its validation. */
import { describe, expect, it } from "vitest";
import type { TaskSpec } from "../../src/graph/task-graph.js";
import { collectGraphIssues, validateGraph } from "../../src/graph/validate.js";
import { decideOptimization } from "../../src/optimizer/decide.js";
import { mergeChains, mergeRule, unmergeChains } from "../../src/optimizer/merge.js";
import { applyStoredTuning, revertChanges } from "../../src/optimizer/stored-tuning.js";
import { optimizeOptionsSchema, type EffectiveDefaults } from "../../src/optimizer/types.js";
import type { TaskMetrics } from "../../src/store/metrics.js";

const defaults: EffectiveDefaults = {
  timeoutMs: 30_000,
  maxAttempts: 3,
  maxParallel: 4,
  backoff: { kind: "exponential", baseMs: 1000, maxMs: 60_000, jitter: 0.2 },
};
const options = optimizeOptionsSchema.parse({ level: "advanced", preserveStructure: false });
const graphOf = (tasks: TaskSpec[]) => validateGraph({ goal: "merge", tasks });

/** 20 clean runs of a task whose step takes 1 ms inside 3 ms of claim and settle, unless overridden. */
function metrics(key: string, overrides: Partial<TaskMetrics> = {}): TaskMetrics {
  return {
    key,
    step: null,
    runs: 20,
    attempts: 20,
    successes: 20,
    failures: 0,
    timeouts: 0,
    transientFailures: 0,
    deterministicFailures: 0,
    timeoutsRecovered: 0,
    runsNeverSucceeded: 0,
    timeoutOnlyRuns: 0,
    runsWithTimeout: 0,
    firstAttempts: 20,
    firstAttemptFailures: 0,
    firstAttemptsRecovered: 0,
    retries: 0,
    retriesFailed: 0,
    p50Ms: 1,
    p95Ms: 1.5,
    p99Ms: 2,
    meanMs: 1,
    maxSuccessMs: 2,
    meanQueueWaitMs: 0.5,
    meanOverheadMs: 2.5,
    timeoutWaitMs: 0,
    ...overrides,
  };
}
const tinyAll = (id: string) => metrics(id);
const links = (changes: { taskId?: string; to: unknown }[]) => changes.map((c) => `${String(c.to)}→${c.taskId}`);

// start → a → b → c → end, and a side task reading start.
const chain = graphOf([
  { id: "start" },
  { id: "a", dependsOn: ["start"], input: { from: { $from: "start" } } },
  { id: "b", dependsOn: ["a"], input: { n: "{{ a.n }}" } },
  { id: "c", dependsOn: ["b"] },
  { id: "end", dependsOn: ["c"] },
  { id: "side", dependsOn: ["start"] },
]);

describe("mergeRule", () => {
  it("links every task of a chain whose time around the step exceeds the step's own", () => {
    const changes = mergeRule(chain.tasks, tinyAll, options);
    expect(links(changes)).toEqual(["a→b", "b→c", "c→end"]);
    expect(changes[0]).toMatchObject({
      field: "merge",
      from: null,
      evidence: { samples: 20, statistic: "overheadShare", value: 0.75 },
    });
    expect(changes[0]!.reason).toContain("6 ms waiting, claiming and settling against 2 ms of work");
  });

  it("leaves tasks whose step dominates, and tasks measured too few times", () => {
    const slowB = (id: string) => metrics(id, id === "b" ? { meanMs: 10 } : {});
    expect(links(mergeRule(chain.tasks, slowB, options))).toEqual(["c→end"]);
    const fewC = (id: string) => metrics(id, id === "c" ? { successes: 3 } : {});
    expect(links(mergeRule(chain.tasks, fewC, options))).toEqual(["a→b"]);
  });

  it("never merges a task another task reads, a fan-out, a condition or tasks with other parents", () => {
    const read = graphOf([
      { id: "a" },
      { id: "b", dependsOn: ["a"] },
      { id: "c", dependsOn: ["b"], input: { x: { $from: "a" } } },
    ]);
    expect(links(mergeRule(read.tasks, tinyAll, options))).toEqual(["b→c"]);
    const guarded = graphOf([{ id: "a" }, { id: "b", dependsOn: ["a"], when: { task: "a", op: "truthy" } }]);
    expect(mergeRule(guarded.tasks, tinyAll, options)).toEqual([]);
    const fan = graphOf([{ id: "a" }, { id: "b", dependsOn: ["a"] }, { id: "c", dependsOn: ["a"] }]);
    expect(mergeRule(fan.tasks, tinyAll, options)).toEqual([]);
    const nested = graphOf([{ id: "p" }, { id: "a", parentId: "p" }, { id: "b", dependsOn: ["a"] }]);
    expect(mergeRule(nested.tasks, tinyAll, options)).toEqual([]);
    expect(mergeRule(chain.tasks, tinyAll, options, new Set(["b"])).map((c) => c.taskId)).toEqual(["end"]);
  });

  it("starts a new chain at a task that has failed, unless every task before it is idempotent", () => {
    const flakyC = (id: string) => metrics(id, id === "c" ? { failures: 2, transientFailures: 2 } : {});
    expect(links(mergeRule(chain.tasks, flakyC, options))).toEqual(["a→b", "c→end"]);
    const idempotent = graphOf(chain.tasks.map((t) => (t.id === "a" || t.id === "b" ? { ...t, idempotent: true } : t)));
    expect(links(mergeRule(idempotent.tasks, flakyC, options))).toEqual(["a→b", "b→c", "c→end"]);
  });
});

describe("mergeChains and unmergeChains", () => {
  const changes = mergeRule(chain.tasks, tinyAll, options);
  const { graph: merged, skipped } = mergeChains(chain, changes);

  it("makes the chain its last task, holding the others in order with the first's dependencies", () => {
    expect(skipped).toEqual([]);
    expect(merged.tasks.map((t) => t.id)).toEqual(["start", "end", "side"]);
    const end = merged.tasks[1]!;
    expect(end.dependsOn).toEqual(["start"]);
    expect(end.merged?.map((m) => m.id)).toEqual(["a", "b", "c"]);
    expect(end.merged?.[1]).toEqual(chain.tasks[2]);
  });

  it("gives a graph that validates (references to merged tasks included) and undoes exactly", () => {
    expect(collectGraphIssues(merged, { stepNames: ["start", "a", "b", "c", "end", "side"] }).issues).toEqual([]);
    const back = unmergeChains(merged, changes);
    expect(new Map(back.tasks.map((t) => [t.id, t]))).toEqual(new Map(chain.tasks.map((t) => [t.id, t])));
    expect(
      revertChanges(merged, changes)
        .tasks.map((t) => t.id)
        .sort(),
    ).toEqual(chain.tasks.map((t) => t.id).sort());
  });

  it("skips links that no longer form a chain", () => {
    const forked = graphOf([...chain.tasks, { id: "extra", dependsOn: ["b"] }]);
    const result = mergeChains(forked, changes);
    expect(links(result.skipped)).toEqual(["b→c"]);
    expect(result.graph.tasks.find((t) => t.id === "b")?.merged?.map((m) => m.id)).toEqual(["a"]);
  });
});

describe("merges in decisions and stored tunings", () => {
  const history = { tasks: chain.tasks.map((t) => metrics(t.id)), runs: 20 };

  it("applies merges at or above the threshold only with preserveStructure: false", () => {
    const result = decideOptimization(chain, history, defaults, options);
    expect(result.changes.filter((c) => c.field === "merge")).toHaveLength(3);
    expect(result.graph.tasks.map((t) => t.id)).toEqual(["start", "end", "side"]);
    const kept = decideOptimization(chain, history, defaults, { ...options, preserveStructure: true });
    expect(kept.changes.some((c) => c.field === "merge")).toBe(false);
    const strict = decideOptimization(chain, history, defaults, { ...options, patternConfidenceThreshold: 0.99 });
    expect(strict.graph.tasks).toHaveLength(chain.tasks.length);
    expect(strict.recommendations.filter((c) => c.field === "merge")).toHaveLength(3);
  });

  it("re-applies stored merges where the chain is still there", () => {
    const stored = decideOptimization(chain, history, defaults, options).changes;
    const again = applyStoredTuning(chain, { level: "advanced", changes: stored }, defaults);
    expect(again.graph.tasks.map((t) => t.id)).toEqual(["start", "end", "side"]);
    const changed = graphOf([...chain.tasks, { id: "extra", dependsOn: ["b"] }]);
    const partly = applyStoredTuning(changed, { level: "advanced", changes: stored }, defaults);
    expect(partly.skipped).toContain("b → c: no longer a chain that can be merged; left as it is");
  });
});

describe("validation of merged tasks", () => {
  it("rejects a merged task with a condition, merged ids in use, chains out of order, fan-outs and unknown steps", () => {
    const { issues } = collectGraphIssues(
      {
        goal: "g",
        tasks: [
          { id: "a" },
          {
            id: "z",
            dependsOn: ["a"],
            when: { task: "a", op: "truthy" },
            merged: [
              { id: "a", dependsOn: ["q"] },
              { id: "m", step: "nope", dependsOn: ["a"], forEach: { from: "a" } },
            ],
          },
        ],
      },
      { stepNames: ["a", "z"] },
    );
    expect(issues.map((i) => `${i.code} ${i.path}`)).toEqual([
      "invalid_merge tasks[1].when",
      "duplicate_id tasks[1].merged[0].id",
      "invalid_merge tasks[1].merged[0].dependsOn",
      "invalid_merge tasks[1].merged[1].forEach",
      "unknown_step tasks[1].merged[1].step",
    ]);
  });

  it("lets each merged task read the ones before it, and not the ones after", () => {
    const ok = collectGraphIssues({
      goal: "g",
      tasks: [
        { id: "s" },
        {
          id: "z",
          dependsOn: ["s"],
          input: { v: "{{ m1.v }}" },
          merged: [
            { id: "m1", input: { s: { $from: "s" } } },
            { id: "m2", input: { a: { $from: "m1" }, b: { $from: "s" } } },
          ],
        },
      ],
    });
    expect(ok.issues).toEqual([]);
    const bad = collectGraphIssues({
      goal: "g",
      tasks: [{ id: "z", merged: [{ id: "m1", input: { a: { $from: "m2" } } }, { id: "m2" }] }],
    });
    expect(bad.issues.map((i) => i.path)).toEqual(["tasks[0].merged[0].input.a.$from"]);
  });
});
