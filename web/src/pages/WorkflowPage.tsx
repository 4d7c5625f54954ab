/** A workflow: runs by status, run duration percentiles, per-task statistics, and the optimizer's advice with its evidence. */
import { useCallback, useEffect, useState } from "react";
import type {
  DurationPercentiles,
  OptimizationChange,
  Recommendations,
  TaskMetrics,
  WorkflowResponse,
} from "../../../src/dashboard/types.js";
import { api } from "../api";
import { ErrorNotice } from "../components/ErrorNotice";
import { StatusBadge } from "../components/StatusBadge";
import { formatDuration } from "../format";

function percent(value: number): string {
  return `${Math.round(value * 100)}%`;
}

function Change({ change }: { change: OptimizationChange }) {
  return (
    <tr>
      <td className="mono">{change.taskId ?? "(run)"}</td>
      <td>{change.field}</td>
      <td>
        {String(change.from ?? "–")} → {String(change.to ?? "–")}
      </td>
      <td>{change.reason}</td>
      <td>
        {change.evidence.statistic} = {Math.round(change.evidence.value * 1000) / 1000} over {change.evidence.samples}{" "}
        samples
      </td>
      <td>{percent(change.confidence)}</td>
    </tr>
  );
}

export function WorkflowPage({ name }: { name: string }) {
  const [data, setData] = useState<WorkflowResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = useCallback(() => {
    api.workflow(name).then((response) => {
      setData(response);
      setError(null);
    }, setError);
  }, [name]);
  useEffect(load, [load]);
  if (error !== null) {
    return <ErrorNotice error={error} />;
  }
  if (!data) {
    return <p>Loading workflow {name}…</p>;
  }
  return (
    <section className="workflow-page">
      <div className="toolbar">
        <h1>
          Workflow <span className="mono">{data.name}</span>
        </h1>
        <a href={`#/?workflow=${encodeURIComponent(data.name)}`}>its runs</a>
        <button type="button" onClick={load}>
          Refresh
        </button>
      </div>
      <p className="counts">
        {Object.entries(data.statusCounts).map(([status, count]) => (
          <span key={status}>
            <StatusBadge status={status} /> {count}{" "}
          </span>
        ))}
      </p>
      <h2>Run durations (completed runs)</h2>
      <DurationsTable durations={data.runDurations} />
      <h2>Tasks (successful attempts)</h2>
      <TaskMetricsTable tasks={data.tasks} />
      <h2>Optimizer recommendations</h2>
      {data.recommendationsError && <div className="notice error">{data.recommendationsError}</div>}
      {!data.recommendations && !data.recommendationsError && (
        <p className="empty">No recorded graph to advise on yet.</p>
      )}
      {data.recommendations && <RecommendationsView recommendations={data.recommendations} />}
    </section>
  );
}

function DurationsTable({ durations: d }: { durations: DurationPercentiles }) {
  return (
    <table className="durations" aria-label="run durations">
      <thead>
        <tr>
          <th>Samples</th>
          <th>p50</th>
          <th>p95</th>
          <th>p99</th>
          <th>Mean</th>
          <th>Max</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <td>{d.samples}</td>
          <td>{formatDuration(d.p50Ms)}</td>
          <td>{formatDuration(d.p95Ms)}</td>
          <td>{formatDuration(d.p99Ms)}</td>
          <td>{formatDuration(d.meanMs)}</td>
          <td>{formatDuration(d.maxMs)}</td>
        </tr>
      </tbody>
    </table>
  );
}

function TaskMetricsTable({ tasks }: { tasks: TaskMetrics[] }) {
  return (
    <table className="task-metrics">
      <thead>
        <tr>
          <th>Task</th>
          <th>Runs</th>
          <th>Attempts</th>
          <th>Failures</th>
          <th>Timeouts</th>
          <th>p50</th>
          <th>p95</th>
          <th>p99</th>
        </tr>
      </thead>
      <tbody>
        {tasks.map((t) => (
          <tr key={t.key} data-task-id={t.key}>
            <td className="mono">{t.key}</td>
            <td>{t.runs}</td>
            <td>{t.attempts}</td>
            <td>
              {t.failures}
              {t.transientFailures ? ` (${t.transientFailures} transient)` : ""}
            </td>
            <td>{t.timeouts}</td>
            <td>{formatDuration(t.p50Ms)}</td>
            <td>{formatDuration(t.p95Ms)}</td>
            <td>{formatDuration(t.p99Ms)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function RecommendationsView({ recommendations: rec }: { recommendations: Recommendations }) {
  const pairs = rec.parallelizablePairs;
  return (
    <div className="recommendations">
      {rec.changes.length === 0 ? (
        <p className="empty">No changes suggested: not enough evidence yet, or nothing to improve.</p>
      ) : (
        <table className="changes">
          <thead>
            <tr>
              <th>Task</th>
              <th>Setting</th>
              <th>Change</th>
              <th>Why</th>
              <th>Evidence</th>
              <th>Confidence</th>
            </tr>
          </thead>
          <tbody>
            {rec.changes.map((c, i) => (
              <Change key={`${c.taskId ?? ""}:${c.field}:${i}`} change={c} />
            ))}
          </tbody>
        </table>
      )}
      {rec.failedPatternWarnings.length > 0 && (
        <>
          <h3>Failures retries do not fix</h3>
          <ul>
            {rec.failedPatternWarnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </>
      )}
      <h3>Resources</h3>
      <p>
        maxParallel {rec.resourceAllocation.maxParallel}
        {Object.entries(rec.resourceAllocation.queues)
          .map(([queue, limit]) => `; queue ${queue}: ${limit}`)
          .join("")}
      </p>
      <h3>Tasks that may run at once</h3>
      <p>
        {pairs.length} pair(s){pairs.length > 0 ? ": " : ""}
        {pairs
          .slice(0, 12)
          .map(([a, b]) => `${a} ∥ ${b}`)
          .join(", ")}
        {pairs.length > 12 ? ", …" : ""}
      </p>
    </div>
  );
}
