/**
 * The plan of a run awaiting approval as a graph file to edit (`htdag approve <runId> --print-plan`):
 * its goal and its tasks as a user would write them, in YAML, which `htdag approve --graph` reads back.
 */
import { Document, isSeq } from "yaml";
import { taskToDocument } from "../graph/file.js";
import type { Task } from "../graph/task-graph.js";
import type { PlanTaskRow } from "../store/dashboard-tasks.js";

/** The plan as YAML: `goal`, then `tasks` (each spec with its input), `dependsOn: [a, b]` on one line. */
export function planToYaml(goal: string, rows: readonly PlanTaskRow[]): string {
  const tasks = rows.map((row) => taskToDocument(row.task as Task));
  const document = new Document({ goal, tasks }, { aliasDuplicateObjects: false });
  tasks.forEach((_, index) => {
    const dependsOn = document.getIn(["tasks", index, "dependsOn"], true);
    if (isSeq(dependsOn)) {
      dependsOn.flow = true;
    }
  });
  return document.toString({ lineWidth: 0, flowCollectionPadding: false });
}
