/**
 * Merging on random graphs: whatever the shape, references and evidence, the merged graph validates,
 * keeps every task exactly once (as a task or merged into one), keeps every dependency (across
 * merged tasks, or in chain order inside one), and splits back into the graph as written.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Task, TaskSpec } from "../../src/graph/task-graph.js";
import { collectGraphIssues, validateGraph } from "../../src/graph/validate.js";
import { mergeChains, mergeRule, unmergeChains } from "../../src/optimizer/merge.js";
import { optimizeOptionsSchema } from "../../src/optimizer/types.js";
import type { TaskMetrics } from "../../src/store/metrics.js";

const options = optimizeOptionsSchema.parse({ level: "advanced", preserveStructure: false });

interface Drawn {
  tasks: TaskSpec[];
  tiny: boolean[];
  failed: boolean[];
}

/** Up to 24 tasks, each depending on up to 2 earlier ones (often just the one before), some reading an upstream output. */
const drawn: fc.Arbitrary<Drawn> = fc.integer({ min: 1, max: 24 }).chain((n) =>
  fc
    .record({
      deps: fc.array(fc.array(fc.nat(), { maxLength: 2 }), { minLength: n, maxLength: n }),
      reads: fc.array(fc.option(fc.nat(), { nil: undefined }), { minLength: n, maxLength: n }),
      tiny: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      failed: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      idempotent: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
      chainy: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
    })
    .map(({ deps, reads, tiny, failed, idempotent, chainy }) => ({
      tiny,
      failed,
      tasks: deps.map((picks, i): TaskSpec => {
        const dependsOn = i === 0 ? [] : chainy[i] ? [`t${i - 1}`] : [...new Set(picks.map((p) => `t${p % i}`))];
        const read = reads[i];
        const from = i > 1 && read !== undefined && dependsOn.length > 0 ? `t${read % i}` : undefined;
        return {
          id: `t${i}`,
          dependsOn,
          ...(idempotent[i] ? { idempotent: true } : {}),
          ...(from !== undefined && dependsOn.includes(from) ? { input: { v: { $from: from } } } : {}),
        };
      }),
    })),
);

function metricsOf({ tiny, failed }: Drawn) {
  return (id: string): TaskMetrics => {
    const i = Number(id.slice(1));
    return {
      key: id,
      step: null,
      runs: 20,
      attempts: 20,
      successes: 20,
      failures: failed[i] ? 2 : 0,
      timeouts: 0,
      transientFailures: failed[i] ? 2 : 0,
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
      p95Ms: 1,
      p99Ms: 1,
      meanMs: tiny[i] ? 1 : 50,
      maxSuccessMs: 1,
      meanQueueWaitMs: 1,
      meanOverheadMs: 2,
      timeoutWaitMs: 0,
    };
  };
}

describe("merging random graphs", () => {
  it("validates, keeps every task and dependency, and splits back exactly", () => {
    fc.assert(
      fc.property(drawn, (d) => {
        const graph = validateGraph({ goal: "random", tasks: d.tasks });
        const changes = mergeRule(graph.tasks, metricsOf(d), options);
        const { graph: merged, skipped } = mergeChains(graph, changes);
        expect(skipped).toEqual([]);
        expect(collectGraphIssues(merged).issues).toEqual([]);
        // Every task once: as a task, or merged into exactly one.
        const place = new Map<string, { task: string; index: number }>();
        for (const task of merged.tasks) {
          const chain = [...(task.merged ?? []), task];
          chain.forEach((member, index) => {
            expect(place.has(member.id)).toBe(false);
            place.set(member.id, { task: task.id, index });
          });
        }
        expect([...place.keys()].sort()).toEqual(graph.tasks.map((t) => t.id).sort());
        // Every dependency holds: inside one chain in order, or between the tasks that hold both ends.
        const waits = waitsFor(merged.tasks);
        for (const task of graph.tasks) {
          for (const dep of task.dependsOn) {
            const [to, from] = [place.get(task.id)!, place.get(dep)!];
            if (to.task === from.task) {
              expect(from.index).toBeLessThan(to.index);
            } else {
              expect(waits(to.task).has(from.task)).toBe(true);
            }
          }
        }
        const back = unmergeChains(merged, changes);
        expect(new Map(back.tasks.map((t) => [t.id, t]))).toEqual(new Map(graph.tasks.map((t) => [t.id, t])));
      }),
      { numRuns: 300 },
    );
  });
});

/** The tasks a task waits for, directly or not. */
function waitsFor(tasks: readonly Task[]): (id: string) => Set<string> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  return (id) => {
    const seen = new Set<string>();
    const stack = [...(byId.get(id)?.dependsOn ?? [])];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next)) {
        continue;
      }
      seen.add(next);
      stack.push(...(byId.get(next)?.dependsOn ?? []));
    }
    return seen;
  };
}
