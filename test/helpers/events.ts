/** Helpers of the live-events tests: a LISTEN client in another process, and small graphs. */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import pg from "pg";
import type { TaskGraph } from "../../src/graph/task-graph.js";
import { validateGraph } from "../../src/graph/validate.js";

/** a → (b, c) → d: a diamond of four no-op tasks. */
export function diamond(goal: string): TaskGraph {
  return validateGraph({
    goal,
    tasks: [
      { id: "a", step: "work" },
      { id: "b", step: "work", dependsOn: ["a"] },
      { id: "c", step: "work", dependsOn: ["a"] },
      { id: "d", step: "work", dependsOn: ["b", "c"] },
    ],
  });
}

/** A chain t0 → t1 → … of `length` tasks, all running step `work`. */
export function chain(goal: string, length: number): TaskGraph {
  return validateGraph({
    goal,
    tasks: Array.from({ length }, (_, i) => ({
      id: `t${i}`,
      step: "work",
      ...(i > 0 ? { dependsOn: [`t${i - 1}`] } : {}),
    })),
  });
}

/** Plain `LISTEN` in a child process (no htdag code): each NOTIFY payload it received, in arrival order. */
export interface ExternalListener {
  payloads: { id: string; type: string; runId: string | null }[];
  stop(): Promise<void>;
}

const LISTENER_SCRIPT = `
import pg from "pg";
const [url, channel] = process.argv.slice(1);
const client = new pg.Client({ connectionString: url });
await client.connect();
client.on("notification", (m) => process.stdout.write(m.payload + "\\n"));
await client.query("LISTEN " + channel);
process.stdout.write("ready\\n");
process.stdin.on("end", () => client.end().then(() => process.exit(0)));
process.stdin.resume();
`;

/** Starts the child and resolves once it LISTENs. */
export async function startExternalListener(url: string, channel: string): Promise<ExternalListener> {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ["--input-type=module", "-e", LISTENER_SCRIPT, url, channel],
    {
      cwd: process.cwd(),
    },
  );
  const payloads: ExternalListener["payloads"] = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await new Promise<void>((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`the LISTEN process exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (line === "ready") {
        return resolve();
      }
      const { id, type, runId } = JSON.parse(line) as { id: number; type: string; runId: string | null };
      payloads.push({ id: String(id), type, runId });
    });
  });
  return {
    payloads,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

/** An event written by a transaction that is still open: its id is taken, its row not yet visible. */
export interface LateEvent {
  id: string;
  /** Commits the transaction (the row becomes visible) and closes its connection. */
  commit(): Promise<void>;
  /** Closes the connection (rolling back if not committed); safe after `commit`. */
  end(): Promise<void>;
}

/**
 * Writes an event of `type` on `channel` through `emit`, the SQL function htdag writes its own
 * events with, in a transaction of a second connection that stays open until `commit()`.
 */
export async function beginLateEvent(url: string, type: string, channel = "htdag_events"): Promise<LateEvent> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let ended = false;
  const end = async () => {
    if (!ended) {
      ended = true;
      await client.end();
    }
  };
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ id: string }>(
      `SELECT htdag.emit($1, $2, NULL, NULL, NULL, '{}')::text AS id`,
      [channel, type],
    );
    return {
      id: rows[0]!.id,
      commit: async () => {
        await client.query("COMMIT");
        await end();
      },
      end,
    };
  } catch (error) {
    await end();
    throw error;
  }
}
