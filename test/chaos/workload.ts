/**
 * The chaos workload: a layered DAG of 1,000 tasks (20 layers of 50, each task after the first
 * layer waiting for 2 random tasks of the layer before), whose steps sleep 5-50 ms and record each
 * execution in the harness's own table (`chaos.executions`), committed before the step returns.
 */
import { layeredDag, layeredId, seededRandom } from "../../src/bench/sizes.js";
import { validateGraph } from "../../src/graph/validate.js";
import type { TaskGraph } from "../../src/graph/task-graph.js";

/** The workflow every chaos run belongs to (the subscriber follows it). */
export const CHAOS_WORKFLOW = "chaos";
/** The step of every chaos task. */
export const CHAOS_STEP = "work";

/** The shape of one chaos run. */
export interface WorkloadShape {
  /** @default 20 */
  layers: number;
  /** @default 50 */
  width: number;
  /** Dependencies of each task after the first layer. @default 2 */
  parents: number;
  /** Shortest and longest step, in ms. @default [5, 50] */
  stepMs: readonly [number, number];
}

export const DEFAULT_SHAPE: WorkloadShape = { layers: 20, width: 50, parents: 2, stepMs: [5, 50] };

/** The graph of run `index`: each run gets its own random dependencies and step times. */
export function chaosGraph(shape: WorkloadShape, seed: number, index: number): TaskGraph {
  const runSeed = seed * 1_000 + index;
  const dag = layeredDag({ layers: shape.layers, layerWidth: shape.width, parents: shape.parents }, runSeed);
  const random = seededRandom(runSeed + 1);
  const [shortest, longest] = shape.stepMs;
  return validateGraph({
    goal: `chaos run ${index}`,
    tasks: dag.parentsOf.flatMap((nodes, layer) =>
      nodes.map((parents, node) => ({
        id: layeredId(layer, node),
        step: CHAOS_STEP,
        input: { ms: shortest + Math.floor(random() * (longest - shortest + 1)) },
        ...(layer > 0 ? { dependsOn: parents.map((parent) => layeredId(layer - 1, parent)) } : {}),
      })),
    ),
  });
}

/** The harness's own table: one row per execution of a step, written by the step itself. */
export const EXECUTIONS_DDL = `
  CREATE SCHEMA IF NOT EXISTS chaos;
  CREATE TABLE IF NOT EXISTS chaos.executions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      uuid NOT NULL,
    task_id     text NOT NULL,
    attempt     integer NOT NULL,
    pid         integer NOT NULL,
    -- The step's first instruction, by the worker's clock (the machine's clock, as the server's).
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
  );
  CREATE INDEX IF NOT EXISTS executions_task_idx ON chaos.executions (run_id, task_id);
`;
