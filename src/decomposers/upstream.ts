/**
 * "Is task B upstream of task A?" (does A wait for B, directly or transitively) for many
 * queries over one graph, without computing the ancestor set of every task.
 *
 * Only the nodes that queries start from, and the nodes upstream of them, get an ancestor
 * bitset. Bits are indexed by topological position, so the bitset of the task at position p
 * needs only p bits: the total work is about (edges × average position / 32) word operations,
 * a few milliseconds for 10,000 tasks. Nodes on or behind a cycle (absent from the order), or
 * graphs too large for the memory budget, fall back to one breadth-first search per source.
 */
import type { IndexedGraph } from "./graph-index.js";

/** Most 32-bit words of bitsets to allocate (16 MiB) before falling back to searches. */
const BITSET_BUDGET_WORDS = 4 * 1024 * 1024;

/** Answers `isUpstream(from, target)`: does node `from` wait for node `target`, transitively? */
export type UpstreamQuery = (from: number, target: number) => boolean;

/**
 * @param order topological order of the acyclic part of `graph` (see `kahnOrder`)
 * @param sources the nodes queries will start from
 */
export function upstreamQuery(graph: IndexedGraph, order: readonly number[], sources: readonly number[]): UpstreamQuery {
  const position = new Int32Array(graph.ids.length).fill(-1);
  order.forEach((node, at) => (position[node] = at));
  const needed = markUpstream(graph, sources);
  const bitsets = buildBitsets(graph, order, position, needed);
  const searched = new Map<number, Uint8Array>();
  return (from, target) => {
    const at = position[from] as number;
    const offset = bitsets?.offset[from] ?? -1;
    if (at >= 0 && offset >= 0 && bitsets !== undefined) {
      const targetAt = position[target] as number;
      if (targetAt < 0 || targetAt >= at) return false;
      return (((bitsets.words[offset + (targetAt >>> 5)] as number) >>> (targetAt & 31)) & 1) === 1;
    }
    let reached = searched.get(from);
    if (reached === undefined) {
      reached = searchUpstream(graph, from);
      searched.set(from, reached);
    }
    return reached[target] === 1;
  };
}

/** Nodes upstream of any source, and the sources themselves. */
function markUpstream(graph: IndexedGraph, sources: readonly number[]): Uint8Array {
  const marked = new Uint8Array(graph.ids.length);
  const queue: number[] = [];
  for (const source of sources) {
    if (marked[source] === 1) continue;
    marked[source] = 1;
    queue.push(source);
  }
  for (let head = 0; head < queue.length; head++) {
    for (const dependency of graph.waitsFor[queue[head] as number] as readonly number[]) {
      if (marked[dependency] === 1) continue;
      marked[dependency] = 1;
      queue.push(dependency);
    }
  }
  return marked;
}

/** Ancestor bitsets of the needed nodes in `order`, or undefined if they would exceed the budget. */
function buildBitsets(
  graph: IndexedGraph,
  order: readonly number[],
  position: Int32Array,
  needed: Uint8Array,
): { words: Uint32Array; offset: Int32Array } | undefined {
  const offset = new Int32Array(graph.ids.length).fill(-1);
  let total = 0;
  order.forEach((node, at) => {
    if (needed[node] !== 1) return;
    offset[node] = total;
    total += (at + 31) >>> 5;
  });
  if (total > BITSET_BUDGET_WORDS) return undefined;
  const words = new Uint32Array(total);
  for (const node of order) {
    const base = offset[node] as number;
    if (base < 0) continue;
    for (const dependency of graph.waitsFor[node] as readonly number[]) {
      // A dependency of an ordered node is ordered earlier, and needed because `node` is.
      const from = offset[dependency] as number;
      const length = ((position[dependency] as number) + 31) >>> 5;
      for (let word = 0; word < length; word++) words[base + word] = (words[base + word] as number) | (words[from + word] as number);
      const bit = position[dependency] as number;
      words[base + (bit >>> 5)] = (words[base + (bit >>> 5)] as number) | (1 << (bit & 31));
    }
  }
  return { words, offset };
}

/** Every node `from` waits for, transitively, as a 0/1 array. */
function searchUpstream(graph: IndexedGraph, from: number): Uint8Array {
  const reached = new Uint8Array(graph.ids.length);
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    for (const dependency of graph.waitsFor[queue[head] as number] as readonly number[]) {
      if (reached[dependency] === 1) continue;
      reached[dependency] = 1;
      queue.push(dependency);
    }
  }
  return reached;
}
