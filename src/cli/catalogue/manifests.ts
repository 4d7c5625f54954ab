/** Pure readers of dependency manifests and of TODO/FIXME markers, for the health report. */

/** Dependencies one manifest declares. */
export interface Manifest {
  /** The manifest's file name, e.g. `package.json`. */
  file: string;
  /** `name` or `name@version`, in the manifest's order. */
  dependencies: string[];
  /** Development-only dependencies, when the format separates them. */
  devDependencies: string[];
}

/** Manifest files the health report reads, in the order it reports them. */
export const MANIFEST_FILES = ["package.json", "requirements.txt", "Cargo.toml", "go.mod", "pyproject.toml"] as const;

/** Reads the dependencies of a manifest from its text; unknown files and unreadable text give none. */
export function parseManifest(file: string, text: string): Manifest {
  const none = { file, dependencies: [], devDependencies: [] };
  if (file === "package.json") {
    try {
      const json = JSON.parse(text) as {
        dependencies?: Record<string, string>;
        devDependencies?: Record<string, string>;
      };
      const list = (deps?: Record<string, string>) =>
        Object.entries(deps ?? {}).map(([name, version]) => `${name}@${version}`);
      return { file, dependencies: list(json.dependencies), devDependencies: list(json.devDependencies) };
    } catch {
      return none; // a broken package.json is reported as declaring nothing, not as a failed report
    }
  }
  if (file === "requirements.txt") {
    const deps = text
      .split(/\r?\n/)
      .map((l) => l.replace(/#.*/, "").trim())
      .filter((l) => l !== "" && !l.startsWith("-"));
    return { ...none, dependencies: deps };
  }
  if (file === "Cargo.toml" || file === "pyproject.toml") {
    return { ...none, ...tomlTables(text) };
  }
  if (file === "go.mod") {
    return { ...none, dependencies: goRequires(text) };
  }
  return none;
}

/** `[dependencies]` and `[dev-dependencies]` tables of a TOML file, read line by line. */
function tomlTables(text: string): { dependencies: string[]; devDependencies: string[] } {
  const result = { dependencies: [] as string[], devDependencies: [] as string[] };
  let table: "dependencies" | "devDependencies" | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/#.*/, "").trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      const name = header[1] ?? "";
      table = /(^|\.)dependencies$/.test(name)
        ? "dependencies"
        : /(^|\.)dev-dependencies$/.test(name)
          ? "devDependencies"
          : null;
      continue;
    }
    const entry = /^([A-Za-z0-9_.-]+)\s*=\s*(.+)$/.exec(line);
    if (table && entry?.[1]) {
      const version = /^"([^"]*)"$/.exec(entry[2] ?? "")?.[1] ?? /version\s*=\s*"([^"]*)"/.exec(entry[2] ?? "")?.[1];
      result[table].push(version ? `${entry[1]}@${version}` : entry[1]);
    }
  }
  return result;
}

/** Modules named by `require` lines and blocks of a go.mod. */
function goRequires(text: string): string[] {
  const deps: string[] = [];
  let inBlock = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\/\/.*/, "").trim();
    if (line.startsWith("require (")) {
      inBlock = true;
    } else if (inBlock && line === ")") {
      inBlock = false;
    } else {
      const spec = inBlock ? line : /^require\s+(.+)$/.exec(line)?.[1];
      const [module, version] = spec?.split(/\s+/) ?? [];
      if (module) {
        deps.push(version ? `${module}@${version}` : module);
      }
    }
  }
  return deps;
}

/** A TODO or FIXME marker. */
export interface Marker {
  path: string;
  /** 1-based line number. */
  line: number;
  kind: "TODO" | "FIXME";
  text: string;
}

const MARKER = /\b(TODO|FIXME)\b[:\s]?(.*)$/;

/** The TODO and FIXME markers of one file's text, in line order. */
export function findMarkers(path: string, text: string): Marker[] {
  const markers: Marker[] = [];
  text.split(/\r?\n/).forEach((line, index) => {
    const match = MARKER.exec(line);
    if (match) {
      markers.push({
        path,
        line: index + 1,
        kind: match[1] as Marker["kind"],
        text: (match[2] ?? "").trim().slice(0, 120),
      });
    }
  });
  return markers;
}
