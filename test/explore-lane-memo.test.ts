// The journal's memo of hash-lane deltas (src/tools/explore/lane_memo.ts): a compare of a range takes a
// recorded result only when every word of the range was and is what the record holds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LaneMemo, MEMO_POOL, MEMO_SLAB } from '../src/tools/explore/lane_memo.js';

/** What a compare finds: the indices of the words that differ (`old[w]` against `cur[w - off]`). */
function changedIn(old: Int32Array, cur: Int32Array, off: number, w0: number, w1: number): number[] {
  const out: number[] = [];
  for (let w = w0; w < w1; w++) if (old[w] !== cur[w - off]) out.push(w);
  return out;
}

describe('gupsim explore: the memo of hash-lane deltas', () => {
  it('gives back a recorded compare for the same words, and nothing once any word of the range differs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 32, max: 300 }),
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.integer(),
        fc.integer(),
        (from, len, off, every, pick, a, b) => {
          // The range's words are old[w] and cur[w - off] (the slab's: a chunk's view begins at word off).
          const w0 = off + from;
          const w1 = w0 + len;
          const old = Int32Array.from({ length: w1 + 8 }, (_, i) => i * 7);
          const cur = new Int32Array(w1 + 8);
          for (let w = off; w < w1 + 8; w++) cur[w - off] = old[w]! + (w % (every + 1) === 0 ? 1 : 0);
          const changed = Int32Array.from(changedIn(old, cur, off, w0, w1));
          fc.pre(changed.length >= 8);
          const memo = new LaneMemo();
          expect(memo.find(MEMO_SLAB, w0, w1, old, cur, off, new Int32Array(len), 0)).toBe(-1);
          // Recorded from the middle of a larger list of indices (the slab's compare keeps one list a chunk).
          const list = new Int32Array(changed.length + 5);
          list.set(changed, 5);
          memo.keep(MEMO_SLAB, w0, w1, old, cur, off, list, 5, changed.length, a, b);
          const out = new Int32Array(len + 3).fill(-1);
          expect(memo.find(MEMO_SLAB, w0, w1, old, cur, off, out, 3)).toBe(changed.length);
          expect([...out.subarray(3, 3 + changed.length)]).toEqual([...changed]);
          expect([memo.a, memo.b]).toEqual([a | 0, b | 0]);
          // Another space, or another range over the same words: not this record.
          expect(memo.find(MEMO_POOL, w0, w1, old, cur, off, out, 0)).toBe(-1);
          expect(memo.find(MEMO_SLAB, w0, w1 - 1, old, cur, off, out, 0)).toBe(-1);
          // One word before or after, anywhere in the range (changed or not), is another compare.
          const w = w0 + (pick % len);
          old[w] = old[w]! + 1000;
          expect(memo.find(MEMO_SLAB, w0, w1, old, cur, off, out, 0)).toBe(-1);
          old[w] = old[w]! - 1000;
          cur[w - off] = cur[w - off]! - 1000;
          expect(memo.find(MEMO_SLAB, w0, w1, old, cur, off, out, 0)).toBe(-1);
          cur[w - off] = cur[w - off]! + 1000;
          expect(memo.find(MEMO_SLAB, w0, w1, old, cur, off, out, 0)).toBe(changed.length);
          // Words outside the range are not its business.
          old[w1] = old[w1]! + 5;
          if (w0 > 0) old[w0 - 1] = old[w0 - 1]! + 5;
          expect(memo.find(MEMO_SLAB, w0, w1, old, cur, off, out, 0)).toBe(changed.length);
        },
      ),
      { numRuns: 200, seed: 20261201 },
    );
  });

  it('records only ranges long enough, with enough words changed, to be worth it', () => {
    expect(LaneMemo.covers(31)).toBe(false);
    expect(LaneMemo.covers(32)).toBe(true);
    const old = new Int32Array(64);
    const cur = new Int32Array(64);
    for (let w = 0; w < 7; w++) cur[w] = 1;
    const memo = new LaneMemo();
    memo.keep(MEMO_POOL, 0, 64, old, cur, 0, Int32Array.from(changedIn(old, cur, 0, 0, 64)), 0, 7, 1, 2);
    expect(memo.find(MEMO_POOL, 0, 64, old, cur, 0, new Int32Array(64), 0)).toBe(-1);
    cur[7] = 1;
    memo.keep(MEMO_POOL, 0, 64, old, cur, 0, Int32Array.from(changedIn(old, cur, 0, 0, 64)), 0, 8, 1, 2);
    expect(memo.find(MEMO_POOL, 0, 64, old, cur, 0, new Int32Array(64), 0)).toBe(8);
    // 31 words, every one changed: too short a range.
    cur.fill(1, 32, 63);
    memo.keep(MEMO_POOL, 32, 63, old, cur, 0, Int32Array.from(changedIn(old, cur, 0, 32, 63)), 0, 31, 1, 2);
    expect(memo.find(MEMO_POOL, 32, 63, old, cur, 0, new Int32Array(64), 0)).toBe(-1);
  });

  it("hands its arrays to the next memo, which finds none of the first one's records", () => {
    const old = new Int32Array(128);
    const cur = Int32Array.from({ length: 128 }, (_, i) => i + 1);
    const all = Int32Array.from({ length: 128 }, (_, i) => i);
    const first = new LaneMemo();
    first.keep(MEMO_POOL, 0, 64, old, cur, 0, all, 0, 64, 1, 2);
    expect(first.find(MEMO_POOL, 0, 64, old, cur, 0, new Int32Array(64), 0)).toBe(64);
    first.close();
    const next = new LaneMemo();
    expect(next.find(MEMO_POOL, 0, 64, old, cur, 0, new Int32Array(64), 0)).toBe(-1);
    // Its first record takes the arrays the first memo left, and lies where the first one's did, with the
    // same words: a place left from the first memo would pass the check of its words (a record's lanes are
    // its journal's, whose machine may differ).
    next.keep(MEMO_SLAB, 0, 64, old, cur, 0, all, 0, 64, 3, 4);
    expect(next.find(MEMO_POOL, 0, 64, old, cur, 0, new Int32Array(64), 0)).toBe(-1);
    expect(next.find(MEMO_SLAB, 0, 64, old, cur, 0, new Int32Array(64), 0)).toBe(64);
    expect([next.a, next.b]).toEqual([3, 4]);
    next.close();
  });

  it('starts over when its records fill the arena: none of the records before is found again', () => {
    const len = 1 << 14;
    const old = new Int32Array(len);
    const cur = Int32Array.from({ length: len }, (_, i) => i + 1);
    const all = Int32Array.from({ length: len }, (_, i) => i);
    const memo = new LaneMemo();
    const out = new Int32Array(len);
    // A short range, recorded first (its record: 32 zeros, then 1..32, then its changed words 0..31).
    memo.keep(MEMO_SLAB, 0, 32, old, cur, 0, all, 0, 32, 7, 8);
    expect(memo.find(MEMO_SLAB, 0, 32, old, cur, 0, out, 0)).toBe(32);
    // Long ranges, each a record of 3 * 2^14 words: 2^22 of them fill after 85, and the next starts over at
    // the arena's start. Their words before begin as the short record's do but for its list of changed
    // words: a record left pointing there would pass the check of its words and hand out a wrong list.
    for (let j = 0; j < 32; j++) {
      old[32 + j] = j + 1;
      old[64 + j] = 1000 + j;
    }
    for (let r = 0; r < 90; r++) memo.keep(MEMO_POOL, 0, len, old, cur, 0, all, 0, len, r, -r);
    old.fill(0, 32, 96);
    expect(memo.find(MEMO_SLAB, 0, 32, old, cur, 0, out, 0)).toBe(-1);
    for (let j = 0; j < 32; j++) {
      old[32 + j] = j + 1;
      old[64 + j] = 1000 + j;
    }
    expect(memo.find(MEMO_POOL, 0, len, old, cur, 0, out, 0)).toBe(len);
    expect([memo.a, memo.b]).toEqual([89, -89]);
    memo.close();
  });
});
