// migrate_pages() keeps a mapped anon folio's counters: try_to_migrate() takes its pages out of
// NR_ANON_MAPPED (folio_remove_rmap_pte/pmd() of the last mapping), remove_migration_ptes() maps the new
// folio and puts them back (folio_add_anon_rmap_pte/pmd()); a THP stays one anon THP. Found by the race
// explorer's property test: the new folio's first mapping was not counted, so nr_anon_pages fell by the
// folio's pages at each migration and went negative at the munmap after it.

import { describe, it, expect } from 'vitest';
import { loadScenario } from '../scenario/load.js';
import { RunContext } from '../scenario/context.js';
import { runScenarioStep } from '../scenario/run.js';
import { checkInvariants } from '../tools/invariants.js';

/** Run the scenario step by step: each step's counters, with the invariants checked after each. */
function run(yaml: string): { op: string; anon: number; thp: number; moved: number }[] {
  const sc = loadScenario(yaml, 'migrate.yaml');
  const ctx = new RunContext(sc);
  return sc.steps.map((s, i) => {
    runScenarioStep(ctx, s, i, []);
    expect(checkInvariants(ctx.m)).toEqual([]);
    const v = ctx.m.vmstat;
    return {
      op: s.op,
      anon: v.get('nr_anon_pages'),
      thp: v.get('nr_anon_transparent_hugepages'),
      moved: v.get('pgmigrate_success'),
    };
  });
}

describe('migrate_pages() of mapped anon memory keeps nr_anon_pages and nr_anon_transparent_hugepages', () => {
  it('a base page (the scenario step moves the folio at one page): counted before and after, not once unmapped', () => {
    const steps = run(`
machine: { memory: 16MiB }
steps:
  - { op: mmap, proc: p, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: p, region: buf }
  - { op: migrate_pages, proc: p, region: buf }
  - { op: munmap, proc: p, region: buf }
`);
    expect(steps.map((s) => [s.op, s.anon, s.moved])).toEqual([
      ['mmap', 0, 0],
      ['write', 2, 0],
      ['migrate_pages', 2, 1],
      ['munmap', 0, 1],
    ]);
  });

  it('a PMD-mapped THP: still 512 anon pages and one anon THP after the move', () => {
    const steps = run(`
machine: { memory: 16MiB, thp: always }
steps:
  - { op: mmap, proc: p, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: p, region: buf }
  - { op: migrate_pages, proc: p, region: buf }
  - { op: munmap, proc: p, region: buf }
`);
    expect(steps.map((s) => [s.op, s.anon, s.thp, s.moved])).toEqual([
      ['mmap', 0, 0, 0],
      ['write', 512, 1, 0],
      ['migrate_pages', 512, 1, 512],
      ['munmap', 0, 0, 512],
    ]);
  });
});
