// nr_anon_transparent_hugepages (NR_ANON_THPS) counts anon THPs mapped entire by a PMD: __folio_add_rmap()
// and __folio_remove_rmap() move it by nr_pmdmapped when a folio's first entire mapping comes and its last
// goes (__folio_mod_stat()). A THP whose PMD was split, mapped by PTEs alone, is not counted though it
// still exists. Measured on this project's host (Linux 6.18.44, a C program reading /proc/vmstat): a
// faulted THP 1, after MADV_DONTNEED of its second page 0, after munmap 0; forked, 1 until both the parent's
// and the child's munmap, then 0 -- the rows below.

import { describe, it, expect } from 'vitest';
import { loadScenario } from '../scenario/load.js';
import { RunContext } from '../scenario/context.js';
import { runScenarioStep } from '../scenario/run.js';
import { checkInvariants } from '../tools/invariants.js';

/** Each step's op and nr_anon_transparent_hugepages, with the invariants checked after each step. */
function thps(steps: string): [string, number][] {
  const sc = loadScenario(`machine: { memory: 32MiB, thp: always }\nsteps:\n${steps}`, 'thp.yaml');
  const ctx = new RunContext(sc);
  return sc.steps.map((s, i) => {
    const r = runScenarioStep(ctx, s, i, []);
    expect(r.failures ?? []).toEqual([]);
    expect(checkInvariants(ctx.m)).toEqual([]);
    return [s.op, ctx.m.vmstat.get('nr_anon_transparent_hugepages')];
  });
}

describe('nr_anon_transparent_hugepages counts PMD-mapped anon THPs', () => {
  it('a PMD split leaves the folio mapped by PTEs, no longer counted', () => {
    expect(
      thps(`
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: p, region: buf, pages: 1 }
  - { op: madvise, proc: p, region: buf, offset: 4KiB, length: 4KiB, advice: dontneed }
  - { op: munmap, proc: p, region: buf }
`),
    ).toEqual([
      ['mmap', 0],
      ['write', 1],
      ['madvise', 0],
      ['munmap', 0],
    ]);
  });

  it('a THP fork shares stays counted once until its last PMD mapping goes', () => {
    expect(
      thps(`
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: p, region: buf, pages: 1 }
  - { op: fork, proc: p, child: c }
  - { op: munmap, proc: p, region: buf }
  - { op: munmap, proc: c, region: buf }
`),
    ).toEqual([
      ['mmap', 0],
      ['write', 1],
      ['fork', 1],
      ['munmap', 1],
      ['munmap', 0],
    ]);
  });

  it('a migrated THP is one PMD-mapped THP before and after', () => {
    expect(
      thps(`
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: p, region: buf, pages: 1 }
  - { op: migrate_pages, proc: p, region: buf }
  - { op: munmap, proc: p, region: buf }
`),
    ).toEqual([
      ['mmap', 0],
      ['write', 1],
      ['migrate_pages', 1],
      ['munmap', 0],
    ]);
  });
});
