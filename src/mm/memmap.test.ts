// MemMap.clearPageFields() (free_pages_prepare()'s clearing of a freed block's flags, mapcount and
// mapping): by 8-byte words when the run and the map allow it, page by page otherwise, with the same
// result; checked byte for byte against clearing each page's fields one by one.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { MemMap } from './memmap.js';

/** Every byte of the pool, to compare two maps. */
function bytes(mem: MemMap): Uint8Array {
  return new Uint8Array(mem.pool);
}

describe('MemMap.clearPageFields(): free_pages_prepare() clearing of flags, mapcount and mapping', () => {
  it('zeroes exactly those three fields of the run, by word or by page, and nothing else', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (nrPages, a, b, seed) => {
          const mem = new MemMap(nrPages);
          // Every byte of the pool non-zero and different, so a stray or missing store shows.
          const all = bytes(mem);
          for (let i = 0, x = seed; i < all.length; i++) {
            x = (Math.imul(x, 1103515245) + 12345) >>> 0;
            all[i] = (x >>> 24) | 1;
          }
          const pfn = a % nrPages;
          const nr = 1 + (b % (nrPages - pfn));
          const want = new MemMap(nrPages);
          bytes(want).set(all);
          for (let i = pfn; i < pfn + nr; i++) {
            want.flags[i] = 0;
            want.mapcount[i] = 0;
            want.mapping[i] = 0;
          }
          mem.clearPageFields(pfn, nr);
          expect(Buffer.from(bytes(mem)).equals(Buffer.from(bytes(want)))).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('clears an aligned block (a 64 KiB folio on a map of whole words) by word', () => {
    const mem = new MemMap(64);
    bytes(mem).fill(0xff);
    mem.clearPageFields(16, 16);
    for (let i = 0; i < 64; i++) {
      const inRun = i >= 16 && i < 32;
      expect([mem.flags[i], mem.mapcount[i], mem.mapping[i]]).toEqual(inRun ? [0, 0, 0] : [0xffff, -1, 0xffff]);
      expect(mem.refcount[i]).toBe(-1);
      expect(mem.index[i]).toBe(0xffffffff);
    }
  });
});
