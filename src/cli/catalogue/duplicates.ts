/** Steps that find duplicate files: hash scanned files in batches (sha256), then group equal hashes. */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { defineStep } from "../../composer/steps.js";

const hashedSchema = z.object({ path: z.string(), size: z.number(), sha256: z.string() });
type Hashed = z.infer<typeof hashedSchema>;

/** Streams a file through sha256 (large files never sit in memory whole). */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

export const hashFiles = defineStep({
  description:
    "Compute the sha256 of files; use with forEach over scan's `files` and a batchSize. Output: [{path,size,sha256}] (flattened across batches)",
  input: z.object({ root: z.string(), items: z.array(z.object({ path: z.string(), size: z.number() })) }),
  idempotent: true,
  run: async ({ input, signal }) => {
    const hashed: Hashed[] = [];
    for (const file of input.items) {
      signal.throwIfAborted();
      hashed.push({ path: file.path, size: file.size, sha256: await sha256File(join(input.root, file.path)) });
    }
    return hashed;
  },
});

/** Groups of two or more files with the same content, biggest waste first; empty files are left out. */
export function groupDuplicates(files: readonly Hashed[]): {
  groups: { sha256: string; size: number; paths: string[] }[];
  wastedBytes: number;
} {
  const byHash = new Map<string, Hashed[]>();
  for (const file of files) {
    if (file.size === 0) {
      continue;
    }
    byHash.set(file.sha256, [...(byHash.get(file.sha256) ?? []), file]);
  }
  const groups = [...byHash.values()]
    .filter((g) => g.length > 1)
    .map((g) => ({ sha256: g[0]?.sha256 ?? "", size: g[0]?.size ?? 0, paths: g.map((f) => f.path).sort() }))
    .sort(
      (a, b) =>
        b.size * (b.paths.length - 1) - a.size * (a.paths.length - 1) ||
        (a.paths[0] ?? "").localeCompare(b.paths[0] ?? ""),
    );
  return { groups, wastedBytes: groups.reduce((sum, g) => sum + g.size * (g.paths.length - 1), 0) };
}

export const findDuplicates = defineStep({
  description:
    "Group hashed files by sha256 and report every set of identical files. Output: { filesHashed, groups: [{sha256,size,paths}], wastedBytes }",
  input: z.object({ hashes: z.array(hashedSchema) }),
  idempotent: true,
  run: ({ input }) => ({ filesHashed: input.hashes.length, ...groupDuplicates(input.hashes) }),
});
