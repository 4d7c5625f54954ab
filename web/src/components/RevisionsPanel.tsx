/**
 * The revisions of a run's plan (design.md §13), oldest first: which task asked and why, the tasks
 * each one added, removed (now superseded) and changed, and what its decomposition cost.
 */
import type { RevisionView } from "../../../src/dashboard/types.js";
import { formatTime } from "../format";

const CHANGES = [
  ["added", "added"],
  ["removed", "removed"],
  ["changed", "changed"],
] as const;

/** `2 LLM calls, 1200 in / 340 out tokens`, or nothing when the revision cost no LLM call. */
function costOf(cost: RevisionView["cost"]): string {
  if (!cost) {
    return "";
  }
  const parts = cost.llmCalls ? [`${cost.llmCalls} LLM call${cost.llmCalls === 1 ? "" : "s"}`] : [];
  if (cost.inputTokens || cost.outputTokens) {
    parts.push(`${cost.inputTokens ?? 0} in / ${cost.outputTokens ?? 0} out tokens`);
  }
  return parts.join(", ");
}

function TaskIds({ ids, onSelectTask }: { ids: string[]; onSelectTask(taskId: string): void }) {
  return (
    <>
      {ids.map((id, i) => (
        <span key={id}>
          {i > 0 && ", "}
          <button type="button" className="link" onClick={() => onSelectTask(id)}>
            {id}
          </button>
        </span>
      ))}
    </>
  );
}

export function RevisionsPanel({
  revisions,
  onSelectTask,
}: {
  revisions: RevisionView[];
  onSelectTask(taskId: string): void;
}) {
  if (revisions.length === 0) {
    return null;
  }
  return (
    <section className="revisions" aria-label="plan revisions">
      <h2>Plan revisions</h2>
      <ol>
        {revisions.map((r) => (
          <li key={r.revision} className="revision" data-revision={r.revision}>
            <div className="revision-title">
              <strong>Revision {r.revision}</strong>
              <span className="time">{formatTime(r.at)}</span>
              {costOf(r.cost) && <span className="cost">{costOf(r.cost)}</span>}
            </div>
            <div className="revision-reason">{r.reason}</div>
            <div className="revision-changes">
              {r.taskId && (
                <span className="change change-asked">
                  asked by <TaskIds ids={[r.taskId]} onSelectTask={onSelectTask} />
                </span>
              )}
              {CHANGES.filter(([key]) => r[key].length > 0).map(([key, label]) => (
                <span key={key} className={`change change-${key}`}>
                  {label} <TaskIds ids={r[key]} onSelectTask={onSelectTask} />
                </span>
              ))}
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}
