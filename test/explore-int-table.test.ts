// The explorer's integer tables (src/tools/explore/int_table.ts: entered states, LRU batch references) against a Map.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IntTable } from '../src/tools/explore/int_table.js';

describe('gupsim explore: the integer table', () => {
  it('answers as a Map does, through growth, for 52-bit keys', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 ** 52 - 1 }), fc.boolean()), { maxLength: 3000 }),
        (ops) => {
          const t = new IntTable();
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
    const t = new IntTable();
    const keys = Array.from({ length: 5000 }, (_, i) => i * 2 ** 20); // every low 20 bits zero
    keys.forEach((k, i) => t.set(k, i));
    keys.forEach((k, i) => expect(t.get(k)).toBe(i));
    expect(t.get(5000 * 2 ** 20)).toBe(-1);
  });

  it('counts as a Map does, across clears and through growth, with keys that repeat', () => {
    const t = new IntTable();
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 1 << 20 })), {
            minLength: 150,
            maxLength: 1500,
          }),
          { minLength: 1, maxLength: 4 },
        ),
        fc.array(fc.integer({ min: 0, max: 1 << 20 }), { maxLength: 20 }),
        (rounds, probes) => {
          for (const keys of rounds) {
            t.clear();
            const want = new Map<number, number>();
            for (const k of keys) {
              t.add(k, 1);
              want.set(k, (want.get(k) ?? 0) + 1);
            }
            expect(t.size).toBe(want.size);
            for (const k of [...keys, ...probes]) expect(t.get(k)).toBe(want.get(k) ?? -1);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
