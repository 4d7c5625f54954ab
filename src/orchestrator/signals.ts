/**
 * `orch.signal` (docs/waits-and-flow-control.md): checks the signal, stores its payload as the wait task's
 * output will be (encoded by the codec, within maxOutputBytes), delivers it under the run's lock,
 * and wakes the run's executor in this process so that the task's dependants start at once.
 */
import { HtdagError, InvalidOptionError, SignalError } from "../errors.js";
import { SIGNAL_NAME_PATTERN } from "../graph/flow-control.js";
import type { Json } from "../graph/task-graph.js";
import { assertJsonOutput, storedOutputBytes } from "../composer/storable.js";
import { isFinalRunStatus, type RunStatus } from "../composer/state-machine.js";
import type { PayloadCodec } from "../store/codec.js";
import type { SignalQueries } from "../store/signals.js";
import type { SignalResult } from "./orchestrator.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What sending a signal needs. */
export interface SignalDeps {
  signals: SignalQueries;
  codec: PayloadCodec | undefined;
  maxOutputBytes: number;
  channel: string | null;
  /** The executors of this process: woken when a task of theirs completed, told when the run ended. */
  runs: { wake(runId: string): void; notice(runId: string, status: RunStatus): void };
}

/** Sends signal `name` with `payload` to run `runId`; `SignalError` when no wait of the run takes it. */
export async function sendSignal(deps: SignalDeps, runId: string, name: string, payload?: Json): Promise<SignalResult> {
  if (typeof runId !== "string") {
    throw new InvalidOptionError("runId", "a run id (a UUID string)", runId, "signal");
  }
  if (typeof name !== "string" || !SIGNAL_NAME_PATTERN.test(name)) {
    throw new InvalidOptionError(
      "name",
      "a signal name: letters, digits and _ . : / - (at most 128), as a wait task's wait.signal",
      name,
      "signal",
    );
  }
  if (!UUID.test(runId)) {
    throw new SignalError(runId, name, "no run has this id");
  }
  const stored = storedPayload(name, payload, deps);
  const result = await deps.signals.deliver(runId, name, stored, deps.channel);
  if (result.reason !== undefined) {
    throw new SignalError(runId, name, result.reason);
  }
  if (result.delivered && result.runStatus) {
    const status = result.runStatus as RunStatus;
    if (isFinalRunStatus(status)) {
      deps.runs.notice(runId, status);
    } else if (status === "running") {
      deps.runs.wake(runId);
    }
  }
  return { delivered: result.delivered, taskId: result.taskId ?? null };
}

/** The payload as the wait task's output is stored: JSON, encoded by the codec, within maxOutputBytes. */
function storedPayload(name: string, payload: unknown, deps: SignalDeps): unknown {
  const value = payload === undefined ? null : payload;
  try {
    assertJsonOutput(name, value, deps.maxOutputBytes);
    const stored = deps.codec ? deps.codec.encode(value) : value;
    storedOutputBytes(name, stored, deps.maxOutputBytes);
    return stored;
  } catch (error) {
    if (!(error instanceof HtdagError)) {
      throw error;
    }
    throw new InvalidOptionError(
      "payload",
      `a JSON value PostgreSQL can store, of at most maxOutputBytes (${deps.maxOutputBytes}) bytes as stored`,
      value,
      "signal",
      `It becomes the output of the task that waits for signal ${JSON.stringify(name)}: ${error.message}`,
    );
  }
}
