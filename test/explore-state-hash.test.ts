// The explorer's word hash (src/tools/explore/state_hash.ts): its array forms take each number exactly as
// num() and word() do, and num() splits a number past 32 bits into the words a plain floor and % would give.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Hash } from '../src/tools/explore/state_hash.js';

/** num() as first written: the high word by floor, the low one by %. */
function numByMod(h: Hash, x: number): void {
  if (Number.isInteger(x) && Math.abs(x) < 2 ** 31) h.word(x);
  else {
    h.word(Math.floor(x / 2 ** 32));
    h.word(x % 2 ** 32);
  }
}

const anyNumber = fc.oneof(
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  fc.maxSafeInteger(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }).map((k) => k * 2 ** 21 + 7), // past 2^52: beyond safe integers too
  fc.double({ noNaN: false }),
  fc.constantFrom(2 ** 31, -(2 ** 31), 2 ** 32, -(2 ** 32) - 1, 2 ** 53 + 2, -0, Infinity, -Infinity, 1e300, -1.5),
);

describe('gupsim explore: the word hash', () => {
  it('num() hashes a number as the floor and % split does, for integers of any size and non-integers', () => {
    fc.assert(
      fc.property(fc.array(anyNumber, { maxLength: 20 }), (xs) => {
        const a = new Hash();
        const b = new Hash();
        for (const x of xs) {
          a.num(x);
          numByMod(b, x);
        }
        expect(a.value()).toBe(b.value());
      }),
      { numRuns: 300, seed: 20261201 },
    );
  });

  it('nums() of a Float64Array and int32s() of an Int32Array hash as num() and word() of each element', () => {
    fc.assert(
      fc.property(fc.array(anyNumber, { maxLength: 30 }), fc.nat(30), (xs, cut) => {
        const v = Float64Array.from(xs);
        const n = Math.min(cut, v.length);
        const a = new Hash();
        const b = new Hash();
        a.nums(v, n);
        for (let i = 0; i < n; i++) b.num(v[i]!);
        expect(a.value()).toBe(b.value());
        const w = Int32Array.from(xs, (x) => x | 0);
        a.int32s(w);
        for (const x of w) b.word(x);
        expect(a.value()).toBe(b.value());
      }),
      { numRuns: 300, seed: 20261201 },
    );
  });
});
