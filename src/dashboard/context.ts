/** What every handler of the dashboard reads from: the orchestrator, the dashboard's queries, its options. */
import type { Orchestrator } from "../orchestrator/orchestrator.js";
import { createDashboardRunQueries, type DashboardRunQueries } from "../store/dashboard-runs.js";
import { createDashboardTaskQueries, type DashboardTaskQueries } from "../store/dashboard-tasks.js";
import { createDashboardUsageQueries, type DashboardUsageQueries } from "../store/dashboard-usage.js";
import { createMetricsQueries, type MetricsQueries } from "../store/metrics.js";
import { createRevisionQueries, type RevisionQueries } from "../store/revisions.js";
import { createRunQueries, type RunQueries } from "../store/runs.js";
import type { ResolvedDashboardOptions } from "./options.js";

export interface DashboardContext {
  orch: Orchestrator;
  runs: RunQueries;
  workflows: DashboardRunQueries;
  tasks: DashboardTaskQueries;
  usage: DashboardUsageQueries;
  metrics: MetricsQueries;
  revisions: RevisionQueries;
  options: ResolvedDashboardOptions;
}

/** Builds the queries the dashboard needs over the orchestrator's store. */
export function createDashboardContext(orch: Orchestrator, options: ResolvedDashboardOptions): DashboardContext {
  const { db } = orch;
  const { schema } = orch.options;
  return {
    orch,
    options,
    runs: createRunQueries(db, schema),
    workflows: createDashboardRunQueries(db, schema),
    tasks: createDashboardTaskQueries(db, schema),
    usage: createDashboardUsageQueries(db, schema),
    metrics: createMetricsQueries(db, schema),
    revisions: createRevisionQueries(db, schema),
  };
}
