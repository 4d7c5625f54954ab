/** Formatting of durations, times and payloads for display (all as plain text). */

export const FINAL_RUN_STATUSES = ["completed", "failed", "cancelled", "timed_out"];

export function isFinalRun(status: string): boolean {
  return FINAL_RUN_STATUSES.includes(status);
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) {
    return "–";
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)} s`;
  }
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m ${String(seconds % 60).padStart(2, "0")}s`;
  }
  return `${Math.floor(seconds / 3600)}h ${String(Math.floor((seconds % 3600) / 60)).padStart(2, "0")}m`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) {
    return "–";
  }
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}

/** A run's duration: stored when final, counted from its start while it goes on. */
export function liveDuration(
  run: { status: string; startedAt: string | null; finishedAt: string | null; durationMs: number | null },
  now: number,
): number | null {
  if (!run.startedAt) {
    return null;
  }
  if (run.finishedAt) {
    return new Date(run.finishedAt).getTime() - new Date(run.startedAt).getTime();
  }
  if (isFinalRun(run.status)) {
    return run.durationMs;
  }
  return Math.max(0, now - new Date(run.startedAt).getTime());
}

/** JSON on one line, cut at `max` characters. */
export function compactJson(value: unknown, max = 200): string {
  const text = JSON.stringify(value) ?? "null";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
