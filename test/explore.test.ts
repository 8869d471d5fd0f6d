// The race explorer (issue 14): each race example has no violation with Linux 6.18's protections, and
// the explorer finds the interleaving that breaks it with the protection switched off. Bounded runs.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';
import { explore } from '../src/tools/explore/explorer.js';
import type { ProtectionName } from '../src/mm/protections.js';

const load = (f: string) => loadScenario(readFileSync(join(import.meta.dirname, '..', 'examples', f), 'utf8'), f);
const MAX = 50_000;

const CASES: Array<{ file: string; without: ProtectionName; property: string; checkOn: boolean }> = [
  {
    file: 'race-fork-gup-fast.yaml',
    without: 'writeProtectSeq',
    property: 'the frame the device holds is the frame the parent maps',
    checkOn: true,
  },
  {
    file: 'race-fork-gup-fast.yaml',
    without: 'forkEarlyCow',
    property: 'the frame the device holds is the frame the parent maps',
    checkOn: false,
  },
  {
    file: 'race-munmap-gup-fast.yaml',
    without: 'fastRecheck',
    property: 'GUP returns only pages the caller maps',
    checkOn: true,
  },
  {
    file: 'race-migrate-pin.yaml',
    without: 'fastRecheck',
    property: 'the frame the device holds is the frame the process maps',
    checkOn: true,
  },
  {
    file: 'race-fork-thp.yaml',
    without: 'writeProtectSeq',
    property: 'the frame the device holds is the frame the parent maps',
    checkOn: true,
  },
];

describe('gupsim explore', () => {
  for (const c of CASES) {
    if (c.checkOn)
      it(`${c.file}: no property is violated with every protection on`, () => {
        const r = explore(load(c.file), { maxStates: MAX });
        expect(r.truncated).toBe(false);
        expect(r.violations.map((v) => v.property)).toEqual([]);
        expect(r.ends.length).toBeGreaterThan(1);
        expect(r.ends.reduce((t, e) => t + e.interleavings, 0)).toBe(r.interleavings);
      });
    it(`${c.file}: without ${c.without} the explorer finds "${c.property}" broken`, () => {
      const r = explore(load(c.file), { maxStates: MAX, without: [c.without] });
      const v = r.violations.find((x) => x.property === c.property);
      expect(v, JSON.stringify(r.violations.map((x) => x.property))).toBeDefined();
      expect(v!.trace.length).toBeGreaterThan(2);
      // The interleaving interleaves: both threads act before the end.
      expect(new Set(v!.trace.filter((t) => t.thread !== '-').map((t) => t.thread)).size).toBeGreaterThan(1);
    });
  }

  it('the fork race: GUP-fast grabs between the decision to share and the write-protect', () => {
    const r = explore(load('race-fork-gup-fast.yaml'), { without: ['writeProtectSeq'] });
    const fns = r.violations[0]!.trace.map((t) => `${t.thread}:${t.fn}`);
    const share = fns.indexOf('fork:folio_try_dup_anon_rmap_pte');
    const grab = fns.indexOf('dma:try_grab_folio_fast');
    const wp = fns.indexOf('fork:ptep_set_wrprotect');
    expect(share).toBeGreaterThanOrEqual(0);
    expect(share < grab && grab < wp).toBe(true);
  });

  it('migration of a pinned page fails and restores it (every interleaving keeps the pin on the mapped page)', () => {
    const r = explore(load('race-migrate-pin.yaml'));
    expect(r.violations).toEqual([]);
    expect(r.ends.some((e) => e.returns.some((x) => /migrate_pages = -11/.test(x)))).toBe(true);
    expect(r.ends.some((e) => e.returns.some((x) => /migrate_pages = 0$/.test(x)))).toBe(true);
  });

  it('--max-states bounds the search and says so', () => {
    const r = explore(load('race-munmap-gup-fast.yaml'), { maxStates: 10 });
    expect(r.truncated).toBe(true);
    expect(r.states).toBe(10);
  });

  it('gupsim run runs a concurrent block thread after thread, asserts included', () => {
    const res = runScenario(load('race-fork-gup-fast.yaml'));
    expect(res.ok).toBe(true);
    expect(res.steps.find((s) => s.op === 'concurrent')?.threads).toBeDefined();
  });
});
