// "Did you mean": the nearest known name to a misspelt one (an op, a field, a flag), by edit distance,
// for the validator's messages (the CLI and the playground's editor show the same text).

/** Levenshtein distance between a and b (case-insensitive). */
function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The known name closest to `word`, if it is close enough to be a likely typo. */
export function didYouMean(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(word, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  // A typo changes a few characters; anything further is a different word.
  const limit = Math.max(2, Math.floor(word.length / 3));
  return best !== undefined && bestD > 0 && bestD <= limit ? best : undefined;
}

/** ` (did you mean "x"?)`, or nothing. */
export function suggestion(word: string, known: readonly string[]): string {
  const s = didYouMean(word, known);
  return s ? ` (did you mean "${s}"?)` : '';
}
