// The explorer's state hash (no kernel counterpart). A machine's page state (MemMap's pool and extra
// arrays) and its PTE tables are tens of thousands of words, and a point of a race changes a handful.
// The hash of such an array is the sum, over its words, of a mix of (index, value) in two 32-bit lanes:
// it depends only on the contents, and changes by the difference of the mixes of the words that changed
// (WordHash keeps it up to date by comparing with the last contents seen; state.ts by the words it knows
// changed). Sums make the hash of an unordered collection (a Map's entries) independent of its order.

/** murmur3's fmix32: a 32-bit avalanche. */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The two lanes' mix of word i holding v. */
export const laneA = (i: number, v: number): number => fmix(v ^ Math.imul(i + 1, 0x9e3779b1));
export const laneB = (i: number, v: number): number =>
  fmix(Math.imul(v, 0x27d4eb2f) + Math.imul(i ^ 0x5bd1e995, 0x165667b1));

/**
 * The hash of a word array whose contents change in place: update() compares the array with the copy
 * of its last contents and adds, per changed word, the difference of its mix. Words past the end count
 * as zeros, so an array that grows hashes as if it always had them.
 */
export class WordHash {
  private prev = new Int32Array(0);
  private n = 0;
  a = 0;
  b = 0;

  /** Bring the hash up to date with cur[0, n). */
  update(cur: Int32Array, n: number): void {
    if (this.prev.length < n) {
      const p = new Int32Array(Math.max(n, this.prev.length * 2));
      p.set(this.prev);
      this.prev = p;
    }
    const prev = this.prev;
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < n; i++) {
      const v = cur[i]!;
      const o = prev[i]!;
      if (v !== o) {
        a = (a - laneA(i, o) + laneA(i, v)) | 0;
        b = (b - laneB(i, o) + laneB(i, v)) | 0;
        prev[i] = v;
      }
    }
    // Words the array no longer covers become zeros.
    for (let i = n; i < this.n; i++) {
      const o = prev[i]!;
      if (o !== 0) {
        a = (a - laneA(i, o) + laneA(i, 0)) | 0;
        b = (b - laneB(i, o) + laneB(i, 0)) | 0;
        prev[i] = 0;
      }
    }
    this.n = n;
    this.a = a;
    this.b = b;
  }
}

/**
 * x % 2^32 as word() takes it (an int32, modulo 2^32), given hi = floor(x / 2^32): for an integer x, x - hi * 2^32
 * (exact, and equal to x % 2^32 modulo 2^32); a double's % is a library call, ten times the cost, and the state
 * hash splits every 52-bit part hash and address this way.
 */
function low32(x: number, hi: number): number {
  return Number.isInteger(x) ? x - hi * 2 ** 32 : x % 2 ** 32;
}

/** Two lanes of 32 bits, mixed word by word (for the small, ordered part of a state). */
export class Hash {
  a = 0x811c9dc5;
  b = 0x01000193;
  reset(): void {
    this.a = 0x811c9dc5;
    this.b = 0x01000193;
  }
  word(x: number): void {
    this.a = Math.imul(this.a ^ (x | 0), 0x01000193);
    this.b = Math.imul(this.b ^ (x | 0), 0x5bd1e995) ^ (this.b >>> 15);
  }
  num(x: number): void {
    if (Number.isInteger(x) && Math.abs(x) < 2 ** 31) this.word(x);
    else {
      const hi = Math.floor(x / 2 ** 32);
      this.word(hi);
      this.word(low32(x, hi));
    }
  }
  words(v: ArrayLike<number>): void {
    this.num(v.length);
    for (let i = 0; i < v.length; i++) this.num(v[i]!);
  }
  /**
   * num() of each of v, in order, with the lanes in locals (a field store per word cost three times as much:
   * the state hash takes the counters and list heads at every state).
   */
  nums(v: Float64Array, n = v.length): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      if (Number.isInteger(x) && Math.abs(x) < 2 ** 31) {
        a = Math.imul(a ^ x, 0x01000193);
        b = Math.imul(b ^ x, 0x5bd1e995) ^ (b >>> 15);
      } else {
        const hi0 = Math.floor(x / 2 ** 32);
        const hi = hi0 | 0;
        const lo = low32(x, hi0) | 0;
        a = Math.imul(a ^ hi, 0x01000193);
        b = Math.imul(b ^ hi, 0x5bd1e995) ^ (b >>> 15);
        a = Math.imul(a ^ lo, 0x01000193);
        b = Math.imul(b ^ lo, 0x5bd1e995) ^ (b >>> 15);
      }
    }
    this.a = a;
    this.b = b;
  }
  /** word() of each word of v, likewise (a method of its own: one kind of array keeps the loop's loads simple). */
  int32s(v: Int32Array): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b ^ x, 0x5bd1e995) ^ (b >>> 15);
    }
    this.a = a;
    this.b = b;
  }
  str(s: string): void {
    this.word(s.length);
    for (let i = 0; i < s.length; i++) this.word(s.charCodeAt(i));
  }
  /** The two lanes as one number (52 bits: exact as a Map key). */
  value(): number {
    return (this.a >>> 0) * 2 ** 20 + (this.b >>> 12);
  }
}

/**
 * A sum over an unordered collection, in two lanes: the order entries were added in does not count (the
 * processes, handles, lock holders and page-table entries of a state, which exist in the order things
 * happened).
 */
export class LaneSum {
  a = 0;
  b = 0;
  reset(): void {
    this.a = this.b = 0;
  }
  /** One entry: value v under key k. */
  add(k: number, v: number): void {
    this.a = (this.a + laneA(k, v)) | 0;
    this.b = (this.b + laneB(k, v)) | 0;
  }
  /** One entry whose words went into `h`. */
  addHash(h: Hash): void {
    this.a = (this.a + laneA(h.a, h.b)) | 0;
    this.b = (this.b + laneB(h.b, h.a)) | 0;
  }
  /** The sum, as two words of `h`. */
  into(h: Hash): void {
    h.word(this.a);
    h.word(this.b);
  }
}
