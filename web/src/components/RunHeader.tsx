/** A run's header: status, goal, workflow, times, counts, usage and budget, and the cancel / pause / resume buttons. */
import type { RunDetail } from "../../../src/dashboard/types.js";
import type { RunAction } from "../api";
import { formatDuration, formatTime, isFinalRun, liveDuration } from "../format";
import { useNow } from "../hooks";
import { StatusBadge } from "./StatusBadge";
import { UsageSummary } from "./UsageSummary";

interface Props {
  run: RunDetail;
  busy: boolean;
  onAction(action: RunAction): void;
}

export function RunHeader({ run, busy, onAction }: Props) {
  const now = useNow(1000);
  const final = isFinalRun(run.status);
  const cancel = () => {
    if (window.confirm(`Cancel run ${run.id}? Running steps are aborted and nothing else starts.`)) {
      onAction("cancel");
    }
  };
  return (
    <div className="run-header">
      <div className="title">
        <h1>
          Run <span className="mono">{run.id}</span>
        </h1>
        <span className="run-status">
          <StatusBadge status={run.status} />
          {run.budgetExceeded && (
            <span className="badge budget-exceeded" data-budget-exceeded="true">
              budget exceeded
            </span>
          )}
        </span>
      </div>
      <p className="goal">{run.goal}</p>
      <dl className="facts inline">
        <dt>Workflow</dt>
        <dd>
          <a href={`#/workflows/${encodeURIComponent(run.workflow)}`}>{run.workflow}</a>
        </dd>
        <dt>Started</dt>
        <dd>{formatTime(run.startedAt ?? run.createdAt)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(liveDuration(run, now))}</dd>
        <dt>Tasks</dt>
        <dd>
          {run.finishedTasks}/{run.totalTasks} finished{run.failedTasks ? `, ${run.failedTasks} failed` : ""}
        </dd>
      </dl>
      <UsageSummary run={run} />
      {run.pauseReason && run.status === "paused" && <div className="notice">Paused: {run.pauseReason}</div>}
      {run.error?.message && (
        <div className={run.budgetExceeded ? "notice error budget-exceeded" : "notice error"}>
          {run.budgetExceeded ? "Budget exceeded: " : ""}
          {run.error.taskId ? `${run.error.taskId}: ` : ""}
          {run.error.message}
        </div>
      )}
      <div className="actions">
        {run.status === "running" && (
          <button type="button" disabled={busy} onClick={() => onAction("pause")}>
            Pause
          </button>
        )}
        {run.status === "paused" && (
          <button type="button" disabled={busy} onClick={() => onAction("resume")}>
            Resume
          </button>
        )}
        {!final && (
          <button type="button" className="danger" disabled={busy} onClick={cancel}>
            Cancel run
          </button>
        )}
        {final && (
          <button type="button" disabled={busy} onClick={() => onAction("retry")}>
            Retry failed tasks
          </button>
        )}
      </div>
    </div>
  );
}
