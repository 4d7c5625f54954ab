/**
 * The run's events, oldest first, following new ones while the reader is at the bottom. Waits, signals,
 * plan approval and schedules are said in words (as `htdag events` says them), other payloads as JSON.
 */
import { useLayoutEffect, useRef } from "react";
import type { EventView } from "../../../src/dashboard/types.js";
import { describeWaitEvent } from "../../../src/notifications/wait-event-words.js";
import { compactJson, formatTime } from "../format";

export function EventsPane({ events, onSelectTask }: { events: EventView[]; onSelectTask(taskId: string): void }) {
  const box = useRef<HTMLDivElement>(null);
  const following = useRef(true);
  useLayoutEffect(() => {
    const element = box.current;
    if (element && following.current) {
      element.scrollTop = element.scrollHeight;
    }
  }, [events]);
  const onScroll = () => {
    const element = box.current;
    if (element) {
      following.current = element.scrollHeight - element.scrollTop - element.clientHeight < 24;
    }
  };
  return (
    <div className="events" ref={box} onScroll={onScroll} aria-label="events">
      {events.length === 0 && <p className="empty">No events yet.</p>}
      <ol>
        {events.map((event) => (
          <li key={event.id} className={`event type-${event.type.replace(":", "-")}`} data-event-id={event.id}>
            <span className="time">{formatTime(event.createdAt)}</span>
            <span className="type">{event.type}</span>
            {event.taskId && (
              <button type="button" className="link" onClick={() => onSelectTask(event.taskId!)}>
                {event.taskId}
              </button>
            )}
            <span className="payload" title={compactJson(event.payload, 2000)}>
              {describeWaitEvent(event.type, event.payload, event.runId) ?? compactJson(event.payload)}
            </span>
          </li>
        ))}
      </ol>
    </div>
  );
}
