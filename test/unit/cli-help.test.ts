/** `--help` on every command: exit 0, a usage line, the command's description and each of its options. */
import { describe, expect, it } from "vitest";
import { buildProgram, main } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/io.js";

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (line) => stdout.push(line), err: (line) => stderr.push(line) };
}

const commands = buildProgram(capture()).commands;

describe("htdag --help", () => {
  it("lists every command with its description", async () => {
    const io = capture();
    expect(await main(["node", "htdag", "--help"], io)).toBe(0);
    const help = io.stdout.join("\n");
    expect(help).toMatch(/^Usage: htdag \[options\] \[command\]/);
    for (const name of [
      "run",
      "plan",
      "validate",
      "runs",
      "show",
      "retry",
      "cancel",
      "pause",
      "resume",
      "events",
      "migrate",
      "worker",
      "signal",
      "approve",
      "schedules",
    ]) {
      expect(commands.map((c) => c.name())).toContain(name);
      expect(help).toMatch(new RegExp(`^  ${name}\\b`, "m"));
    }
  });

  it.each(commands.map((c) => [c.name(), c] as const))("htdag %s --help", async (name, command) => {
    const io = capture();
    expect(await main(["node", "htdag", name, "--help"], io)).toBe(0);
    const help = io.stdout.join("\n");
    expect(help).toMatch(new RegExp(`^Usage: htdag ${name} `));
    expect(command.description().length).toBeGreaterThan(10);
    expect(help).toContain(command.description().slice(0, 40));
    for (const option of command.options) {
      expect(help).toContain(option.long ?? option.flags);
    }
    expect(io.stderr).toEqual([]);
  });
});
