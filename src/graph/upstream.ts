/**
 * "Is task B upstream of task A?" (does A wait for B, directly or transitively) for many
 * queries over one graph, without computing the ancestor set of every task.
 *
 * A query is answered, cheapest first:
 * 1. B is a direct dependency of A (the common case for references);
 * 2. B comes after A in topological order: no;
 * 3. a breadth-first search from A that only enters tasks between B and A in topological order
 *    (a path from A to B can pass nowhere else), usually a handful of steps;
 * 4. once those searches have cost more than a few passes over the graph, ancestor bitsets for
 *    the remaining sources and everything upstream of them. Bits are indexed by topological
 *    position, so the task at position p needs only p bits.
 * Tasks on or behind a cycle have no topological position; their queries use one full search
 * per source, remembered.
 */
import type { IndexedGraph } from "./graph-index.js";

/** Answers `isUpstream(from, target)`: does node `from` wait for node `target`, transitively? */
export type UpstreamQuery = (from: number, target: number) => boolean;

/** Most 32-bit words of bitsets to allocate (16 MiB); beyond it searches continue instead. */
const BITSET_BUDGET_WORDS = 4 * 1024 * 1024;

/**
 * @param order topological order of the acyclic part of `graph` (see `kahnOrder`)
 * @param sources every node queries will start from
 */
export function upstreamQuery(
  graph: IndexedGraph,
  order: readonly number[],
  sources: readonly number[],
): UpstreamQuery {
  const count = graph.ids.length;
  const position = new Int32Array(count).fill(-1);
  order.forEach((node, at) => (position[node] = at));
  const visited = new Int32Array(count);
  let stamp = 0;
  let searchBudget = 4 * (count + graph.waitsFor.reduce((sum, targets) => sum + targets.length, 0));
  let bitsets: Bitsets | undefined | null; // undefined: not built yet; null: over the memory budget
  const fullSearches = new Map<number, Uint8Array>();

  return (from, target) => {
    if ((graph.waitsFor[from] as readonly number[]).includes(target)) {
      return true;
    }
    const fromAt = position[from] as number;
    const targetAt = position[target] as number;
    if (fromAt < 0) {
      return fullSearch(graph, from, fullSearches)[target] === 1;
    }
    if (targetAt < 0 || targetAt >= fromAt) {
      return false;
    }
    if (bitsets === undefined && searchBudget <= 0) {
      bitsets = buildBitsets(graph, order, position, sources) ?? null;
    }
    if (bitsets) {
      return hasBit(bitsets, from, targetAt);
    }
    stamp += 1;
    const { found, steps } = prunedSearch(graph, position, visited, stamp, from, target);
    searchBudget -= steps;
    return found;
  };
}

/**
 * Breadth-first search from `from` for `target`, entering only nodes ordered after `target`.
 * Breadth first, because references usually name a task a step or two upstream.
 */
function prunedSearch(
  graph: IndexedGraph,
  position: Int32Array,
  visited: Int32Array,
  stamp: number,
  from: number,
  target: number,
): { found: boolean; steps: number } {
  const floor = position[target] as number;
  const queue = [from];
  visited[from] = stamp;
  let steps = 0;
  for (let head = 0; head < queue.length; head++) {
    for (const next of graph.waitsFor[queue[head] as number] as readonly number[]) {
      steps += 1;
      if (next === target) {
        return { found: true, steps };
      }
      if (visited[next] === stamp || (position[next] as number) <= floor) {
        continue;
      }
      visited[next] = stamp;
      queue.push(next);
    }
  }
  return { found: false, steps };
}

/** Every node `from` waits for, transitively, as a 0/1 array; remembered per source. */
function fullSearch(graph: IndexedGraph, from: number, memo: Map<number, Uint8Array>): Uint8Array {
  const known = memo.get(from);
  if (known !== undefined) {
    return known;
  }
  const reached = new Uint8Array(graph.ids.length);
  const queue = [from];
  for (let head = 0; head < queue.length; head++) {
    for (const dependency of graph.waitsFor[queue[head] as number] as readonly number[]) {
      if (reached[dependency] === 1) {
        continue;
      }
      reached[dependency] = 1;
      queue.push(dependency);
    }
  }
  memo.set(from, reached);
  return reached;
}

interface Bitsets {
  words: Uint32Array;
  /** Start of each node's bitset in `words`, -1 for nodes without one. */
  offset: Int32Array;
}

function hasBit(bitsets: Bitsets, from: number, targetAt: number): boolean {
  const offset = bitsets.offset[from] as number;
  return (((bitsets.words[offset + (targetAt >>> 5)] as number) >>> (targetAt & 31)) & 1) === 1;
}

/** Ancestor bitsets of the sources and all nodes upstream of them, or undefined if over budget. */
function buildBitsets(
  graph: IndexedGraph,
  order: readonly number[],
  position: Int32Array,
  sources: readonly number[],
): Bitsets | undefined {
  const needed = markUpstream(graph, sources);
  const offset = new Int32Array(graph.ids.length).fill(-1);
  let total = 0;
  order.forEach((node, at) => {
    if (needed[node] !== 1) {
      return;
    }
    offset[node] = total;
    total += (at + 31) >>> 5;
  });
  if (total > BITSET_BUDGET_WORDS) {
    return undefined;
  }
  const words = new Uint32Array(total);
  for (const node of order) {
    const base = offset[node] as number;
    if (base < 0) {
      continue;
    }
    for (const dependency of graph.waitsFor[node] as readonly number[]) {
      // A dependency of an ordered node is ordered earlier, and needed because `node` is.
      const from = offset[dependency] as number;
      const bit = position[dependency] as number;
      const length = (bit + 31) >>> 5;
      for (let word = 0; word < length; word++) {
        words[base + word] = (words[base + word] as number) | (words[from + word] as number);
      }
      words[base + (bit >>> 5)] = (words[base + (bit >>> 5)] as number) | (1 << (bit & 31));
    }
  }
  return { words, offset };
}

/** Nodes upstream of any source, and the sources themselves, as a 0/1 array. */
function markUpstream(graph: IndexedGraph, sources: readonly number[]): Uint8Array {
  const marked = new Uint8Array(graph.ids.length);
  const queue: number[] = [];
  for (const source of sources) {
    if (marked[source] === 1) {
      continue;
    }
    marked[source] = 1;
    queue.push(source);
  }
  for (let head = 0; head < queue.length; head++) {
    for (const dependency of graph.waitsFor[queue[head] as number] as readonly number[]) {
      if (marked[dependency] === 1) {
        continue;
      }
      marked[dependency] = 1;
      queue.push(dependency);
    }
  }
  return marked;
}
