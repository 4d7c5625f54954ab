/**
 * The harness's child processes (worker-child.ts, subscriber-child.ts): started through tsx, ready
 * once they print "ready"; each counts the errors its child reports on stderr, by name.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseReported } from "./child.js";

/** A child that has not printed "ready" within this time is stuck. */
const READY_TIMEOUT_MS = 60_000;

export class ChaosChild {
  readonly pid: number;
  /** Errors the child reported, by name (LeaseExpiredError, …). */
  readonly errors = new Map<string, number>();
  /** The first message of each name in `errors`. */
  readonly samples = new Map<string, string>();
  /** The last lines it wrote to stderr, for a report on failure. */
  readonly lastLines: string[] = [];
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  frozen = false;
  /** Printed "ready" (its worker runs, or its subscription listens). */
  isReady = false;
  private readonly child: ChildProcess;

  constructor(script: string, args: string[]) {
    this.child = spawn(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL(script, import.meta.url)), ...args],
      {
        // stdin stays open while the harness lives: the child exits when it closes (child.ts).
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    this.pid = this.child.pid!;
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
    let err = "";
    this.child.stderr!.on("data", (chunk) => {
      err += String(chunk);
      const lines = err.split("\n");
      err = lines.pop()!;
      for (const line of lines) {
        const { name, message } = parseReported(line);
        this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
        if (!this.samples.has(name)) {
          this.samples.set(name, message.slice(0, 160));
        }
        this.lastLines.push(line);
        this.lastLines.splice(0, this.lastLines.length - 20);
      }
    });
    let out = "";
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`${script} was not ready after ${READY_TIMEOUT_MS / 1000} s: ${this.lastLines.join(" | ")}`),
          ),
        READY_TIMEOUT_MS,
      );
      this.child.stdout!.on("data", (chunk) => {
        out += String(chunk);
        if (out.includes("ready\n")) {
          clearTimeout(timer);
          this.isReady = true;
          resolve();
        }
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${script} exited before it was ready: ${this.lastLines.join(" | ")}`));
      });
    });
    // A child killed before it was ready: the harness knows from `exited`.
    this.ready.catch(() => undefined);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** kill -9, and waits for the exit. */
  async kill(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }

  freeze(): void {
    this.frozen = true;
    this.child.kill("SIGSTOP");
  }

  thaw(): void {
    this.child.kill("SIGCONT");
    this.frozen = false;
  }

  /** SIGTERM (after SIGCONT, if frozen), and waits for the exit. */
  async stop(): Promise<void> {
    if (!this.alive) {
      return;
    }
    if (this.frozen) {
      this.thaw();
    }
    this.child.kill("SIGTERM");
    await this.exited;
  }
}
