import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from './load.js';
import { runScenario } from './run.js';
import { buildTimeline, partings } from './timeline.js';
import { PageState } from './pagemap.js';

const TEXT = `name: parting
machine: { memory: 64MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 16KiB, type: anon }
  - { op: madvise, proc: app, region: buf, advice: nohugepage }
  - { op: write, proc: app, region: buf }
  - { op: pin_user_pages_fast, proc: app, region: buf, flags: [FOLL_WRITE], as: pin }
  - { op: vmstat }
  - { op: madvise, proc: app, region: buf, advice: dontneed, pages: 2 }
  - { op: write, proc: app, region: buf }
  - { op: unpin_user_pages, pins: pin }
`;

describe('buildTimeline', () => {
  const sc = loadScenario(TEXT);
  const t = buildTimeline(sc);

  it('has the same result as gupsim run, and every counter after every step', () => {
    expect(t.result).toEqual(runScenario(sc));
    expect(t.steps.map((s) => s.vmstat.nr_foll_pin_acquired)).toEqual(
      t.result.steps.map((s) => s.vmstat.nr_foll_pin_acquired),
    );
    expect(t.steps[2]!.vmstat.pgfault).toBe(4);
  });

  it('maps per step, shared while unchanged', () => {
    const at = (i: number) => t.steps[i]!.regions.find((r) => r.region === 'buf')!.map;
    expect([...at(3).state]).toEqual(new Array(4).fill(PageState.PINNED));
    expect(at(4)).toBe(at(3));
    expect([...at(5).state]).toEqual([
      PageState.NOT_PRESENT,
      PageState.NOT_PRESENT,
      PageState.PINNED,
      PageState.PINNED,
    ]);
    // The refault gets new frames; the pinned old ones are no longer mapped.
    expect([...at(6).state]).toEqual([
      PageState.ANON_EXCLUSIVE,
      PageState.ANON_EXCLUSIVE,
      PageState.PINNED,
      PageState.PINNED,
    ]);
  });

  it("a handle's frames part from the mapping at MADV_DONTNEED", () => {
    const h = t.steps[4]!.holders.find((x) => x.name === 'pin')!;
    expect(h.frames?.length).toBe(4);
    expect(h.attached).toBe(4);
    expect(t.steps[5]!.holders.find((x) => x.name === 'pin')!.attached).toBe(2);
    expect(partings(t)).toEqual([{ step: 5, holder: 'pin', parted: 2, op: 'madvise' }]);
  });
});

describe('the doc examples on the map', () => {
  const example = (f: string) => loadScenario(readFileSync(join(import.meta.dirname, '../../examples', f), 'utf8'));

  it('1023 FOLL_GET references on a small folio read as pinned: a false positive, since no holder pins it', () => {
    const t = buildTimeline(example('doc-false-positive.yaml'));
    const almost = t.result.steps.findIndex((s) => s.label === 'almost');
    expect(t.steps[almost]!.regions[0]!.map.state[0]).toBe(PageState.FALSE_POSITIVE);
    const after = t.result.steps.findIndex((s) => s.label === 'after');
    expect(t.steps[after]!.regions[0]!.map.state[0]).toBe(PageState.ANON_EXCLUSIVE);
  });

  it('a real pin on a small folio is PINNED; a ring whose frames are not reported leaves it PINNED too', () => {
    const t = buildTimeline(example('doc-bias-small-folio.yaml'));
    const states = t.steps.flatMap((s) => s.regions.map((r) => r.map.state[0]));
    expect(states).toContain(PageState.PINNED);
    expect(states).not.toContain(PageState.FALSE_POSITIVE);
    const ring = buildTimeline(example('fork-after-pin.yaml'));
    const all = ring.steps.flatMap((s) => s.regions.flatMap((r) => [...r.map.state]));
    expect(all).toContain(PageState.PINNED);
    expect(all).not.toContain(PageState.FALSE_POSITIVE);
  });
});

describe('region status', () => {
  it('mapped, then exited for a child that exits, unmapped after munmap', () => {
    const t = buildTimeline(
      loadScenario(`machine: { memory: 64MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - { op: fork, proc: app, child: kid }
  - { op: exit, proc: kid }
  - { op: munmap, proc: app, region: buf }
`),
    );
    const status = (i: number) => t.steps[i]!.regions.map((r) => `${r.process}:${r.status}`);
    expect(status(0)).toEqual(['app:mapped']);
    expect(status(1)).toEqual(['app:mapped', 'kid:mapped']);
    expect(status(2)).toEqual(['app:mapped', 'kid:exited']);
    expect(status(3)).toEqual(['app:unmapped', 'kid:exited']);
  });
});
