/**
 * The selected task: settings, usage, attempts (with durations, usage and errors), progress, log lines,
 * retry from it, and for a wait task what it waits for and the form that sends its signal.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { AttemptView, LogView, TaskResponse } from "../../../src/dashboard/types.js";
import { api } from "../api";
import { compactJson, formatDuration, formatTime, formatUsage } from "../format";
import { ErrorNotice } from "./ErrorNotice";
import { SignalForm } from "./SignalForm";
import { StatusBadge } from "./StatusBadge";

/** Task statuses after which a signal no longer reaches the task. */
const FINAL_TASK_STATUSES = ["completed", "failed", "timed_out", "cancelled", "skipped", "superseded"];

interface Props {
  runId: string;
  taskId: string;
  /** Changes when an event of this task arrived: re-read it. */
  version: number;
  runFinal: boolean;
  onRetry(taskId: string): void;
  onClose(): void;
}

export function TaskPanel({ runId, taskId, version, runFinal, onRetry, onClose }: Props) {
  const [detail, setDetail] = useState<TaskResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  /** What became of the last signal sent from this panel, by task: it outlives the form of a task it completed. */
  const [signalled, setSignalled] = useState<{ taskId: string; result: string } | null>(null);
  // Only the latest request's answer is shown: reloads can come back out of order.
  const latest = useRef(0);
  const load = useCallback(() => {
    const request = ++latest.current;
    api.task(runId, taskId).then(
      (response) => {
        if (request !== latest.current) {
          return;
        }
        setDetail(response);
        setError(null);
      },
      (reason: unknown) => {
        if (request === latest.current) {
          setError(reason);
        }
      },
    );
  }, [runId, taskId]);
  useEffect(load, [load, version]);
  if (error !== null) {
    return (
      <aside className="task-panel">
        <ErrorNotice error={error} />
      </aside>
    );
  }
  if (!detail || detail.task.id !== taskId) {
    return (
      <aside className="task-panel">
        <p>Loading {taskId}…</p>
      </aside>
    );
  }
  const { task, attempts, logs, progress } = detail;
  const percent = progress?.total ? Math.min(100, Math.round((progress.done / progress.total) * 100)) : null;
  return (
    <aside className="task-panel" aria-label={`task ${task.id}`}>
      <div className="panel-head">
        <h2 className="mono">{task.id}</h2>
        <button type="button" className="link" onClick={onClose} aria-label="close task panel">
          ×
        </button>
      </div>
      <p>
        <StatusBadge status={task.status} />{" "}
        {task.kind === "composite" ? "composite" : task.wait ? "wait task" : `step ${task.step ?? task.id}`}
      </p>
      {task.description && <p className="description">{task.description}</p>}
      <dl className="facts">
        {task.waiting && (
          <>
            <dt>Waits for</dt>
            <dd data-waiting-for={task.waiting.signal ?? "time"}>
              {task.waiting.signal ? (
                <>
                  signal <span className="mono">{task.waiting.signal}</span>
                </>
              ) : (
                "its time"
              )}
              {task.waiting.until ? `, until ${formatTime(task.waiting.until)}` : ", with no time limit"}
            </dd>
            <dt>Waiting since</dt>
            <dd>{formatTime(task.waiting.since)}</dd>
          </>
        )}
        {task.merged.length > 0 && (
          <>
            <dt>Runs first (merged)</dt>
            <dd className="mono">{task.merged.join(" → ")}</dd>
          </>
        )}
        <dt>Attempts</dt>
        <dd>
          {task.attempts} of {task.maxAttempts}
        </dd>
        <dt>Time in attempts</dt>
        <dd>{formatDuration(task.durationMs)}</dd>
        {task.usage && (
          <>
            <dt>LLM usage</dt>
            <dd className="usage">
              {formatUsage(task.usage)} ({task.usage.llmCalls} {task.usage.llmCalls === 1 ? "call" : "calls"})
            </dd>
          </>
        )}
        <dt>Timeout</dt>
        <dd>{formatDuration(task.timeoutMs)}</dd>
        <dt>Queue</dt>
        <dd>
          {task.queue} (priority {task.priority})
        </dd>
        <dt>Started</dt>
        <dd>{formatTime(task.startedAt)}</dd>
        <dt>Finished</dt>
        <dd>{formatTime(task.finishedAt)}</dd>
      </dl>
      {task.error?.message && (
        <div className="notice error task-error">
          {["failed", "timed_out", "cancelled"].includes(task.status) ? "" : "Last attempt: "}
          {task.error.name ? `${task.error.name}: ` : ""}
          {task.error.message}
        </div>
      )}
      {progress && (
        <div className="progress" aria-label="progress">
          <span>
            Progress {progress.done}
            {progress.total !== undefined ? ` / ${progress.total}` : ""} (attempt {progress.attempt})
          </span>
          {percent !== null && <progress max={100} value={percent} />}
        </div>
      )}
      {task.wait?.signal !== undefined && !FINAL_TASK_STATUSES.includes(task.status) && (
        <SignalForm
          key={`${runId}/${task.id}`}
          runId={runId}
          signal={task.wait.signal}
          waitingNow={task.status === "waiting"}
          onSent={(result) => {
            setSignalled({ taskId: task.id, result });
            load();
          }}
        />
      )}
      {signalled?.taskId === task.id && (
        <div className="notice signal-result" role="status">
          {signalled.result}
        </div>
      )}
      <button
        type="button"
        disabled={!runFinal}
        onClick={() => onRetry(task.id)}
        title={runFinal ? "re-run this task and everything downstream" : "a run can be retried once it is final"}
      >
        Retry from this task
      </button>
      <h3>Attempts</h3>
      <AttemptsTable attempts={attempts} />
      <h3>Logs</h3>
      <LogList logs={logs} />
    </aside>
  );
}

function AttemptsTable({ attempts }: { attempts: AttemptView[] }) {
  if (attempts.length === 0) {
    return <p className="empty">No attempt yet.</p>;
  }
  // The usage column only for tasks that called an LLM: the panel is narrow.
  const spent = attempts.some((a) => a.usage !== null);
  return (
    <table className="attempts">
      <thead>
        <tr>
          <th>#</th>
          <th>Status</th>
          <th>Started</th>
          <th>Duration</th>
          <th>Queue wait</th>
          {spent && <th>Usage</th>}
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => (
          <tr key={a.attempt} data-attempt={a.attempt} data-status={a.status}>
            <td>{a.attempt}</td>
            <td>
              <StatusBadge status={a.status} />
            </td>
            <td>{formatTime(a.startedAt)}</td>
            <td>{formatDuration(a.durationMs)}</td>
            <td>{formatDuration(a.queueWaitMs)}</td>
            {spent && <td className="usage">{formatUsage(a.usage)}</td>}
            <td className="error-text">{a.error?.message ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function LogList({ logs }: { logs: LogView[] }) {
  if (logs.length === 0) {
    return <p className="empty">No log lines.</p>;
  }
  return (
    <ol className="logs">
      {logs.map((line) => (
        <li key={line.id}>
          <span className="time">{formatTime(line.createdAt)}</span> <span className="attempt">#{line.attempt}</span>{" "}
          <span className="message">{line.message}</span>
          {line.data !== null && <span className="data"> {compactJson(line.data, 300)}</span>}
        </li>
      ))}
    </ol>
  );
}
