// The journal's memo of hash-lane deltas (no kernel counterpart). Fork's share of a PTE-mapped THP
// changes every page's mapcount and flags and 511 entries of two PTE tables, and the search runs that
// same point from hundreds of states, each time over the same words with the same old and new values
// (only the other thread's progress differs). The lanes' mixes of a thousand changed words cost far more
// than reading them, so the journal keeps, for each range of words a compare covers, what it found the
// last time: the words before and after, which of them changed and the change of the two lanes. A compare
// whose words match that record takes its result without mixing (a check against the record, not a
// guess: any other word makes it compare and mix as usual, and then record the new result).
//
// The record of a range depends on the journal's layout (which array a pool word belongs to, which table
// a slab word is in), so a memo serves one journal: one search.

/** Records kept, by a hash of the range (a new record in a taken place replaces the old one). */
const PLACES = 4096;
/** Ranges shorter than this are compared as usual (a record costs more than their mixes)... */
const MIN_WORDS = 32;
/** ...and so are ranges with fewer changed words than this. */
const MIN_CHANGED = 8;
/** The longest range recorded, and the most words the records may hold before they start over. */
const MAX_WORDS = 1 << 14;
const MAX_ARENA = 1 << 22;

/**
 * A memo's arrays, handed from a memo closed to the next one made (a search after a search: a small
 * example's search is a millisecond, and a memo's arrays, made anew for each, were more than its other garbage).
 */
interface Tables {
  /** Per place: the range (space, first word, end), its record's start in the arena, its changed count, lanes. */
  space: Int32Array;
  from: Int32Array;
  to: Int32Array;
  at: Int32Array;
  changed: Int32Array;
  dA: Int32Array;
  dB: Int32Array;
  /** The records: a range's words before, after, then the indices of those that changed. */
  arena: Int32Array;
}
let spare: Tables | undefined;

function newTables(): Tables {
  return {
    space: new Int32Array(PLACES),
    from: new Int32Array(PLACES),
    to: new Int32Array(PLACES),
    at: new Int32Array(PLACES),
    changed: new Int32Array(PLACES),
    dA: new Int32Array(PLACES),
    dB: new Int32Array(PLACES),
    arena: new Int32Array(1 << 16),
  };
}

/** Which words a range's compare covers: those of the pool (MemMap's) or of the PTE slab. */
export const MEMO_POOL = 0;
export const MEMO_SLAB = 1;

export class LaneMemo {
  /** Made at the first record (a search that records nothing allocates nothing). */
  private t: Tables | undefined = undefined;
  private top = 0;
  /** The lanes' change found by the last hit of find(). */
  a = 0;
  b = 0;
  /** find()'s hits so far (tests read it). */
  hits = 0;

  /** Whether a compare of a range of `words` words is looked up and recorded (find() and keep() ask). */
  static covers(words: number): boolean {
    return words >= MIN_WORDS && words <= MAX_WORDS;
  }

  private static place(space: number, w0: number, w1: number): number {
    let h = Math.imul(w0, 0x9e3779b1) ^ Math.imul(w1 + Math.imul(space, 0x7f4a7c15), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    return (h ^ (h >>> 16)) & (PLACES - 1);
  }

  /**
   * The number of words that changed in words [w0, w1) of `space` (old: `old[w]`, now: `cur[w - off]`),
   * their indices put in `out`, and the lanes' change in a and b, when a record of the range holds exactly
   * these words before and after; -1 otherwise (nothing written). The indices go to out[o...].
   */
  find(
    space: number,
    w0: number,
    w1: number,
    old: Int32Array,
    cur: Int32Array,
    off: number,
    out: Int32Array,
    o: number,
  ): number {
    const t = this.t;
    if (t === undefined || !LaneMemo.covers(w1 - w0)) return -1;
    const k = LaneMemo.place(space, w0, w1);
    if (t.space[k] !== space + 1 || t.from[k] !== w0 || t.to[k] !== w1) return -1;
    const ar = t.arena;
    const len = w1 - w0;
    const before = t.at[k]!;
    const after = before + len;
    for (let j = 0; j < len; j++) if (old[w0 + j] !== ar[before + j] || cur[w0 + j - off] !== ar[after + j]) return -1;
    const n = t.changed[k]!;
    const idx = after + len;
    for (let j = 0; j < n; j++) out[o + j] = ar[idx + j]!;
    this.a = t.dA[k]!;
    this.b = t.dB[k]!;
    this.hits++;
    return n;
  }

  /**
   * Record the compare of words [w0, w1) of `space` (find()'s terms) that found the n words at changed[c...]
   * changed, and the lanes' change (a, b). Before the caller brings `old` up to date.
   */
  keep(
    space: number,
    w0: number,
    w1: number,
    old: Int32Array,
    cur: Int32Array,
    off: number,
    changed: Int32Array,
    c: number,
    n: number,
    a: number,
    b: number,
  ): void {
    if (n < MIN_CHANGED || !LaneMemo.covers(w1 - w0)) return;
    let t = this.t;
    if (t === undefined) {
      // A memo's places are empty (0: no space) when it begins.
      t = this.t = spare ?? newTables();
      spare = undefined;
      t.space.fill(0);
    }
    const len = w1 - w0;
    const need = 2 * len + n;
    if (this.top + need > t.arena.length) {
      if (this.top + need > MAX_ARENA) {
        // Full: start over (the records are a cache; dropping them costs only mixes).
        t.space.fill(0);
        this.top = 0;
      } else {
        const grown = new Int32Array(Math.min(MAX_ARENA, Math.max(2 * t.arena.length, this.top + need)));
        grown.set(t.arena.subarray(0, this.top));
        t.arena = grown;
      }
    }
    const k = LaneMemo.place(space, w0, w1);
    const ar = t.arena;
    const at = this.top;
    this.top += need;
    // Loops, not set(subarray()), as Log.pushRun()'s: a view object per copy was 3% of what a search allocated.
    for (let j = 0; j < len; j++) {
      ar[at + j] = old[w0 + j]!;
      ar[at + len + j] = cur[w0 + j - off]!;
    }
    for (let j = 0; j < n; j++) ar[at + 2 * len + j] = changed[c + j]!;
    t.space[k] = space + 1;
    t.from[k] = w0;
    t.to[k] = w1;
    t.at[k] = at;
    t.changed[k] = n;
    t.dA[k] = a;
    t.dB[k] = b;
  }

  /** Done with the memo: its arrays are the next one's. */
  close(): void {
    if (this.t !== undefined) spare = this.t;
    this.t = undefined;
    this.top = 0;
  }
}
