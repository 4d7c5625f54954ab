/**
 * A plan awaiting approval (docs/waits-and-flow-control.md): its tasks, and Approve (as recorded), Edit (a
 * JSON editor of the graph, approved with the edits; a validation error shows in place) and Reject (with
 * a reason). Nothing of the run starts before a person answers.
 */
import { useState } from "react";
import type { PlanView } from "../../../src/dashboard/types.js";
import { api, ApiError } from "../api";
import { ErrorNotice } from "./ErrorNotice";

interface Props {
  runId: string;
  plan: PlanView;
  /** Called once the run was answered (approved or rejected). */
  onAnswered(): void;
}

type Mode = "view" | "edit" | "reject";

/** The editor's text as a graph: the parsed object, or why it is not one. */
export function parseGraph(text: string): { graph: Record<string, unknown> } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `the graph is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { error: 'the graph must be a JSON object: {"goal": "…", "tasks": […]}' };
  }
  return { graph: value as Record<string, unknown> };
}

/** A task of the plan in one line: id, step, what it waits for or depends on. */
function describePlanTask(task: Record<string, unknown>): string {
  const parts = [String(task.id)];
  if (typeof task.step === "string") {
    parts.push(`[${task.step}]`);
  }
  if (task.wait && typeof task.wait === "object") {
    parts.push(`wait ${JSON.stringify(task.wait)}`);
  }
  if (Array.isArray(task.dependsOn) && task.dependsOn.length > 0) {
    parts.push(`after ${task.dependsOn.join(", ")}`);
  }
  if (typeof task.description === "string" && task.description) {
    parts.push(`– ${task.description}`);
  }
  return parts.join("  ");
}

export function PlanApproval({ runId, plan, onAnswered }: Props) {
  const [mode, setMode] = useState<Mode>("view");
  const [text, setText] = useState("");
  const [reason, setReason] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [issues, setIssues] = useState<{ path: string; message: string }[]>([]);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const send = async (action: "approve" | "reject", body: Record<string, unknown>) => {
    setBusy(true);
    setFailure(null);
    setInvalid(null);
    setIssues([]);
    try {
      await api.action(runId, action, body);
      onAnswered();
    } catch (error) {
      // An edited graph the validator refused: its problems show under the editor, one per line.
      if (error instanceof ApiError && error.code === "GRAPH_INVALID") {
        setInvalid(error.message);
        setIssues(error.issues ?? []);
      } else {
        setFailure(error);
      }
    } finally {
      setBusy(false);
    }
  };
  const edit = () => {
    setText(JSON.stringify({ goal: plan.goal, tasks: plan.tasks }, null, 2));
    setMode("edit");
  };
  const approveEdited = () => {
    const parsed = parseGraph(text);
    if ("error" in parsed) {
      setInvalid(parsed.error);
      setIssues([]);
      return;
    }
    void send("approve", { graph: parsed.graph });
  };

  return (
    <section className="plan-approval" aria-label="plan awaiting approval">
      <h2>Plan awaiting approval</h2>
      <p className="hint">
        Nothing of this run starts until the plan is approved (as it is, or edited) or rejected (the run ends
        cancelled).
      </p>
      <ol className="plan-tasks mono">
        {plan.tasks.map((task) => (
          <li key={String(task.id)} data-plan-task={String(task.id)}>
            {describePlanTask(task)}
          </li>
        ))}
      </ol>
      <div className="actions">
        <button type="button" className="primary" disabled={busy} onClick={() => void send("approve", {})}>
          Approve
        </button>
        <button
          type="button"
          disabled={busy || plan.encryptedInputs}
          onClick={edit}
          title={
            plan.encryptedInputs ? "inputs are encrypted at rest: edit this plan from code" : "edit the plan as JSON"
          }
        >
          Edit
        </button>
        <button type="button" className="danger" disabled={busy} onClick={() => setMode("reject")}>
          Reject
        </button>
      </div>
      {mode === "edit" && (
        <div className="plan-editor">
          <label>
            Graph (JSON)
            <textarea
              className="mono"
              aria-label="plan graph"
              rows={Math.min(30, text.split("\n").length + 2)}
              value={text}
              onChange={(e) => setText(e.target.value)}
            />
          </label>
          <div className="actions">
            <button type="button" className="primary" disabled={busy} onClick={approveEdited}>
              Approve edited plan
            </button>
            <button type="button" className="link" onClick={() => setMode("view")}>
              discard edits
            </button>
          </div>
        </div>
      )}
      {invalid !== null && (
        <div className="notice error plan-invalid" role="alert">
          {issues.length > 0 ? (
            <>
              The edited graph has {issues.length === 1 ? "1 problem" : `${issues.length} problems`}:
              <ul>
                {issues.map((issue, index) => (
                  <li key={index}>
                    <span className="mono">{issue.path}</span>: {issue.message}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            invalid
          )}
        </div>
      )}
      {mode === "reject" && (
        <form
          className="plan-reject"
          onSubmit={(event) => {
            event.preventDefault();
            void send("reject", { reason: reason.trim() });
          }}
        >
          <label>
            Reason
            <input aria-label="reject reason" value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          <button type="submit" className="danger" disabled={busy || reason.trim() === ""}>
            Reject plan
          </button>
        </form>
      )}
      {failure !== null && <ErrorNotice error={failure} />}
    </section>
  );
}
