/**
 * A compact, index-based view of a "waits for" relation, and the linear-time algorithms the
 * validator runs on it (topological order, strongly connected components, shortest cycle).
 * Indices instead of string keys keep validation of a 10,000-task graph within milliseconds.
 */

/** Nodes `0..ids.length-1`; `waitsFor[v]` lists the nodes `v` waits for (its dependencies). */
export interface IndexedGraph {
  ids: readonly string[];
  waitsFor: readonly (readonly number[])[];
}

/**
 * Index a `waits for` map. Ids that appear only as targets (not as keys) are dropped, so the
 * graph only holds edges between known nodes.
 */
export function indexGraph(edges: ReadonlyMap<string, readonly string[]>): IndexedGraph {
  const ids = [...edges.keys()];
  const indexOf = new Map<string, number>();
  ids.forEach((id, index) => indexOf.set(id, index));
  const waitsFor = ids.map((id) => {
    const targets: number[] = [];
    for (const target of edges.get(id) ?? []) {
      const index = indexOf.get(target);
      if (index !== undefined) {
        targets.push(index);
      }
    }
    return targets;
  });
  return { ids, waitsFor };
}

/**
 * Kahn's algorithm: nodes in an order where every node comes after everything it waits for.
 * Nodes on or behind a cycle are left out, so `order.length < ids.length` means "cyclic".
 * Dependants are kept in flat typed arrays (offsets plus one list) to spare 10,000 small arrays.
 */
export function kahnOrder(graph: IndexedGraph): number[] {
  const count = graph.ids.length;
  const pending = new Int32Array(count);
  const start = new Int32Array(count + 1);
  graph.waitsFor.forEach((targets, node) => {
    pending[node] = targets.length;
    for (const target of targets) {
      start[target + 1] = (start[target + 1] as number) + 1;
    }
  });
  for (let node = 0; node < count; node++) {
    start[node + 1] = (start[node + 1] as number) + (start[node] as number);
  }
  const fill = start.slice(0, count);
  const dependants = new Int32Array(start[count] as number);
  graph.waitsFor.forEach((targets, node) => {
    for (const target of targets) {
      const at = fill[target] as number;
      dependants[at] = node;
      fill[target] = at + 1;
    }
  });
  const order: number[] = [];
  for (let node = 0; node < count; node++) {
    if (pending[node] === 0) {
      order.push(node);
    }
  }
  for (let head = 0; head < order.length; head++) {
    const node = order[head] as number;
    for (let at = start[node] as number; at < (start[node + 1] as number); at++) {
      const dependant = dependants[at] as number;
      pending[dependant] = (pending[dependant] as number) - 1;
      if (pending[dependant] === 0) {
        order.push(dependant);
      }
    }
  }
  return order;
}

/**
 * Strongly connected components that contain a cycle (two or more nodes, or one node waiting
 * for itself), each as node indices in ascending order. Tarjan's algorithm, iterative so that
 * a 10,000-node chain does not overflow the stack.
 */
export function cyclicComponents(graph: IndexedGraph): number[][] {
  const count = graph.ids.length;
  const index = new Int32Array(count).fill(-1);
  const low = new Int32Array(count);
  const onStack = new Uint8Array(count);
  const stack: number[] = [];
  const components: number[][] = [];
  let nextIndex = 0;
  for (let root = 0; root < count; root++) {
    if (index[root] !== -1) {
      continue;
    }
    // Each frame is [node, position of the next edge to follow].
    const frames: [number, number][] = [[root, 0]];
    index[root] = low[root] = nextIndex++;
    stack.push(root);
    onStack[root] = 1;
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as [number, number];
      const [node, edge] = frame;
      const targets = graph.waitsFor[node] as readonly number[];
      if (edge < targets.length) {
        frame[1] = edge + 1;
        const target = targets[edge] as number;
        if (index[target] === -1) {
          index[target] = low[target] = nextIndex++;
          stack.push(target);
          onStack[target] = 1;
          frames.push([target, 0]);
        } else if (onStack[target] === 1) {
          low[node] = Math.min(low[node] as number, index[target] as number);
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent !== undefined) {
        low[parent[0]] = Math.min(low[parent[0]] as number, low[node] as number);
      }
      if (low[node] === index[node]) {
        const component = popComponent(stack, onStack, node);
        if (component.length > 1 || targets.includes(node)) {
          components.push(component.sort((a, b) => a - b));
        }
      }
    }
  }
  return components;
}

function popComponent(stack: number[], onStack: Uint8Array, root: number): number[] {
  const component: number[] = [];
  for (;;) {
    const member = stack.pop() as number;
    onStack[member] = 0;
    component.push(member);
    if (member === root) {
      return component;
    }
  }
}

/**
 * The shortest cycle through `start` that stays inside `component`, as node indices with the
 * first repeated at the end (`[a, b, c, a]`, where a waits for b, b for c, c for a).
 * `start` must lie on a cycle inside the component (true for every member of a cyclic SCC).
 */
export function shortestCycleThrough(graph: IndexedGraph, start: number, component: readonly number[]): number[] {
  const inside = new Set(component);
  const previous = new Map<number, number>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as number;
    for (const target of graph.waitsFor[node] as readonly number[]) {
      if (target === start) {
        return unwindCycle(previous, start, node);
      }
      if (!inside.has(target) || previous.has(target)) {
        continue;
      }
      previous.set(target, node);
      queue.push(target);
    }
  }
  throw new Error(`internal error: node ${graph.ids[start]} is on no cycle inside its component`);
}

function unwindCycle(previous: ReadonlyMap<number, number>, start: number, last: number): number[] {
  const reversed = [start, last];
  let node = last;
  while (node !== start) {
    node = previous.get(node) as number;
    reversed.push(node);
  }
  return reversed.reverse();
}
