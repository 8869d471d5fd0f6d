import { describe, expect, it } from 'vitest';
import { advise, MEMORY_KINDS, type AdvisorInput, type MemoryKind } from './advisor.js';

const NONE: AdvisorInput = {
  dma: false,
  longLived: false,
  writesData: false,
  mmuNotifier: false,
  structPageOnly: false,
};
const q = (o: Partial<AdvisorInput>): AdvisorInput => ({ ...NONE, ...o });

/** Every pitfall id the advisor can produce for some input, with an input that produces it. */
const PITFALL_EXAMPLES: Record<string, AdvisorInput> = {
  'foll-pin-internal': q({ dma: true }),
  'partial-pin': q({ dma: true }),
  'fsdax-longterm': q({ dma: true, longLived: true, memory: 'fsdax' }),
  'dirty-tracked-file-longterm-write': q({ dma: true, longLived: true, writesData: true, memory: 'file-disk' }),
  'longterm-ro-private-cow': q({ dma: true, longLived: true, memory: 'file-disk' }),
  'movable-migration': q({ dma: true, longLived: true, memory: 'movable' }),
  'hugetlb-longterm-migration': q({ dma: true, longLived: true, memory: 'hugetlb' }),
  'memlock-accounting': q({ dma: true, longLived: true }),
  'fork-snapshot': q({ dma: true, memory: 'anon' }),
  'fork-hugetlb-copy': q({ dma: true, memory: 'hugetlb' }),
  'fork-shared-not-copied': q({ dma: true, memory: 'shmem' }),
  'ro-pin-unshare': q({ dma: true, memory: 'anon' }),
  'maybe-dma-pinned-false-positive': q({ dma: true }),
  'dirty-on-release': q({ dma: true, writesData: true }),
  'get-put-writeback-race': q({ writesData: true }),
  'get-is-not-pin': q({ structPageOnly: true }),
  'longterm-needs-pin': q({ structPageOnly: true }),
  'no-pin-needed': q({ mmuNotifier: true }),
  'notifier-must-drop-refs': q({ mmuNotifier: true }),
  'hmm-retry': q({ mmuNotifier: true }),
};

