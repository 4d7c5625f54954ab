/**
 * The signal form of a wait task (docs/waits-and-flow-control.md): the signal's name (filled in from the
 * task's `wait`) and a JSON payload checked before it is sent; the panel says what became of it.
 */
import { useState, type FormEvent } from "react";
import { api } from "../api";
import { ErrorNotice } from "./ErrorNotice";

interface Props {
  runId: string;
  /** The signal the task waits for. */
  signal: string;
  /** The task waits now (else the signal is kept until it does). */
  waitingNow: boolean;
  /**
   * Called once the signal was sent, with what became of it in words. The panel shows it: a delivered
   * signal completes the task, and the form goes with the task's wait.
   */
  onSent(result: string): void;
}

/** The payload box's text as JSON: the value, or the parser's complaint. Empty text sends `null`. */
export function parsePayload(text: string): { value: unknown } | { error: string } {
  if (text.trim() === "") {
    return { value: null };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { error: `the payload is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
}

export function SignalForm({ runId, signal, waitingNow, onSent }: Props) {
  const [name, setName] = useState(signal);
  const [payload, setPayload] = useState("{}");
  const [invalid, setInvalid] = useState<string | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFailure(null);
    const parsed = parsePayload(payload);
    if ("error" in parsed) {
      setInvalid(parsed.error);
      return;
    }
    setInvalid(null);
    setBusy(true);
    try {
      const response = await api.action(runId, "signal", { name: name.trim(), payload: parsed.value });
      onSent(
        response.signal?.delivered
          ? `Delivered to task ${response.signal.taskId ?? "?"}: it completed with this payload as its output.`
          : "Kept: it is delivered when a wait for it starts.",
      );
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="signal-form" aria-label="send a signal" onSubmit={(event) => void submit(event)}>
      <h3>Signal</h3>
      <p className="hint">
        {waitingNow
          ? "This task waits for a signal: its payload becomes the task's output."
          : "This task will wait for a signal; one sent now is kept until it does."}
      </p>
      <label>
        Name
        <input className="mono" aria-label="signal name" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Payload (JSON)
        <textarea
          className="mono"
          aria-label="signal payload"
          rows={4}
          value={payload}
          onChange={(e) => {
            setPayload(e.target.value);
            setInvalid(null);
          }}
        />
      </label>
      {invalid !== null && (
        <div className="notice error" role="alert" data-invalid="payload">
          {invalid}
        </div>
      )}
      <button type="submit" disabled={busy || name.trim() === ""}>
        Send signal
      </button>
      {failure !== null && <ErrorNotice error={failure} />}
    </form>
  );
}
