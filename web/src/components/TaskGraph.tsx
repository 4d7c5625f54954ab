/** The run's task graph as SVG: nodes coloured by state, composites collapsible, a click selects a task. */
import { useMemo, type KeyboardEvent } from "react";
import type { TaskView } from "../../../src/dashboard/types.js";
import { canvasMeasurer } from "../graph/canvas-measure";
import { LINE_HEIGHT, NODE_PADDING, layoutGraph, type Point } from "../graph/layout";

interface Props {
  tasks: TaskView[];
  collapsed: ReadonlySet<string>;
  selected: string | null;
  onSelect(taskId: string): void;
  onToggle(compositeId: string): void;
}

function path(points: Point[]): string {
  return points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
}

export function TaskGraph({ tasks, collapsed, selected, onSelect, onToggle }: Props) {
  const measure = useMemo(() => canvasMeasurer(document), []);
  const layout = useMemo(() => layoutGraph(tasks, collapsed, measure), [tasks, collapsed, measure]);
  // Edges to or from a task a revision superseded are drawn faint and dashed, like the task.
  const superseded = useMemo(() => new Set(tasks.filter((t) => t.status === "superseded").map((t) => t.id)), [tasks]);
  const activate = (id: string) => (event: KeyboardEvent) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      onSelect(id);
    }
  };
  return (
    <div className="graph-scroll">
      <svg
        className="task-graph"
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        role="img"
        aria-label="task graph"
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M0,0 L10,5 L0,10 z" className="arrow-head" />
          </marker>
        </defs>
        {layout.clusters.map((c) => (
          <g
            key={c.task.id}
            className={`cluster status-${c.task.status}`}
            data-task-id={c.task.id}
            data-status={c.task.status}
          >
            <rect
              x={c.x - c.width / 2}
              y={c.y - c.height / 2}
              width={c.width}
              height={c.height}
              rx={8}
              className="cluster-box"
            />
            <text
              x={c.x - c.width / 2 + 26}
              y={c.y - c.height / 2 - 8}
              className="cluster-label"
              onClick={() => onSelect(c.task.id)}
            >
              {c.task.id} · {c.task.status.replaceAll("_", " ")}
            </text>
            <g
              className="toggle"
              role="button"
              aria-label={`collapse ${c.task.id}`}
              data-toggle={c.task.id}
              onClick={() => onToggle(c.task.id)}
              transform={`translate(${c.x - c.width / 2 + 4}, ${c.y - c.height / 2 - 22})`}
            >
              <rect width={18} height={18} rx={4} />
              <text x={9} y={13} textAnchor="middle">
                −
              </text>
            </g>
          </g>
        ))}
        {layout.edges.map((e) => (
          <path
            key={`${e.from}->${e.to}`}
            d={path(e.points)}
            className={superseded.has(e.from) || superseded.has(e.to) ? "edge edge-superseded" : "edge"}
            markerEnd="url(#arrow)"
          />
        ))}
        {layout.nodes.map((n) => {
          const { task } = n;
          const left = n.x - n.width / 2;
          const top = n.y - n.height / 2;
          return (
            <g
              key={task.id}
              className={`node status-${task.status}${selected === task.id ? " selected" : ""}`}
              data-task-id={task.id}
              data-status={task.status}
              role="button"
              tabIndex={0}
              aria-label={`task ${task.id}, ${task.status}`}
              onClick={() => onSelect(task.id)}
              onKeyDown={activate(task.id)}
            >
              <title>{task.description || task.id}</title>
              <rect x={left} y={top} width={n.width} height={n.height} rx={6} className="node-box" />
              <text y={top + 19} className="node-label">
                {n.lines.map((line, i) => (
                  <tspan key={i} x={left + NODE_PADDING} dy={i === 0 ? 0 : LINE_HEIGHT}>
                    {line}
                  </tspan>
                ))}
              </text>
              <text x={left + NODE_PADDING} y={top + 36 + (n.lines.length - 1) * LINE_HEIGHT} className="node-meta">
                {n.meta}
              </text>
              {n.collapsed && (
                <g
                  className="toggle"
                  role="button"
                  aria-label={`expand ${task.id}`}
                  data-toggle={task.id}
                  onClick={(event) => {
                    event.stopPropagation();
                    onToggle(task.id);
                  }}
                  transform={`translate(${left + n.width - 24}, ${top + 6})`}
                >
                  <rect width={18} height={18} rx={4} />
                  <text x={9} y={13} textAnchor="middle">
                    +
                  </text>
                </g>
              )}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
