/**
 * Live progress of `htdag run`, driven by the orchestrator's events: on a TTY, the plan redrawn as
 * a tree with each task's state, elapsed time, attempt and progress; otherwise one plain line per
 * event (or one JSON object per event with `--json`).
 */
import type { HtdagEvent } from "../notifications/catalogue.js";
import { formatEventJson, formatEventLine } from "../notifications/format.js";
import { orderedWithDepth, type PlanNode } from "./render.js";
import { isSuperseded, SUPERSEDED, SUPERSEDED_LEGEND } from "./revisions-view.js";

/** How progress is shown. */
export type ProgressMode = "tty" | "lines" | "json";

interface TaskState {
  status: string;
  attempt: number;
  startedAt?: number;
  endedAt?: number;
  done?: number;
  total?: number;
}

const SYMBOL: Readonly<Record<string, string>> = {
  pending: "·",
  running: "▶",
  completed: "✔",
  failed: "✘",
  timed_out: "⏱",
  cancelled: "⊘",
  skipped: "↷",
  superseded: "⊖",
  retrying: "↻",
};

/** The state a task event moves a task to, or null for events that do not change it. */
export function statusAfter(event: HtdagEvent): string | null {
  switch (event.type) {
    case "task:started":
      return "running";
    case "task:completed":
      return "completed";
    case "task:failed":
      return (event.payload as { status?: string }).status ?? "failed";
    case "task:retried":
      return "retrying";
    case "task:skipped":
      return "skipped";
    case "task:cancelled":
      return "cancelled";
    default:
      return null;
  }
}

/** `1.2s`, `850ms`, `2m05s`. */
export function formatElapsed(ms: number): string {
  if (ms < 1000) {
    return `${Math.round(ms)}ms`;
  }
  if (ms < 60_000) {
    return `${(ms / 1000).toFixed(1)}s`;
  }
  return `${Math.floor(ms / 60_000)}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, "0")}s`;
}

/** Follows one run's events and shows them. `write` gets whole frames (TTY) or lines. */
export class ProgressDisplay {
  private readonly states = new Map<string, TaskState>();
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tasks: PlanNode[],
    private readonly mode: ProgressMode,
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    for (const task of tasks) {
      this.states.set(task.id, { status: "pending", attempt: 0 });
    }
  }

  /** Starts redrawing every 200 ms on a TTY (elapsed times move even when no event arrives). */
  start(): void {
    if (this.mode !== "tty") {
      return;
    }
    this.draw();
    this.timer = setInterval(() => this.draw(), 200);
    this.timer.unref();
  }

  /** Takes one event of the run. */
  handle(event: HtdagEvent): void {
    if (this.mode === "json") {
      return this.write(formatEventJson(event));
    }
    if (this.mode === "lines") {
      return this.write(formatEventLine(event));
    }
    if (event.type === "plan:revised") {
      return this.revise(event.payload as { added?: string[]; removed?: string[]; changed?: string[] });
    }
    if (event.taskId) {
      this.update(event);
    }
  }

  /** Stops redrawing and draws the final frame. */
  stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
    this.timer = undefined;
    if (this.mode === "tty") {
      this.draw();
    }
  }

  /** The current frame: one line per task of the live plan, then the superseded ones under a legend. */
  frame(): string[] {
    const live = this.tasks.filter((t) => !isSuperseded(this.states.get(t.id)?.status));
    const superseded = this.tasks.filter((t) => isSuperseded(this.states.get(t.id)?.status));
    const lines = this.lines(live);
    if (superseded.length > 0) {
      lines.push(SUPERSEDED_LEGEND, ...this.lines(superseded.map((t) => ({ ...t, parentId: undefined }))));
    }
    return lines;
  }

  private lines(tasks: readonly PlanNode[]): string[] {
    return orderedWithDepth(tasks).map(({ task, depth }) => {
      const state = this.states.get(task.id) ?? { status: "pending", attempt: 0 };
      const elapsed =
        state.startedAt === undefined ? "" : formatElapsed((state.endedAt ?? this.now()) - state.startedAt);
      const attempt = state.attempt > 1 ? ` attempt ${state.attempt}` : "";
      const progress =
        state.done === undefined || state.status !== "running"
          ? ""
          : ` ${state.done}${state.total === undefined ? "" : `/${state.total}`}`;
      return `${"  ".repeat(depth)}${SYMBOL[state.status] ?? "?"} ${task.id.padEnd(Math.max(1, 16 - depth * 2))} ${state.status.padEnd(9)} ${elapsed.padStart(6)}${attempt}${progress}`.trimEnd();
    });
  }

  /** The state of task `id`, a new pending one for a task the plan did not have when the view started. */
  private stateOf(id: string): TaskState {
    if (!this.states.has(id)) {
      this.tasks.push({ id, dependsOn: [], description: "" });
      this.states.set(id, { status: "pending", attempt: 0 });
    }
    return this.states.get(id) as TaskState;
  }

  /** A revision of the plan: removed tasks are superseded, changed ones pending again, added ones new. */
  private revise(revision: { added?: string[]; removed?: string[]; changed?: string[] }): void {
    for (const id of revision.removed ?? []) {
      Object.assign(this.stateOf(id), { status: SUPERSEDED, endedAt: this.now() });
    }
    for (const id of [...(revision.changed ?? []), ...(revision.added ?? [])]) {
      Object.assign(this.stateOf(id), { status: "pending", attempt: 0, startedAt: undefined, endedAt: undefined });
    }
  }

  private update(event: HtdagEvent): void {
    const state = this.stateOf(event.taskId as string);
    const payload = event.payload as { attempt?: number; done?: number; total?: number };
    if (event.type === "task:progress") {
      Object.assign(state, { done: payload.done, total: payload.total });
    }
    const status = statusAfter(event);
    if (status === null) {
      return;
    }
    state.status = status;
    if (status === "running") {
      Object.assign(state, {
        startedAt: state.startedAt ?? this.now(),
        attempt: payload.attempt ?? state.attempt + 1,
        endedAt: undefined,
      });
    } else if (status !== "retrying") {
      state.endedAt = this.now();
    }
  }

  private draw(): void {
    const lines = this.frame();
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A` : "";
    this.write(`${up}\x1b[0J${lines.join("\n")}`);
    this.drawnLines = lines.length;
  }
}
