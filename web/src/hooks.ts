/** Hooks the pages share: the hash route, the event stream, coalesced reloads, a ticking clock. */
import { useCallback, useEffect, useRef, useState } from "react";
import type { EventView } from "../../src/dashboard/types.js";
import { streamUrl, type StreamFilter } from "./api";

/** The route in the hash: `#/runs/<id>` gives `{ path: ["runs", id], params }`. */
export function useHashRoute(): { path: string[]; params: URLSearchParams } {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  const [path = "", search = ""] = hash.replace(/^#\/?/, "").split("?");
  return { path: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(search) };
}

/** Whether the stream is connected (`live`), reconnecting, or was refused. */
export type StreamState = "connecting" | "live" | "closed";

/**
 * Follows the event stream of `filter` (null: not yet). `onReady` runs when the subscription is
 * live (and after every reconnect), the moment to re-read state that events may have changed.
 */
export function useEventStream(
  filter: StreamFilter | null,
  onEvent: (event: EventView) => void,
  onReady?: () => void,
): StreamState {
  const handlers = useRef({ onEvent, onReady });
  handlers.current = { onEvent, onReady };
  const [state, setState] = useState<StreamState>("connecting");
  const key = filter === null ? null : JSON.stringify(filter);
  useEffect(() => {
    if (key === null) {
      return;
    }
    const source = new EventSource(streamUrl(JSON.parse(key) as StreamFilter));
    source.onmessage = (message: MessageEvent<string>) =>
      handlers.current.onEvent(JSON.parse(message.data) as EventView);
    source.addEventListener("ready", () => {
      setState("live");
      handlers.current.onReady?.();
    });
    source.onerror = () => setState(source.readyState === EventSource.CLOSED ? "closed" : "connecting");
    return () => source.close();
  }, [key]);
  return state;
}

/** `fn`, called at most once per `ms`, always once more after the last request. */
export function useCoalesced(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) {
      return;
    }
    timer.current = window.setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  }, [ms]);
}

/** The current time, re-read every `ms` (for durations of runs still going). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}
