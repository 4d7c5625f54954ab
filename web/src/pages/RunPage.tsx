/**
 * A run: its header and controls, a plan awaiting approval with its answers, the live task graph, the
 * selected task, and the events pane.
 */
import { useState } from "react";
import type { RunResponse } from "../../../src/dashboard/types.js";
import { api, type RunAction } from "../api";
import { ErrorNotice } from "../components/ErrorNotice";
import { EventsPane } from "../components/EventsPane";
import { PlanApproval } from "../components/PlanApproval";
import { RevisionsPanel } from "../components/RevisionsPanel";
import { RunHeader } from "../components/RunHeader";
import { TaskGraph } from "../components/TaskGraph";
import { TaskPanel } from "../components/TaskPanel";
import { isFinalRun } from "../format";
import { useLiveRun } from "../useLiveRun";

/** Above this many tasks the graph opens with its top-level composites collapsed. */
const COLLAPSE_ABOVE = 150;

/** The top-level composites of a large graph (nothing for a small one). */
function initiallyCollapsed({ tasks }: RunResponse): Set<string> {
  if (tasks.length <= COLLAPSE_ABOVE) {
    return new Set();
  }
  const ids = new Set(tasks.map((t) => t.id));
  const parents = new Set(tasks.flatMap((t) => (t.parentId ? [t.parentId] : [])));
  return new Set(tasks.filter((t) => parents.has(t.id) && !(t.parentId && ids.has(t.parentId))).map((t) => t.id));
}

export function RunPage({ runId }: { runId: string }) {
  const [selected, setSelected] = useState<string | null>(null);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const { detail, error, events, stream, taskVersion, load } = useLiveRun(runId, selected, (first) =>
    setCollapsed(initiallyCollapsed(first)),
  );

  const act = async (action: RunAction, body: Record<string, string> = {}) => {
    setBusy(true);
    setActionError(null);
    try {
      await api.action(runId, action, body);
    } catch (failure) {
      setActionError(failure);
    } finally {
      setBusy(false);
      load();
    }
  };
  const toggle = (id: string) =>
    setCollapsed((current) => {
      const next = new Set(current);
      if (!next.delete(id)) {
        next.add(id);
      }
      return next;
    });

  if (error !== null && !detail) {
    return <ErrorNotice error={error} />;
  }
  if (!detail) {
    return <p>Loading run {runId}…</p>;
  }
  return (
    <section className="run-page">
      <RunHeader run={detail.run} busy={busy} onAction={(action) => void act(action)} />
      {actionError !== null && <ErrorNotice error={actionError} />}
      {detail.run.status === "awaiting_approval" && detail.plan && (
        <PlanApproval key={runId} runId={runId} plan={detail.plan} onAnswered={load} />
      )}
      <div className="run-body">
        <div className="run-main">
          <div className="pane-head">
            <h2>Tasks</h2>
            <span className={`live live-${stream}`}>{stream === "live" ? "● live" : stream}</span>
          </div>
          <TaskGraph
            tasks={detail.tasks}
            collapsed={collapsed}
            selected={selected}
            onSelect={setSelected}
            onToggle={toggle}
          />
          {detail.tasks.some((t) => t.status === "superseded") && (
            <p className="legend" aria-label="legend">
              <span className="legend-superseded" /> superseded: dropped by a revision of the plan, kept for history
            </p>
          )}
          <RevisionsPanel revisions={detail.revisions} onSelectTask={setSelected} />
          <h2>Events</h2>
          <EventsPane events={events} onSelectTask={setSelected} />
        </div>
        {selected && (
          <TaskPanel
            runId={runId}
            taskId={selected}
            version={taskVersion}
            runFinal={isFinalRun(detail.run.status)}
            onRetry={(taskId) => void act("retry", { fromTask: taskId })}
            onClose={() => setSelected(null)}
          />
        )}
      </div>
    </section>
  );
}
