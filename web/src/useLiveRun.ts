/**
 * A run kept live: its detail and events are read once, then the event stream takes over from the
 * cursor of the last event read (Last-Event-ID resume, exact). Each event is applied at once and the detail re-read
 * soon after (the store is the truth); events of the selected task bump `taskVersion`.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { EventView, RunResponse } from "../../src/dashboard/types.js";
import { api } from "./api";
import { useCoalesced, useEventStream, type StreamState } from "./hooks";
import { appendEvent, applyEvent } from "./live";

/** Events loaded before the stream takes over from the last of them. */
const INITIAL_EVENTS = 500;

export interface LiveRun {
  detail: RunResponse | null;
  error: unknown;
  events: EventView[];
  stream: StreamState;
  /** Changes when an event of the selected task (or of the run) arrived. */
  taskVersion: number;
  /** Re-reads the run now. */
  load(): void;
}

export function useLiveRun(
  runId: string,
  selectedTask: string | null,
  onFirstLoad: (detail: RunResponse) => void,
): LiveRun {
  const [detail, setDetail] = useState<RunResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [events, setEvents] = useState<EventView[]>([]);
  /** Where the stream starts: the last event loaded (fixed once, so the stream is not reopened). */
  const [streamFrom, setStreamFrom] = useState<string | null>(null);
  const [taskVersion, setTaskVersion] = useState(0);
  const selected = useRef(selectedTask);
  selected.current = selectedTask;
  const first = useRef(onFirstLoad);

  // Only the latest request's answer is shown: reloads can come back out of order.
  const latest = useRef(0);
  const load = useCallback(() => {
    const request = ++latest.current;
    api.run(runId).then(
      (response) => {
        if (request !== latest.current) {
          return;
        }
        if (first.current) {
          first.current(response);
          first.current = () => undefined;
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
  }, [runId]);
  useEffect(load, [load]);
  useEffect(() => {
    api.runEvents(runId, INITIAL_EVENTS).then((response) => {
      setEvents(response.events);
      // The last event's cursor, not its id: an event that commits late still reaches the stream.
      const last = response.events.at(-1);
      setStreamFrom(last ? (last.cursor ?? last.id) : "0");
    }, setError);
  }, [runId]);
  const reload = useCoalesced(load, 200);
  const reloadTask = useCoalesced(() => setTaskVersion((v) => v + 1), 200);
  const onEvent = (event: EventView) => {
    setEvents((current) => appendEvent(current, event));
    setDetail((current) => applyEvent(current, event));
    reload();
    if (event.taskId === selected.current || event.taskId === null) {
      reloadTask();
    }
  };
  const stream = useEventStream(streamFrom === null ? null : { runId, lastEventId: streamFrom }, onEvent, reload);
  return { detail, error, events, stream, taskVersion, load };
}
