/**
 * Query family: the listener registry. The executor NOTIFYs its wake-ups always, and its other
 * events only while some process says it wants them (see notify_scope in the schema): a row per
 * LISTEN connection that delivers them, renewed while it listens, deleted when it stops.
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/**
 * Which of a run's events are NOTIFYed: `true` every one, `"on-demand"` the wake-ups and what a
 * registered listener wants, `false` none (stored only). Kept in the run's options; the SQL reads it.
 */
export type RealTimeNotifications = boolean | "on-demand";
export const realTimeNotificationsSchema = z.union([z.boolean(), z.literal("on-demand")]);

/** What a registered listener wants pushed: every event ('all'), or execution events ('runs'), of one run or all. */
export type ListenerScope = "all" | "runs";

/** A row that is renewed until `close()`. */
export interface ListenerRegistration {
  close(): Promise<void>;
}

/** How long a registration lasts without renewal, in ms; renewed every third of it. */
const TTL_MS = 30_000;

export function createListenerRegistry(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  // Upsert: a renewal after the row expired and was swept puts it back.
  const upsert = `INSERT INTO ${s}.listeners (id, channel, scope, run_id, expires_at)
                  VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
                  ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`;
  return {
    /**
     * Registers a listener on `channel` for the events of run `runId` (null: of every run), and
     * renews it until `close()`. Resolves once the row is committed: events committed after that
     * are NOTIFYed as `scope` says. Rows left by processes that died are swept on the way.
     */
    async register(
      channel: string,
      scope: ListenerScope,
      runId: string | null,
      onError: (error: unknown) => void,
    ): Promise<ListenerRegistration> {
      const id = randomUUID();
      const params = [id, channel, scope, runId, TTL_MS];
      await db.query(`WITH swept AS (DELETE FROM ${s}.listeners WHERE expires_at < now()) ${upsert}`, params);
      const timer = setInterval(() => {
        db.query(upsert, params).catch(onError);
      }, TTL_MS / 3);
      timer.unref();
      return {
        async close() {
          clearInterval(timer);
          await db.query(`DELETE FROM ${s}.listeners WHERE id = $1`, [id]);
        },
      };
    },
  };
}

export type ListenerRegistry = ReturnType<typeof createListenerRegistry>;