describe('advise: the five cases', () => {
  it('Case 1, Direct IO: short-lived DMA -> pin_user_pages_fast, FOLL_PIN only', () => {
    const a = advise(q({ dma: true }));
    expect(a).toMatchObject({
      case: 1,
      title: 'Direct IO (DIO)',
      api: 'pin_user_pages_fast()',
      flags: [],
      implied: ['FOLL_PIN'],
    });
    expect(a.release).toBe('unpin_user_pages(pages, npages)');
    expect(a.why.join(' ')).toContain('iov_iter_extract_pages()');
  });

  it('Case 1 with a device that writes: FOLL_WRITE and a dirtying release', () => {
    const a = advise(q({ dma: true, writesData: true }));
    expect(a.case).toBe(1);
    expect(a.flags).toEqual(['FOLL_WRITE']);
    expect(a.release).toMatch(/^unpin_user_pages_dirty_lock\(pages, npages, true\)/);
  });

  it('Case 2, RDMA: long-lived DMA -> FOLL_LONGTERM (+FOLL_WRITE when written)', () => {
    const ro = advise(q({ dma: true, longLived: true }));
    expect(ro).toMatchObject({
      case: 2,
      title: 'RDMA',
      api: 'pin_user_pages_fast()',
      flags: ['FOLL_LONGTERM'],
      implied: ['FOLL_PIN'],
    });
    expect(ro.release).toBe('unpin_user_pages(pages, npages)');
    const rw = advise(q({ dma: true, longLived: true, writesData: true }));
    expect(rw.flags).toEqual(['FOLL_LONGTERM', 'FOLL_WRITE']);
    expect(rw.release).toMatch(/^unpin_user_pages_dirty_lock\(pages, npages, true\)/);
    expect(rw.why.join(' ')).toContain('check_and_migrate_movable_pages()');
  });

  it('Case 3: an MMU notifier user needs no pin, whatever else is true', () => {
    for (const extra of [
      {},
      { dma: true },
      { dma: true, longLived: true, writesData: true },
      { structPageOnly: true },
    ]) {
      const a = advise(q({ mmuNotifier: true, ...extra }));
      expect(a.case).toBe(3);
      expect(a.flags).not.toContain('FOLL_LONGTERM');
      expect(a.implied).not.toContain('FOLL_PIN');
      expect(a.pitfallIds).toContain('no-pin-needed');
    }
  });

  it('Case 3 with replayable page faults: hmm_range_fault, no references at all', () => {
    const a = advise(q({ mmuNotifier: true, dma: true, deviceFaults: true }));
    expect(a.api).toMatch(/^hmm_range_fault\(\)/);
    expect(a.implied).toEqual([]);
    expect(a.release).toMatch(/^nothing to release/);
  });

  it('Case 3 without page faults: GUP (FOLL_GET) and put_page from the invalidate callback', () => {
    const a = advise(q({ mmuNotifier: true, dma: true, writesData: true, deviceFaults: false }));
    expect(a.api).toBe('get_user_pages_fast() plus mmu_interval_notifier_insert()');
    expect(a.implied).toEqual(['FOLL_GET']);
    expect(a.flags).toEqual(['FOLL_WRITE']);
    expect(a.release).toMatch(/^put_page\(\).*invalidate callback/);
  });

  it("Case 3 with the device's faulting unknown describes both variants", () => {
    const a = advise(q({ mmuNotifier: true }));
    expect(a.api).toContain('hmm_range_fault()');
    expect(a.api).toContain('get_user_pages_fast()');
  });

  it('Case 4: struct page only -> plain GUP, FOLL_GET, put_page', () => {
    const a = advise(q({ structPageOnly: true }));
    expect(a).toMatchObject({
      case: 4,
      api: 'get_user_pages_fast()',
      flags: [],
      implied: ['FOLL_GET'],
      release: 'put_page() for each page',
    });
  });

  it('Case 4 is overruled when the data is accessed after all (and says so)', () => {
    const a = advise(q({ structPageOnly: true, writesData: true }));
    expect(a.case).toBe(5);
    expect(a.why[0]).toMatch(/struct-page-only answer \(Case 4\) does not apply/);
    expect(advise(q({ structPageOnly: true, dma: true })).case).toBe(1);
  });

  it('Case 5: the kernel writes the data without DMA -> FOLL_PIN, never get_user_pages + put_page', () => {
    const a = advise(q({ writesData: true }));
    expect(a).toMatchObject({ case: 5, flags: ['FOLL_WRITE'], implied: ['FOLL_PIN'] });
    expect(a.api).toMatch(/^pin_user_pages\(\)/);
    expect(a.release).toMatch(/^unpin_user_pages_dirty_lock/);
    expect(a.pitfallIds).toContain('get-put-writeback-race');
    expect(a.why.join(' ')).toContain('INCORRECT');
  });

  it('Case 5 kept for long: FOLL_LONGTERM too', () => {
    expect(advise(q({ writesData: true, longLived: true })).flags).toEqual(['FOLL_LONGTERM', 'FOLL_WRITE']);
  });

  it('nothing but reading the data: FOLL_PIN (nearest: Case 5), explained', () => {
    const a = advise(NONE);
    expect(a).toMatchObject({ case: 5, flags: [], implied: ['FOLL_PIN'], release: 'unpin_user_pages(pages, npages)' });
    expect(a.why[0]).toContain('pin_user_pages_remote()');
  });
});

