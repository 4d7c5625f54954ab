/**
 * A private PostgreSQL cluster for tests that restart the server: restarting the shared one would
 * break every other test file running at the same time. Needs the server binaries and, as root,
 * runs them as the postgres user.
 */
import { execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

const BIN = `/usr/lib/postgresql/${readdirSync("/usr/lib/postgresql").sort().at(-1)}/bin`;

function asPostgres(command: string, args: string[]): void {
  const root = process.getuid?.() === 0;
  execFileSync(
    root ? "runuser" : `${BIN}/${command}`,
    root ? ["-u", "postgres", "--", `${BIN}/${command}`, ...args] : args,
    { stdio: "pipe" },
  );
}

export interface PrivatePostgres {
  url: string;
  restart(): void;
  stop(): void;
}

/** Creates and starts a cluster on a free-ish port; `stop()` removes it. */
export function startPrivatePostgres(): PrivatePostgres {
  const dir = mkdtempSync(`${tmpdir()}/htdag-pg-`);
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  if (process.getuid?.() === 0) {
    chownSync(
      dir,
      Number(execFileSync("id", ["-u", "postgres"]).toString()),
      Number(execFileSync("id", ["-g", "postgres"]).toString()),
    );
  }
  asPostgres("initdb", ["-D", `${dir}/data`, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const ctl = (action: string) =>
    asPostgres("pg_ctl", [
      "-D",
      `${dir}/data`,
      "-l",
      `${dir}/log`,
      "-w",
      "-m",
      "fast",
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      action,
    ]);
  ctl("start");
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: () => ctl("restart"),
    stop: () => {
      ctl("stop");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
