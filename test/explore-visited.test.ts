// The explorer's table of entered states (src/tools/explore/visited.ts) against a Map.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Visited } from '../src/tools/explore/visited.js';

describe('gupsim explore: the visited-state table', () => {
  it('answers as a Map does, through growth, for 52-bit keys', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 52 - 1 }), fc.boolean()), { maxLength: 3000 }),
        (ops) => {
          const t = new Visited();
          const m = new Map<number, number>();
          ops.forEach(([key, look], node) => {
            if (look || m.has(key)) expect(t.get(key)).toBe(m.get(key) ?? -1);
            else {
              t.set(key, node);
              m.set(key, node);
            }
          });
          expect(t.size).toBe(m.size);
          for (const [k, v] of m) expect(t.get(k)).toBe(v);
        },
      ),
      { numRuns: 60, seed: 20261130 },
    );
  });

  it('keeps keys that share their low bits apart (the probe walks past them)', () => {
    const t = new Visited();
    const keys = Array.from({ length: 5000 }, (_, i) => i * 2 ** 20); // every low 20 bits zero
    keys.forEach((k, i) => t.set(k, i));
    keys.forEach((k, i) => expect(t.get(k)).toBe(i));
    expect(t.get(5000 * 2 ** 20)).toBe(-1);
  });
});