describe('advise: pitfall rules', () => {
  it.each(Object.entries(PITFALL_EXAMPLES))('%s is produced by its example input', (id, input) => {
    expect(advise(input).pitfallIds).toContain(id);
  });

  it('the example table covers every pitfall the advisor can produce', () => {
    const seen = new Set<string>();
    const bools = [false, true];
    for (const dma of bools)
      for (const longLived of bools)
        for (const writesData of bools)
          for (const mmuNotifier of bools)
            for (const structPageOnly of bools)
              for (const memory of [undefined, ...MEMORY_KINDS])
                for (const deviceFaults of [undefined, false, true]) {
                  const input = q({ dma, longLived, writesData, mmuNotifier, structPageOnly });
                  if (memory) input.memory = memory;
                  if (deviceFaults !== undefined) input.deviceFaults = deviceFaults;
                  const a = advise(input);
                  expect(a.pitfalls).toHaveLength(a.pitfallIds.length);
                  expect(new Set(a.pitfallIds).size).toBe(a.pitfallIds.length); // no duplicates
                  a.pitfallIds.forEach((id) => seen.add(id));
                }
    expect([...seen].sort()).toEqual(Object.keys(PITFALL_EXAMPLES).sort());
  });

  it('every pitfall and reason cites a kernel function', () => {
    for (const input of Object.values(PITFALL_EXAMPLES)) {
      const a = advise(input);
      for (const t of [...a.pitfalls, ...a.why]) expect(t).toMatch(/[a-z_]+\(\)/);
    }
  });

  it('fsdax + FOLL_LONGTERM: -EOPNOTSUPP from check_vma_flags()', () => {
    const t = advise(PITFALL_EXAMPLES['fsdax-longterm']!).pitfalls.join('\n');
    expect(t).toMatch(/check_vma_flags\(\) refuses FOLL_LONGTERM .* -EOPNOTSUPP/);
  });

  it('shared disk file + longterm write pin: -EFAULT; a read-only longterm pin gets the COW rule instead', () => {
    const w = advise(PITFALL_EXAMPLES['dirty-tracked-file-longterm-write']!);
    expect(w.pitfalls.join('\n')).toMatch(
      /writable_file_mapping_allowed\(\) refuses FOLL_LONGTERM \| FOLL_WRITE with -EFAULT/,
    );
    expect(w.pitfallIds).not.toContain('longterm-ro-private-cow');
    const r = advise(PITFALL_EXAMPLES['longterm-ro-private-cow']!);
    expect(r.pitfallIds).not.toContain('dirty-tracked-file-longterm-write');
  });

  it('ZONE_MOVABLE / CMA: migration first, latency, -ENOMEM', () => {
    const t = advise(PITFALL_EXAMPLES['movable-migration']!).pitfalls.join('\n');
    expect(t).toMatch(/check_and_migrate_movable_pages\(\)/);
    expect(t).toContain('-ENOMEM');
    expect(t).toContain('latency');
  });

  it('fork: pinned anon pages are copied, the child sees a snapshot (MMF_HAS_PINNED)', () => {
    const t = advise(PITFALL_EXAMPLES['fork-snapshot']!).pitfalls.join('\n');
    expect(t).toContain('MMF_HAS_PINNED');
    expect(t).toContain('snapshot');
  });

  it('folio_maybe_dma_pinned() false positives on small folios', () => {
    expect(advise(q({ dma: true })).pitfalls.join('\n')).toMatch(/GUP_PIN_COUNTING_BIAS \(1024\)/);
    expect(advise(q({ structPageOnly: true })).pitfallIds).toContain('maybe-dma-pinned-false-positive');
  });

  it('short-lived pins get no FOLL_LONGTERM rules', () => {
    const a = advise(q({ dma: true, writesData: true, memory: 'fsdax' }));
    for (const id of [
      'fsdax-longterm',
      'movable-migration',
      'memlock-accounting',
      'dirty-tracked-file-longterm-write',
    ]) {
      expect(a.pitfallIds).not.toContain(id);
    }
  });

  it('a known memory type keeps only its own memory rules, unqualified', () => {
    const anon = advise(q({ dma: true, longLived: true, writesData: true, memory: 'anon' }));
    expect(anon.pitfallIds).toContain('fork-snapshot');
    expect(anon.pitfallIds).toContain('movable-migration');
    for (const id of [
      'fsdax-longterm',
      'dirty-tracked-file-longterm-write',
      'hugetlb-longterm-migration',
      'fork-hugetlb-copy',
    ]) {
      expect(anon.pitfallIds).not.toContain(id);
    }
    expect(anon.pitfalls.some((p) => p.startsWith('If '))).toBe(false);
  });

  it('an unknown memory type gets every memory rule of the case, each qualified with "If ..."', () => {
    const a = advise(q({ dma: true, longLived: true, writesData: true }));
    const byId = Object.fromEntries(a.pitfallIds.map((id, i) => [id, a.pitfalls[i]!]));
    expect(byId['fsdax-longterm']).toMatch(/^If the memory is fsdax: /);
    expect(byId['dirty-tracked-file-longterm-write']).toMatch(/^If the memory is file-disk: /);
    expect(byId['movable-migration']).toMatch(/^If the pages can sit in ZONE_MOVABLE or CMA/);
    expect(byId['partial-pin']).not.toMatch(/^If /);
  });

  it.each(MEMORY_KINDS)('memory %s is accepted for every case', (memory: MemoryKind) => {
    for (const input of [
      q({ dma: true }),
      q({ dma: true, longLived: true }),
      q({ mmuNotifier: true }),
      q({ structPageOnly: true }),
      q({ writesData: true }),
    ]) {
      const a = advise({ ...input, memory });
      expect(a.api.length).toBeGreaterThan(0);
      expect(a.release.length).toBeGreaterThan(0);
    }
  });
});

describe('read-only pins and the zero page (gup_must_unshare)', () => {
  it('a long-term read-only pin is said to unshare, never to return the zero page', () => {
    const a = advise(q({ dma: true, longLived: true }));
    const text = a.why.join(' ');
    expect(text).toContain('gup_must_unshare()');
    expect(text).not.toMatch(/returns the shared zero page/);
  });
  it('a short-term read-only pin may return the pretend-pinned zero page', () => {
    const a = advise(q({ dma: true }));
    expect(a.why.join(' ')).toMatch(/returns the shared zero page/);
  });
});
