/**
 * A task box's text: its name (the task id) wrapped to lines that fit the widest box, and the
 * status line under it. Widths come from a measurer: the page measures with a canvas in the label's
 * own font; without one (tests in Node), an estimate that errs wide. Pure, given the measurer.
 */
import type { TaskView } from "../../../src/dashboard/types.js";
import { formatUsage } from "../format.js";

/** Which text is measured: the name (13px, semibold) or the status line (11px). */
export type TextKind = "label" | "meta";

/** The width in pixels of `text` as drawn in the graph. */
export type MeasureText = (text: string, kind: TextKind) => number;

/** Average widths that err wide (a wide capital such as W is about 12px at 13px semibold). */
export const estimateTextWidth: MeasureText = (text, kind) => text.length * (kind === "label" ? 9 : 7);

/** Characters after which a long name breaks best: its words' separators. */
const BREAK_AFTER = /[-_./: ]/;

/**
 * `text` as lines no wider than `maxWidth`: greedy, breaking after the last separator of a line
 * when it has one and mid-word otherwise. Nothing is dropped: the lines joined are `text`.
 */
export function wrapText(text: string, maxWidth: number, measure: MeasureText): string[] {
  const lines: string[] = [];
  let rest = text;
  while (measure(rest, "label") > maxWidth) {
    let fit = 1;
    while (fit < rest.length && measure(rest.slice(0, fit + 1), "label") <= maxWidth) {
      fit += 1;
    }
    const head = rest.slice(0, fit);
    let cut = fit;
    for (let i = head.length - 1; i > 0; i -= 1) {
      if (BREAK_AFTER.test(head[i] ?? "")) {
        cut = i + 1;
        break;
      }
    }
    lines.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0 || lines.length === 0) {
    lines.push(rest);
  }
  return lines;
}

/** The status line of a box: `running · 2 attempts · 3 inside · 12.3k tok · $0.04`. */
export function metaText(
  status: string,
  attempts: number,
  hidden: number | null,
  usage: TaskView["usage"] = null,
): string {
  return (
    status.replaceAll("_", " ") +
    (attempts > 1 ? ` · ${attempts} attempts` : "") +
    (hidden === null ? "" : ` · ${hidden} inside`) +
    (usage ? ` · ${formatUsage(usage)}` : "")
  );
}
