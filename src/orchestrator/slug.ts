/** Workflow names from goals. */

/** A workflow name from a goal: lower-case words joined by `_`, at most 64 characters. */
export function slugify(goal: string): string {
  const slug = goal
    .toLowerCase()
    .normalize("NFKD")
    .replace(/\p{M}/gu, "")
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 64)
    .replace(/_+$/, "");
  return slug || "workflow";
}
