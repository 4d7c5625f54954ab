/**
 * What a waiting task waits for, as a column of the task queries (docs/waits-and-flow-control.md): a wait
 * task whose wait started in its current readiness (stored `ready`, waiting_since >= ready_at).
 */

/**
 * The SQL of a jsonb column `{ since, signal?, until }` (ISO 8601 text; `until` null for a signal without
 * timeout) of task alias `t`, NULL unless the task waits now; `s` is the quoted schema.
 */
export function waitingColumn(s: string, t = "t"): string {
  return `CASE WHEN ${t}.status = 'ready' AND ${t}.spec ? 'wait' AND ${t}.waiting_since >= ${t}.ready_at THEN
            jsonb_strip_nulls(jsonb_build_object('since', ${s}.iso_time(${t}.waiting_since),
                                                 'signal', ${t}.spec -> 'wait' ->> 'signal'))
            || jsonb_build_object('until', ${s}.iso_time(${t}.available_at)) END`;
}

/** The column as read back. */
export type WaitingColumn = { since: string; signal?: string; until: string | null } | null;
