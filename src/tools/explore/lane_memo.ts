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

/** A spare arena, left by the last memo closed (a search after a search reuses it). */
let spare: Int32Array | undefined;

/** Which words a range's compare covers: those of the pool (MemMap's) or of the PTE slab. */
export const MEMO_POOL = 0;
export const MEMO_SLAB = 1;

export class LaneMemo {
  /** Per place: the range (space, first word, end), its record's start in the arena, its changed count, lanes. */
  private readonly space = new Int32Array(PLACES).fill(-1);
  private readonly from = new Int32Array(PLACES);
  private readonly to = new Int32Array(PLACES);
  private readonly at = new Int32Array(PLACES);
  private readonly changed = new Int32Array(PLACES);
  private readonly dA = new Int32Array(PLACES);
  private readonly dB = new Int32Array(PLACES);
  /** The records: a range's words before, after, then the indices of those that changed. */
  private arena: Int32Array;
  private top = 0;
  /** The lanes' change found by the last hit of find(). */
  a = 0;
  b = 0;
  /** find()'s hits so far (tests read it). */
  hits = 0;

  constructor() {
    this.arena = spare ?? new Int32Array(1 << 16);
    spare = undefined;
  }

  /** Whether a compare of a range of `words` words may be looked up (and recorded). */
  static covers(words: number): boolean {
    return words >= MIN_WORDS && words <= MAX_WORDS;
  }

  private static place(space: number, w0: number, w1: number): number {
    let h = Math.imul(w0 ^ (space << 30), 0x9e3779b1) ^ Math.imul(w1, 0x85ebca6b);
    h ^= h >>> 15;
    return h & (PLACES - 1);
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
    const k = LaneMemo.place(space, w0, w1);
    if (this.space[k] !== space || this.from[k] !== w0 || this.to[k] !== w1) return -1;
    const ar = this.arena;
    const len = w1 - w0;
    const before = this.at[k]!;
    const after = before + len;
    for (let j = 0; j < len; j++) if (old[w0 + j] !== ar[before + j] || cur[w0 + j - off] !== ar[after + j]) return -1;
    const n = this.changed[k]!;
    const idx = after + len;
    for (let j = 0; j < n; j++) out[o + j] = ar[idx + j]!;
    this.a = this.dA[k]!;
    this.b = this.dB[k]!;
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
    if (n < MIN_CHANGED) return;
    const len = w1 - w0;
    const need = 2 * len + n;
    if (this.top + need > this.arena.length) {
      if (this.top + need > MAX_ARENA) {
        // Full: start over (the records are a cache; dropping them costs only mixes).
        this.space.fill(-1);
        this.top = 0;
      } else {
        const grown = new Int32Array(Math.min(MAX_ARENA, Math.max(2 * this.arena.length, this.top + need)));
        grown.set(this.arena.subarray(0, this.top));
        this.arena = grown;
      }
    }
    const k = LaneMemo.place(space, w0, w1);
    const ar = this.arena;
    const at = this.top;
    this.top += need;
    // Copied whole (a view each: set() copies a range at memcpy's speed, a loop a word at a time).
    ar.set(old.subarray(w0, w1), at);
    ar.set(cur.subarray(w0 - off, w1 - off), at + len);
    ar.set(changed.subarray(c, c + n), at + 2 * len);
    this.space[k] = space;
    this.from[k] = w0;
    this.to[k] = w1;
    this.at[k] = at;
    this.changed[k] = n;
    this.dA[k] = a;
    this.dB[k] = b;
  }

  /** Done with the memo: its arena is the next one's. */
  close(): void {
    if (this.arena.length <= MAX_ARENA) spare = this.arena;
  }
}
