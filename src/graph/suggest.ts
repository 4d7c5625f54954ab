/**
 * "Did you mean …?" suggestions for misspelt ids, field names and step names.
 */

/**
 * The candidate closest to `word` by edit distance (insertions, deletions, substitutions and
 * swaps of neighbouring characters), if it is close enough to be a plausible typo: at most a
 * third of the word's length, and never for words shorter than 3 characters. Candidates whose
 * length differs too much are skipped without computing a distance.
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  if (word.length < 3) {
    return undefined;
  }
  const allowed = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of candidates) {
    if (candidate === word || Math.abs(candidate.length - word.length) >= bestDistance) {
      continue;
    }
    const distance = editDistance(word, candidate, bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` or the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const match = closestMatch(word, candidates);
  return match === undefined ? "" : ` (did you mean ${JSON.stringify(match)}?)`;
}

/**
 * Optimal-string-alignment distance (Levenshtein plus swaps of neighbours, so "buidl" is 1 from
 * "build"), giving up and returning `limit` once a whole row reaches `limit`.
 */
function editDistance(a: string, b: string, limit: number): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(
        (previous[j - 1] as number) + cost,
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (before[j - 2] as number) + 1);
      }
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin >= limit) {
      return limit;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}
