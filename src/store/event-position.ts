/**
 * A position in the stream of committed events, and how a read moves it. Pure.
 *
 * Why snapshots and not "the highest id delivered": ids come from a sequence, so a transaction can
 * take id 10, another take id 11 and commit, and then the first commit. A reader that kept "11"
 * would never see 10. A Postgres snapshot (`pg_current_snapshot()`: xmin, xmax and the transactions
 * in progress) says exactly which transactions a read could see, and every row records the
 * transaction that wrote it (`events.xid`). So the events a reader has passed are "every event
 * visible in snapshot `done`, and the events visible in snapshot `round` up to id `lastId`": the
 * rows of a transaction that was still open at those reads are not in that set, whatever their ids,
 * and are delivered once they commit. The set is exact (no loss, no duplicate) and small: its size
 * is the number of transactions in progress at two reads, not the number of events.
 */

/** Where a reader of the events table stands; see the note at the top of this file. */
export interface EventPosition {
  /** The events with ids up to this one are passed (a plain `afterEventId`); null: none. */
  afterId: string | null;
  /** Every event visible in this snapshot (`pg_snapshot` text) is passed; null: none. */
  done: string | null;
  /** And the events visible in this snapshot with ids up to `lastId`: a read still going on. */
  round: { snapshot: string; lastId: string } | null;
}

/**
 * Which part of a read a row came from: 1, the rest of the position's `round` (rows visible in
 * that snapshot, above `lastId`); 2, what became visible since (rows visible in the read's own
 * snapshot and not in the round's, or `done`'s when there is no round).
 */
export type ReadPhase = 1 | 2;

/**
 * The position just after a row of a read that started at `position` (not at the row before: the
 * rows of one read are all placed against the position it started from) and whose snapshot was
 * `snapshot`.
 */
export function positionAfterRow(
  position: EventPosition,
  snapshot: string,
  phase: ReadPhase,
  id: string,
): EventPosition {
  if (phase === 1 && position.round) {
    return { ...position, round: { snapshot: position.round.snapshot, lastId: id } };
  }
  // A row of phase 2 comes after every row of phase 1: the round's snapshot is wholly passed.
  return {
    afterId: position.afterId,
    done: position.round?.snapshot ?? position.done,
    round: { snapshot, lastId: id },
  };
}

/** The position after a read that returned every row there was: all of its snapshot is passed. */
export function positionAfterRead(position: EventPosition, snapshot: string): EventPosition {
  return { afterId: position.afterId, done: snapshot, round: null };
}
