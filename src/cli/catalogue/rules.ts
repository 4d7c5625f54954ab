/**
 * Rules of the built-in catalogue: the goals `htdag run` understands offline. Each rule's tasks use
 * only the catalogue's steps; `{{dir}}` and `{{file}}` are the goal's captures, `{{ scan.root }}`
 * and friends are run-time references to dependency outputs, `{{ input.out }}` is the run's input.
 */
import type { Rule } from "../../decomposers/rules.js";

const root = "{{ scan.root }}";

/** "health report for ./dir": the headline demo. */
const health: Rule = {
  name: "builtin.health",
  match:
    /^(?:(?:write|make|generate|create|produce|run)\s+(?:an?\s+)?)?health\s*(?:report|check)\s+(?:for|of|on)\s+(?<dir>.+?)\s*$/i,
  tasks: [
    { id: "scan", description: "List the files of {{dir}} by language", step: "files.scan", input: { dir: "{{dir}}" } },
    {
      id: "count_lines",
      description: "Count lines per language",
      step: "health.count_lines",
      dependsOn: ["scan"],
      forEach: { from: "scan", path: "languages" },
      input: { root },
    },
    {
      id: "todos",
      description: "Find TODO and FIXME markers",
      step: "health.find_todos",
      dependsOn: ["scan"],
      input: { root, files: "{{ scan.files }}" },
    },
    {
      id: "docs",
      description: "Check licence and README",
      step: "health.check_docs",
      dependsOn: ["scan"],
      input: { root },
    },
    {
      id: "dependencies",
      description: "Read dependency manifests",
      step: "health.read_dependencies",
      dependsOn: ["scan"],
      input: { root },
    },
    {
      id: "large",
      description: "Detect large files",
      step: "health.large_files",
      dependsOn: ["scan"],
      input: { files: "{{ scan.files }}" },
    },
    {
      id: "report",
      description: "Write the Markdown report",
      step: "health.write_report",
      dependsOn: ["scan", "count_lines", "todos", "docs", "dependencies", "large"],
      input: {
        root,
        fileCount: "{{ scan.fileCount }}",
        totalBytes: "{{ scan.totalBytes }}",
        out: "{{ input.out }}",
        lines: "{{ count_lines }}",
        todos: "{{ todos }}",
        docs: "{{ docs }}",
        dependencies: "{{ dependencies }}",
        large: "{{ large }}",
      },
    },
  ],
};

/** "find duplicate files in ./dir". */
const duplicates: Rule = {
  name: "builtin.duplicates",
  match: /^(?:find|list|show)\s+(?:the\s+)?duplicate(?:d)?(?:\s+files)?\s+(?:in|under|of)\s+(?<dir>.+?)\s*$/i,
  tasks: [
    { id: "scan", description: "List the files of {{dir}}", step: "files.scan", input: { dir: "{{dir}}" } },
    {
      id: "hash",
      description: "Hash the files (sha256) in batches of 25",
      step: "files.hash",
      dependsOn: ["scan"],
      forEach: { from: "scan", path: "files", batchSize: 25 },
      input: { root },
    },
    {
      id: "duplicates",
      description: "Group identical files",
      step: "files.find_duplicates",
      dependsOn: ["hash"],
      input: { hashes: "{{ hash }}" },
    },
  ],
};

/** "summarise data.csv". */
const csv: Rule = {
  name: "builtin.csv",
  match: /^(?:summari[sz]e|profile|describe)\s+(?:the\s+)?(?:csv\s+(?:file\s+)?)?(?<file>.+?\.csv)\s*$/i,
  tasks: [
    { id: "read", description: "Read {{file}} into columns", step: "csv.read", input: { file: "{{file}}" } },
    {
      id: "profile",
      description: "Profile each column",
      step: "csv.profile_column",
      dependsOn: ["read"],
      forEach: { from: "read", path: "columns" },
    },
    {
      id: "summary",
      description: "Summarise the columns",
      step: "csv.summarise",
      dependsOn: ["read", "profile"],
      input: { file: "{{ read.file }}", rows: "{{ read.rows }}", columns: "{{ profile }}" },
    },
  ],
};

/** The built-in rules, in the order they are tried. */
export const builtinRules: readonly Rule[] = [health, duplicates, csv];

/** Goals to suggest when none of the rules matches. */
export const EXAMPLE_GOALS = ["health report for .", "find duplicate files in ./docs", "summarise ./data.csv"] as const;
