import { describe, expect, it } from 'vitest';
import {
  advise,
  callText,
  inputError,
  MEMORY_KINDS,
  setupsFor,
  SHARING_KINDS,
  type AdvisorInput,
  type MemoryKind,
} from './advisor.js';

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
  'fsdax-private-longterm': q({ dma: true, longLived: true, memory: 'fsdax', shared: false }),
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
  'short-term-file-write': q({ dma: true, writesData: true, memory: 'file-disk', shared: true }),
  'private-write-copies': q({ dma: true, writesData: true, memory: 'shmem', shared: false }),
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
                for (const shared of [undefined, false, true])
                  for (const deviceFaults of [undefined, false, true]) {
                    const input = q({ dma, longLived, writesData, mmuNotifier, structPageOnly });
                    if (memory) input.memory = memory;
                    if (shared !== undefined) input.shared = shared;
                    if (deviceFaults !== undefined) input.deviceFaults = deviceFaults;
                    if (inputError(input)) continue;
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

  it('fsdax MAP_PRIVATE + FOLL_LONGTERM: refused by the slow path only, so it is a warning, not a refusal', () => {
    const a = advise(PITFALL_EXAMPLES['fsdax-private-longterm']!);
    expect(a.refusals).toEqual([]);
    expect(a.pitfalls.join('\n')).toMatch(/check_vma_flags\(\) returns -EOPNOTSUPP .*GUP-fast/s);
  });

  it('short-term write pins of a MAP_SHARED disk file are allowed, with the writeback TODO', () => {
    const a = advise(PITFALL_EXAMPLES['short-term-file-write']!);
    expect(a.refusals).toEqual([]);
    const t = a.pitfalls[a.pitfallIds.indexOf('short-term-file-write')]!;
    expect(t).toMatch(/^A short-term FOLL_WRITE pin of a MAP_SHARED disk file is allowed/);
    expect(t).toContain('folio_mkclean()');
    expect(t).toContain('TODO');
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

  it('short-lived pins get no FOLL_LONGTERM rules and no refusals', () => {
    const a = advise(q({ dma: true, writesData: true, memory: 'fsdax' }));
    for (const id of ['fsdax-private-longterm', 'movable-migration', 'memlock-accounting', 'longterm-ro-private-cow']) {
      expect(a.pitfallIds).not.toContain(id);
    }
    expect(a.refusals).toEqual([]);
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
    expect(byId['fsdax-private-longterm']).toMatch(/^If the memory is fsdax and the mapping is MAP_PRIVATE: /);
    expect(byId['hugetlb-longterm-migration']).toMatch(/^If the memory is hugetlb: /);
    expect(byId['movable-migration']).toMatch(/^If the pages can sit in ZONE_MOVABLE or CMA/);
    expect(byId['fork-snapshot']).toMatch(/^If the pages are private anonymous memory/);
    expect(byId['partial-pin']).not.toMatch(/^If /);
    // The refusals are conditional too, and say where.
    expect(a.refusals.map((r) => [r.id, r.where, r.conditional])).toEqual([
      ['fsdax-longterm', 'fsdax, MAP_SHARED', true],
      ['dirty-tracked-file-longterm-write', 'file-disk, MAP_SHARED', true],
    ]);
  });

  it('a known memory with unknown sharing qualifies the sharing rules only', () => {
    const a = advise(q({ dma: true, writesData: true, memory: 'shmem' }));
    const byId = Object.fromEntries(a.pitfallIds.map((id, i) => [id, a.pitfalls[i]!]));
    expect(byId['fork-shared-not-copied']).toMatch(/^If the mapping is MAP_SHARED: /);
    expect(byId['private-write-copies']).toMatch(/^If the mapping is MAP_PRIVATE: /);
    const shared = advise({ ...q({ dma: true, writesData: true, memory: 'shmem' }), shared: true });
    expect(shared.pitfallIds).toContain('fork-shared-not-copied');
    expect(shared.pitfallIds).not.toContain('private-write-copies');
    expect(shared.pitfalls.some((p) => p.startsWith('If '))).toBe(false);
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

describe('MAP_SHARED / MAP_PRIVATE', () => {
  it('is asked only for memory that can be either; anonymous memory cannot be MAP_SHARED', () => {
    expect(SHARING_KINDS).toEqual(['shmem', 'file-disk', 'fsdax', 'hugetlb']);
    expect(inputError(q({ memory: 'anon', shared: true }))).toMatch(/use memory shmem/);
    expect(inputError(q({ memory: 'movable', shared: true }))).toMatch(/cannot be MAP_SHARED/);
    expect(inputError(q({ memory: 'anon', shared: false }))).toBeUndefined();
    expect(inputError(q({ memory: 'file-disk', shared: true }))).toBeUndefined();
  });

  it('setupsFor(): the setup named, or every one the answers allow', () => {
    expect(setupsFor(q({ memory: 'anon' }))).toEqual([{ memory: 'anon', shared: false }]);
    expect(setupsFor(q({ memory: 'file-disk' }))).toEqual([
      { memory: 'file-disk', shared: true },
      { memory: 'file-disk', shared: false },
    ]);
    expect(setupsFor(q({ memory: 'hugetlb', shared: false }))).toEqual([{ memory: 'hugetlb', shared: false }]);
    expect(setupsFor(q({}))).toHaveLength(2 + 2 * SHARING_KINDS.length);
    // MAP_SHARED of unknown memory: never anon or movable.
    expect(setupsFor(q({ shared: true })).map((s) => s.memory)).toEqual([...SHARING_KINDS]);
  });
});

describe('refusals: where the kernel refuses the recommended call (check_vma_flags)', () => {
  const rdmaWrite = q({ dma: true, longLived: true, writesData: true });

  it('the issue: a long-term write pin of a MAP_SHARED disk file is refused with -EFAULT, said with the rule', () => {
    const a = advise({ ...rdmaWrite, memory: 'file-disk', shared: true });
    expect(a.case).toBe(2);
    expect(a.refusals).toHaveLength(1);
    const r = a.refusals[0]!;
    expect(r).toMatchObject({
      id: 'dirty-tracked-file-longterm-write',
      memory: 'file-disk',
      shared: true,
      conditional: false,
      call: 'pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)',
      errno: 'EFAULT',
      fn: 'check_vma_flags',
    });
    expect(r.text).toMatch(/check_vma_flags\(\) -> writable_file_mapping_allowed\(\)/);
    expect(r.text).toContain('vma_needs_dirty_tracking()');
    expect(r.alternatives.map((x) => x.id)).toEqual([
      'shmem-memory',
      'hugetlb-memory',
      'anon-memory',
      'private-mapping',
      'short-term',
      'case-3',
    ]);
  });

  it('each alternative is advice without the refusal: other memory, MAP_PRIVATE, a short-term pin, Case 3', () => {
    const a = advise({ ...rdmaWrite, memory: 'file-disk', shared: true });
    const byId = Object.fromEntries(a.refusals[0]!.alternatives.map((x) => [x.id, advise(x.input)]));
    expect(byId['shmem-memory']!.calls[0]!.flags).toEqual(['FOLL_LONGTERM', 'FOLL_WRITE']);
    expect(byId['private-mapping']!.pitfallIds).toContain('private-write-copies');
    expect(byId['short-term']!).toMatchObject({ case: 1, flags: ['FOLL_WRITE'] });
    expect(byId['short-term']!.pitfallIds).toContain('short-term-file-write');
    expect(byId['case-3']!.case).toBe(3);
    for (const alt of a.refusals[0]!.alternatives) {
      expect(inputError(alt.input)).toBeUndefined();
      expect(advise(alt.input).refusals).toEqual([]);
    }
  });

  it('not refused: MAP_PRIVATE of the file, a read-only long-term pin, shmem, hugetlb', () => {
    expect(advise({ ...rdmaWrite, memory: 'file-disk', shared: false }).refusals).toEqual([]);
    expect(advise(q({ dma: true, longLived: true, memory: 'file-disk', shared: true })).refusals).toEqual([]);
    for (const memory of ['shmem', 'hugetlb'] as const)
      expect(advise({ ...rdmaWrite, memory, shared: true }).refusals).toEqual([]);
  });

  it('sharing unknown: the refusal is conditional on MAP_SHARED', () => {
    const a = advise({ ...rdmaWrite, memory: 'file-disk' });
    expect(a.refusals.map((r) => [r.where, r.conditional])).toEqual([['file-disk, MAP_SHARED', true]]);
  });

  it('fsdax MAP_SHARED + FOLL_LONGTERM, read or write: -EOPNOTSUPP; alternatives without a long-term DAX pin', () => {
    for (const writesData of [false, true]) {
      const a = advise(q({ dma: true, longLived: true, writesData, memory: 'fsdax', shared: true }));
      expect(a.refusals.map((r) => [r.id, r.errno, r.fn])).toEqual([
        ['fsdax-longterm', 'EOPNOTSUPP', 'check_vma_flags'],
      ]);
      expect(a.refusals[0]!.text).toContain('vma_is_fsdax()');
      expect(a.refusals[0]!.alternatives.map((x) => x.id)).toEqual([
        'short-term',
        'case-3',
        'shmem-memory',
        'hugetlb-memory',
        'anon-memory',
      ]);
    }
  });

  it('Case 5 kept for long is refused where Case 2 is; Cases 1, 3 and 4 never are', () => {
    expect(advise(q({ writesData: true, longLived: true, memory: 'file-disk', shared: true })).refusals).toHaveLength(
      1,
    );
    for (const input of [
      q({ dma: true, writesData: true }),
      q({ mmuNotifier: true, writesData: true, longLived: true }),
    ])
      for (const memory of MEMORY_KINDS) expect(advise({ ...input, memory }).refusals).toEqual([]);
    expect(advise(q({ structPageOnly: true, memory: 'fsdax' })).refusals).toEqual([]);
  });
});

describe('calls: the recommendation as data', () => {
  it('names the entry point, the flags and the release the text gives', () => {
    const rw = advise(q({ dma: true, longLived: true, writesData: true }));
    expect(rw.calls).toEqual([
      {
        fn: 'pin_user_pages_fast',
        flags: ['FOLL_LONGTERM', 'FOLL_WRITE'],
        release: 'unpin_user_pages_dirty_lock',
        notifier: false,
      },
    ]);
    expect(rw.api).toBe(`${rw.calls[0]!.fn}()`);
    expect(rw.release).toMatch(new RegExp(`^${rw.calls[0]!.release}\\(`));
    expect(callText(rw.calls[0]!)).toBe('pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)');
  });

  it('Case 5 short-term: either pin_user_pages() or pin_user_pages_fast(); Case 4: get + put_page', () => {
    expect(advise(q({ writesData: true })).calls.map((c) => c.fn)).toEqual(['pin_user_pages', 'pin_user_pages_fast']);
    expect(advise(q({ structPageOnly: true })).calls).toEqual([
      { fn: 'get_user_pages_fast', flags: [], release: 'put_page', notifier: false },
    ]);
  });

  it('Case 3: hmm_range_fault() and/or GUP under a notifier, as the device allows', () => {
    const both = advise(q({ mmuNotifier: true, writesData: true }));
    expect(both.calls.map(callText)).toEqual([
      'hmm_range_fault(HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE)',
      'get_user_pages_fast(FOLL_WRITE)',
    ]);
    expect(both.calls.every((c) => c.notifier)).toBe(true);
    expect(advise(q({ mmuNotifier: true, deviceFaults: true })).calls.map((c) => c.release)).toEqual(['nothing']);
    expect(advise(q({ mmuNotifier: true, deviceFaults: false })).calls.map((c) => c.release)).toEqual(['put_page']);
  });
});
