/** Query family: plan approval (approve, approve with an edited plan, reject). One guarded call each. */
import type { Db } from "./db.js";
import { quoteIdentifier } from "./identifiers.js";

/** An edited plan as approve_plan records it: its graph row, and its task and edge rows as bindGraph lays them out. */
export interface EditedPlan {
  graph: { id: string; goal: string; decomposer: string; source: string; tasks: unknown; decomposedAt: string };
  tasks: unknown[];
  edges: unknown[];
}

export function createPlanApprovalQueries(db: Db, schema: string) {
  const s = quoteIdentifier(schema);
  return {
    /**
     * Starts a run awaiting approval of its plan, with `edited` replacing the plan first when given;
     * returns the status the run had (null: no such run; anything but awaiting_approval changed nothing).
     */
    async approvePlan(runId: string, edited: EditedPlan | null, channel: string | null): Promise<string | null> {
      const { rows } = await db.query<{ before: string | null }>(
        `SELECT ${s}.approve_plan($1, $2, $3, $4, $5) AS before`,
        [
          runId,
          edited ? JSON.stringify(edited.graph) : null,
          edited ? JSON.stringify(edited.tasks) : null,
          edited ? JSON.stringify(edited.edges) : null,
          channel,
        ],
      );
      return rows[0]?.before ?? null;
    },

    /** Cancels a run awaiting approval of its plan, with `reason`; returns the status it had (null: no such run). */
    async rejectPlan(runId: string, reason: string, channel: string | null): Promise<string | null> {
      const { rows } = await db.query<{ before: string | null }>(`SELECT ${s}.reject_plan($1, $2, $3) AS before`, [
        runId,
        reason,
        channel,
      ]);
      return rows[0]?.before ?? null;
    },
  };
}

export type PlanApprovalQueries = ReturnType<typeof createPlanApprovalQueries>;
