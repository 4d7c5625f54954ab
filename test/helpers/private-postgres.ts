/**
 * A private PostgreSQL cluster for tests that restart the server: restarting the shared one would
 * break every other test file running at the same time. Needs the server binaries and, as root,
 * runs them as the postgres user.
 */
import { execFile, execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { promisify } from "node:util";

const BIN = `/usr/lib/postgresql/${readdirSync("/usr/lib/postgresql").sort().at(-1)}/bin`;

/** The command line that runs `command` of the server binaries as the postgres user. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0
    ? ["runuser", ["-u", "postgres", "--", `${BIN}/${command}`, ...args]]
    : [`${BIN}/${command}`, args];
}

const run = (command: string, args: string[]) => execFileSync(...asPostgres(command, args), { stdio: "pipe" });
const runAsync = promisify(execFile);

export interface PrivatePostgres {
  url: string;
  /** Stops the server cleanly and starts it again (blocks the caller's event loop). */
  restart(): void;
  /** Crashes the server (an immediate shutdown: no checkpoint; the next start recovers from the WAL), without blocking. */
  crash(): Promise<void>;
  /** Starts the server again after {@link crash}; resolves once it accepts connections. */
  start(): Promise<void>;
  stop(): void;
}

/** Options of {@link startPrivatePostgres}. */
export interface PrivatePostgresOptions {
  /** Server settings, as `-c name=value`. @default {} */
  settings?: Record<string, string>;
}

/** Creates and starts a cluster on a free-ish port; `stop()` removes it. */
export function startPrivatePostgres(options: PrivatePostgresOptions = {}): PrivatePostgres {
  const dir = mkdtempSync(`${tmpdir()}/htdag-pg-`);
  // Below Linux's ephemeral range (32768-60999), where the kernel picks the local ports of outgoing
  // connections: a port drawn there can be taken by any client socket before the server binds it
  // (a CI run failed so). A collision with another private cluster is retried with a new port.
  let port = randomPort();
  if (process.getuid?.() === 0) {
    chownSync(
      dir,
      Number(execFileSync("id", ["-u", "postgres"]).toString()),
      Number(execFileSync("id", ["-g", "postgres"]).toString()),
    );
  }
  run("initdb", ["-D", `${dir}/data`, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const settings = Object.entries({ listen_addresses: "127.0.0.1", fsync: "off", ...options.settings })
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(" ");
  const ctlArgs = (action: string, mode = "fast") => [
    "-D",
    `${dir}/data`,
    "-l",
    `${dir}/log`,
    "-w",
    "-m",
    mode,
    "-o",
    `-p ${port} -k ${dir} ${settings}`,
    action,
  ];
  for (let tries = 1; ; tries++) {
    try {
      run("pg_ctl", ctlArgs("start"));
      break;
    } catch (error) {
      const log = readFileSync(`${dir}/log`, "utf8");
      if (tries >= 5 || !log.includes("Address already in use")) {
        throw error;
      }
      port = randomPort();
    }
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: () => void run("pg_ctl", ctlArgs("restart")),
    crash: async () => {
      await runAsync(...asPostgres("pg_ctl", ctlArgs("stop", "immediate")));
    },
    start: async () => {
      await runAsync(...asPostgres("pg_ctl", ctlArgs("start")));
    },
    stop: () => {
      run("pg_ctl", ctlArgs("stop"));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A port from 20000 to 32767: below the ephemeral range, so no client socket takes it meanwhile. */
function randomPort(): number {
  return 20_000 + Math.floor(Math.random() * 12_768);
}
