/** Text widths on the page, for the layout: kept apart from labels.ts, which tests run in Node (no DOM). */
import { estimateTextWidth, type MeasureText, type TextKind } from "./labels";

/** A measurer for the page: a canvas in the font the stylesheet gives `.node-label` and `.node-meta`. */
export function canvasMeasurer(document: Document): MeasureText {
  const context = document.createElement("canvas").getContext("2d");
  if (context === null) {
    return estimateTextWidth;
  }
  const family = getComputedStyle(document.body).fontFamily;
  const fonts: Record<TextKind, string> = { label: `600 13px ${family}`, meta: `11px ${family}` };
  return (text, kind) => {
    context.font = fonts[kind];
    return context.measureText(text).width;
  };
}
