/** The runs list: status, workflow, goal, started, duration, usage; filters; updated live from the event stream. */
import { useCallback, useEffect, useRef, useState } from "react";
import { RUN_STATUSES } from "../../../src/composer/state-machine.js";
import type { RunsResponse } from "../../../src/dashboard/types.js";
import { api } from "../api";
import { ErrorNotice } from "../components/ErrorNotice";
import { StatusBadge } from "../components/StatusBadge";
import { formatDuration, formatTime, formatUsage, liveDuration, shortId } from "../format";
import { useCoalesced, useEventStream, useNow } from "../hooks";

/** Events that change what the list shows: a run's status, or how many of its tasks finished (or are planned). */
const LIST_EVENTS = [
  "plan:awaiting_approval",
  "execution:started",
  "execution:completed",
  "execution:failed",
  "execution:cancelled",
  "execution:timed_out",
  "execution:paused",
  "execution:resumed",
  "task:completed",
  "task:failed",
  "task:skipped",
  "task:cancelled",
  "plan:revised",
  "budget:exceeded",
  "plan:approved",
  "plan:rejected",
];

export function RunsPage({ initialStatus, initialWorkflow }: { initialStatus: string; initialWorkflow: string }) {
  const [status, setStatus] = useState(initialStatus);
  const [workflow, setWorkflow] = useState(initialWorkflow);
  const [data, setData] = useState<RunsResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const now = useNow(1000);
  // Responses can come back out of order (a filter changed while a load was in flight): only the
  // latest request's answer is shown.
  const latest = useRef(0);
  const load = useCallback(() => {
    const request = ++latest.current;
    api.runs({ status, workflow }).then(
      (response) => {
        if (request !== latest.current) {
          return;
        }
        setData(response);
        setError(null);
      },
      (reason: unknown) => {
        if (request === latest.current) {
          setError(reason);
        }
      },
    );
  }, [status, workflow]);
  useEffect(load, [load]);
  const reload = useCoalesced(load, 300);
  const stream = useEventStream({ types: LIST_EVENTS }, reload, reload);

  return (
    <section className="runs-page">
      <div className="toolbar">
        <h1>Runs</h1>
        <label>
          Status{" "}
          <select aria-label="status filter" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Workflow{" "}
          <select aria-label="workflow filter" value={workflow} onChange={(e) => setWorkflow(e.target.value)}>
            <option value="">any</option>
            {(data?.workflows ?? []).map((w) => (
              <option key={w} value={w}>
                {w}
              </option>
            ))}
          </select>
        </label>
        <span className={`live live-${stream}`} title="live updates">
          {stream === "live" ? "● live" : stream}
        </span>
      </div>
      {error !== null && <ErrorNotice error={error} />}
      {data && data.runs.length === 0 && (
        <p className="empty">No runs{status || workflow ? " match these filters" : " yet"}.</p>
      )}
      {data && data.runs.length > 0 && (
        <table className="runs">
          <thead>
            <tr>
              <th>Run</th>
              <th>Status</th>
              <th>Workflow</th>
              <th>Goal</th>
              <th>Tasks</th>
              <th>Started</th>
              <th>Duration</th>
              <th>Usage</th>
            </tr>
          </thead>
          <tbody>
            {data.runs.map((run) => (
              <tr
                key={run.id}
                data-run-id={run.id}
                data-status={run.status}
                className="clickable"
                onClick={() => (window.location.hash = `#/runs/${encodeURIComponent(run.id)}`)}
              >
                <td>
                  <a href={`#/runs/${encodeURIComponent(run.id)}`} className="mono">
                    {shortId(run.id)}
                  </a>
                </td>
                <td>
                  <StatusBadge status={run.status} />
                  {run.budgetExceeded && (
                    <span className="badge budget-exceeded" title="the run stopped at its budget">
                      budget
                    </span>
                  )}
                </td>
                <td>
                  <a href={`#/workflows/${encodeURIComponent(run.workflow)}`} onClick={(e) => e.stopPropagation()}>
                    {run.workflow}
                  </a>
                </td>
                <td className="goal" title={run.goal}>
                  {run.goal}
                </td>
                <td>
                  {run.finishedTasks}/{run.totalTasks}
                  {run.failedTasks > 0 ? ` (${run.failedTasks} failed)` : ""}
                </td>
                <td>{formatTime(run.startedAt ?? run.createdAt)}</td>
                <td>{formatDuration(liveDuration(run, now))}</td>
                <td className="usage" title={`${run.usage.llmCalls} LLM calls`}>
                  {formatUsage(run.usage)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
