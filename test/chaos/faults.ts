/**
 * The fault injector: every 1-2 s (at random) one fault, its kind drawn from a shuffled bag of all
 * kinds so that every kind comes once in each five faults.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { ChaosChild } from "./processes.js";

export const FAULT_KINDS = ["kill", "terminate", "restart", "freeze", "subscriber"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What each kind does, for the report. */
export const FAULT_LABELS: Record<FaultKind, string> = {
  kill: "kill -9 of a worker, and a replacement",
  terminate: "pg_terminate_backend on every htdag connection",
  restart: "PostgreSQL crash (immediate shutdown) and restart",
  freeze: "SIGSTOP of a worker past its lease, then SIGCONT",
  subscriber: "kill -9 of the LISTEN subscriber, and a resume",
};

/** One injected fault. */
export interface Fault {
  kind: FaultKind;
  /** When its injection began, in ms since the epoch (the machine's clock, as the server's). */
  at: number;
  /**
   * When it had landed for sure: the signal sent, the terminations done, the server down. Times
   * to recover count from here.
   */
  landedAt: number;
  /** The process it hit; none when it hit every connection. */
  pid?: number;
  /** What it did: connections terminated, how long a freeze lasted, … */
  detail: string;
  /** For a subscriber fault: when the new subscriber listened again (set once it does). */
  listeningAt?: number;
}

/** What the injector acts on. */
export interface FaultTargets {
  /** The worker processes now: the injector picks among those ready and not frozen. */
  workers(): readonly ChaosChild[];
  /** Starts a worker in place of one killed. */
  replaceWorker(killed: ChaosChild): void;
  /**
   * Kills the subscriber and starts it again (it resumes from its file): the killed pid, and the new
   * one's start; null while the subscriber is still starting.
   */
  restartSubscriber(): Promise<{ pid: number; ready: Promise<void> } | null>;
  /** Terminates every htdag connection; resolves with how many. */
  terminateConnections(): Promise<number>;
  /** Crashes the server; resolves once it is down. */
  crashServer(): Promise<void>;
  /** Starts the crashed server; resolves once it accepts connections. */
  startServer(): Promise<void>;
  /** How long a frozen worker stays frozen, in ms (past its lease). */
  freezeMs: number;
}

export class FaultInjector {
  readonly faults: Fault[] = [];
  private bag: FaultKind[] = [];
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly thaws = new Set<Promise<void>>();

  constructor(
    private readonly targets: FaultTargets,
    private readonly random: () => number,
    private readonly everyMs: readonly [number, number],
    private readonly log: (line: string) => void,
  ) {}

  /** Every kind injected at least once. */
  get everyKindSeen(): boolean {
    return FAULT_KINDS.every((kind) => this.faults.some((fault) => fault.kind === kind));
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops injecting, and thaws a frozen worker at its time. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all(this.thaws);
  }

  private async run(): Promise<void> {
    for (;;) {
      const [least, most] = this.everyMs;
      await sleep(least + this.random() * (most - least));
      if (this.stopped) {
        return;
      }
      const fault = await this.injectNext().catch((error: unknown) => {
        this.log(`a fault could not be injected: ${String(error)}`);
        return null;
      });
      if (fault) {
        this.faults.push(fault);
        this.log(`fault ${this.faults.length}: ${fault.kind}${fault.pid ? ` pid ${fault.pid}` : ""} (${fault.detail})`);
      }
    }
  }

  /** The next kind of the bag that can be injected now (a second freeze waits for the first to end). */
  private async injectNext(): Promise<Fault | null> {
    if (this.bag.length === 0) {
      this.bag = [...FAULT_KINDS].sort(() => this.random() - 0.5);
    }
    for (let i = 0; i < this.bag.length; i++) {
      const fault = await this.inject(this.bag[i]!);
      if (fault) {
        this.bag.splice(i, 1);
        return fault;
      }
    }
    return null;
  }

  private async inject(kind: FaultKind): Promise<Fault | null> {
    const at = Date.now();
    const workers = this.targets.workers().filter((w) => w.alive && w.isReady && !w.frozen);
    const target = workers[Math.floor(this.random() * workers.length)];
    switch (kind) {
      case "kill":
        // Keep one worker running: a kill of the last one would only wait for its replacement.
        if (!target || workers.length < 2) {
          return null;
        }
        await target.kill();
        this.targets.replaceWorker(target);
        return { kind, at, landedAt: Date.now(), pid: target.pid, detail: "replaced" };
      case "freeze": {
        if (!target || workers.length < 2 || this.thaws.size > 0) {
          return null;
        }
        target.freeze();
        const landedAt = Date.now();
        const thaw = sleep(this.targets.freezeMs).then(() => {
          target.thaw();
          this.thaws.delete(thaw);
        });
        this.thaws.add(thaw);
        return { kind, at, landedAt, pid: target.pid, detail: `${this.targets.freezeMs} ms` };
      }
      case "terminate": {
        const terminated = await this.targets.terminateConnections();
        return { kind, at, landedAt: Date.now(), detail: `${terminated} connections` };
      }
      case "restart": {
        await this.targets.crashServer();
        const landedAt = Date.now();
        await this.targets.startServer();
        return {
          kind,
          at,
          landedAt,
          detail: `down ${landedAt - at} ms after the call, up again ${Date.now() - landedAt} ms later`,
        };
      }
      case "subscriber": {
        const restarted = await this.targets.restartSubscriber();
        if (restarted === null) {
          return null;
        }
        const fault: Fault = {
          kind,
          at,
          landedAt: Date.now(),
          pid: restarted.pid,
          detail: "resumed from its last cursor",
        };
        restarted.ready.then(
          () => (fault.listeningAt = Date.now()),
          () => undefined,
        );
        return fault;
      }
    }
  }
}
