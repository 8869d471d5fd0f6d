// Every failed step says why (DESIGN.md: `why` on a failed step, the kernel check that refused it,
// or gupsim's own rule for a scenario that cannot go on): the examples with steps dropped, repeated
// or given another field value (fast-check), and a scenario of refusals, one per kernel check.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';
import type { StepResult } from '../src/scenario/result.js';

const dir = join(import.meta.dirname, '..', 'examples');
type Doc = { steps: Array<Record<string, unknown>> } & Record<string, unknown>;
const docs = readdirSync(dir)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort()
  .map((f) => parse(readFileSync(join(dir, f), 'utf8')) as Doc)
  // Small machines only: the property runs many scenarios.
  .filter((d) => !/GiB/.test(String((d.machine as { memory?: string } | undefined)?.memory ?? '')));
const strings = [
  ...new Set(docs.flatMap((d) => d.steps.flatMap((s) => Object.values(s))).filter((v) => typeof v === 'string')),
];
const values: unknown[] = [0, 1, 4095, 4097, '4KiB', '3MiB', true, false, ...strings];

const unexplained = (steps: StepResult[]) =>
  steps.filter((s) => s.errno !== null && !s.why).map((s) => `step ${s.index} (${s.op}): -${s.errno}`);

describe('every failed step has why', () => {
  it('in the examples changed at random (dropped, repeated or changed steps)', () => {
    const mutation = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('drop', 'repeat', 'field'), fc.nat());
    fc.assert(
      fc.property(fc.nat(docs.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (which, muts) => {
        const d = structuredClone(docs[which]!);
        for (const [k0, f0, kind, v0] of muts) {
          if (!d.steps.length) break;
          const k = k0 % d.steps.length;
          const step = d.steps[k]!;
          if (kind === 'drop') d.steps.splice(k, 1);
          else if (kind === 'repeat') d.steps.splice(k, 0, structuredClone(step));
          else {
            const keys = Object.keys(step).filter((x) => x !== 'op');
            if (keys.length) step[keys[f0 % keys.length]!] = values[v0 % values.length];
          }
        }
        let sc;
        try {
          sc = loadScenario(stringify(d), 'mutated.yaml');
        } catch {
          return; // bad input is the validator's (exit 2), not a step
        }
        expect(unexplained(runScenario(sc).steps), stringify(d)).toEqual([]);
      }),
      { numRuns: 150, seed: 8 },
    );
  });

  it('for refusals of munmap, mprotect, madvise, mlock, mremap (onto a failed region), mmap, io_uring', () => {
    const sc = loadScenario(`
machine: { memory: 256MiB, hugetlb: { 2M: 1 } }
steps:
  - { op: mmap, proc: app, as: a, size: 64KiB, type: anon }
  - { op: mprotect, proc: app, region: a, offset: 100, prot: r }
  - { op: madvise, proc: app, region: a, offset: 100, advice: dontneed }
  - { op: munmap, proc: app, region: a, offset: 100 }
  - { op: mremap, proc: app, region: a, offset: 100, new_size: 128KiB }
  - { op: mmap, proc: app, as: h, size: 2MiB, type: hugetlb }
  - { op: madvise, proc: app, region: h, offset: 4KiB, advice: dontneed }
  - { op: madvise, proc: app, region: h, offset: 4KiB, length: 4KiB, advice: dontfork }
  - { op: mprotect, proc: app, region: h, offset: 4KiB, length: 4KiB, prot: r }
  - { op: munmap, proc: app, region: h, offset: 4KiB, length: 4KiB }
  - { op: mmap, proc: app, as: p, size: 64KiB, type: pfnmap }
  - { op: madvise, proc: app, region: p, advice: dontneed }
  - { op: madvise, proc: app, region: a, advice: collapse }
  - { op: mprotect, proc: app, region: a, prot: none }
  - { op: mlock, proc: app, region: a }
  - { op: io_uring_register_buffers, proc: app, region: a, as: ring }
  - { op: io_uring_unregister_buffers, ring: ring }
  - { op: create_file, as: f, size: 64KiB }
  - { op: mmap, proc: app, as: x, size: 64KiB, type: fsdax, file: f }
  - { op: fork, proc: app, child: kid }
  - { op: fork, proc: app, child: kid }
  - { op: exit, proc: kid }
  - { op: exit, proc: kid }
  - { op: mmap, proc: app, as: big, size: 4MiB, type: hugetlb }
  - { op: mremap, proc: app, region: a, new_size: 64KiB, fixed: big }
`);
    const res = runScenario(sc);
    const failed = res.steps.filter((s) => s.errno !== null);
    expect(failed.map((s) => s.index)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 11, 12, 14, 15, 16, 18, 20, 22, 23, 24]);
    expect(unexplained(res.steps)).toEqual([]);
  });
});
