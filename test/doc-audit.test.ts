// One test per claim of /work/shared/spec/doc-audit.md (Documentation/core-api/pin_user_pages.rst
// checked against mm/gup.c, Asphaltt/mm @ 2b4cbe0a) that the model can check. Each test name starts
// with the claim number. Claims 15, 19 and 24 (usage advice, MMU-notifier design, the selftest
// program) have nothing the model can execute.

import { describe, it, expect } from 'vitest';
import { Machine, type MachineConfig } from '../src/mm/machine.js';
import { ZERO_PFN, GUP_PIN_COUNTING_BIAS, HPAGE_PMD_NR, PAGE_SIZE, PMD_ORDER, PMD_SIZE } from '../src/mm/memmap.js';
import { type Process, Process as ProcessClass } from '../src/mm/task.js';
import { EFAULT, EINTR, EINVAL, ENOMEM, EOPNOTSUPP } from '../src/uapi/errno.js';
import { kernel_clone } from '../src/kernel/fork.js';
import { do_mmap } from '../src/mm/mmap.js';
import { do_madvise } from '../src/mm/madvise.js';
import { userAccess } from '../src/mm/user_access.js';
import * as gup from '../src/mm/gup.js';
import {
  get_user_pages,
  get_user_pages_remote,
  get_user_pages_unlocked,
  get_user_pages_fast,
  get_user_pages_fast_only,
  pin_user_pages,
  pin_user_pages_remote,
  pin_user_pages_unlocked,
  pin_user_pages_fast,
  unpin_user_page,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
  unpin_folio,
  unpin_folios,
  folio_add_pin,
  put_page,
  folio_maybe_dma_pinned,
  pageMaybeDmaPinned,
  folio_is_longterm_pinnable,
} from '../src/mm/gup.js';
import {
  FOLL_WRITE,
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_PIN,
  FOLL_PCI_P2PDMA,
  INTERNAL_GUP_FLAGS,
} from '../src/mm/foll_flags.js';
import { pte_pfn } from '../src/mm/pgtable.js';
import { dump_page } from '../src/mm/debug.js';
import { lru_add_drain } from '../src/mm/swap.js';

// ---------------------------------------------------------------------------------------------
// Helpers

function world(cfg: Partial<MachineConfig> = {}): { m: Machine; p: Process } {
  const m = new Machine({ memory: 1 << 30, ...cfg });
  return { m, p: m.spawn('app') };
}

/** Small pages faulted in, then the LRU batch that took them drained (as long after the faults). */
function small(m: Machine, p: Process, npages: number, fault: 'write' | 'read' = 'write'): number {
  const len = npages * PAGE_SIZE;
  const addr = do_mmap(m, p, { size: len, type: 'anon' });
  expect(do_madvise(m, p, addr, len, 'nohugepage')).toBe(0);
  expect(userAccess(m, p, addr, len, fault === 'write')).toBe(0);
  lru_add_drain(m);
  return addr;
}

function thp(m: Machine, p: Process, fault: 'write' | 'read' = 'write'): number {
  const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
  expect(do_madvise(m, p, addr, PMD_SIZE, 'hugepage')).toBe(0);
  expect(userAccess(m, p, addr, PMD_SIZE, fault === 'write')).toBe(0);
  expect(p.mm.pt.pmdLeaf(addr)).not.toBe(0);
  return addr;
}

function pfnAt(p: Process, addr: number): number {
  const leaf = p.mm.pt.pmdLeaf(addr);
  if (leaf) return pte_pfn(leaf) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
  return pte_pfn(p.mm.pt.pte(addr));
}

const folioAt = (m: Machine, p: Process, addr: number) => m.mem.page_folio(pfnAt(p, addr));
const buf = (n: number) => new Int32Array(n).fill(-1);
const acquired = (m: Machine) => m.vmstat.get('nr_foll_pin_acquired');
const released = (m: Machine) => m.vmstat.get('nr_foll_pin_released');
const warnFns = (m: Machine) => m.warns.records.map((w) => w.fn);

// ---------------------------------------------------------------------------------------------

describe('Documentation/core-api/pin_user_pages.rst audit (doc-audit.md)', () => {
  it(
    'claim 1: the pinning API is wider than pin_user_pages/_fast/_remote: pin_user_pages_unlocked, ' +
      'folio_add_pin(s), unpin_folio(s), unpin_user_folio exist',
    () => {
      for (const name of [
        'pin_user_pages',
        'pin_user_pages_fast',
        'pin_user_pages_remote',
        'pin_user_pages_unlocked',
        'folio_add_pin',
        'folio_add_pins',
        'unpin_folio',
        'unpin_folios',
        'unpin_user_folio',
      ] as const) {
        expect(typeof gup[name], name).toBe('function');
      }
      const { m, p } = world();
      const addr = small(m, p, 1);
      const pages = buf(1);
      expect(pin_user_pages_unlocked(m, p, addr, 1, pages, 0)).toBe(1);
      expect(folio_maybe_dma_pinned(m, pages[0]!)).toBe(true);
    },
  );

  it(
    'claim 2: FOLL_PIN is internal (INTERNAL_GUP_FLAGS): passing it -> WARN_ON_ONCE and failure (-EINVAL; 0 for ' +
      'pin_user_pages/_remote/_unlocked)',
    () => {
      expect(INTERNAL_GUP_FLAGS & FOLL_PIN).toBe(FOLL_PIN);
      const { m, p } = world();
      const q = m.spawn('other');
      const addr = small(m, p, 1);
      const pages = buf(1);
      expect(get_user_pages(m, p, addr, 1, FOLL_PIN, pages)).toBe(-EINVAL);
      expect(pin_user_pages_fast(m, p, addr, 1, FOLL_PIN, pages)).toBe(-EINVAL);
      expect(pin_user_pages(m, p, addr, 1, FOLL_PIN, pages)).toBe(0);
      expect(pin_user_pages_remote(m, p, addr, 1, FOLL_PIN, pages, undefined, q)).toBe(0);
      expect(pin_user_pages_unlocked(m, p, addr, 1, pages, FOLL_PIN)).toBe(0);
      expect(warnFns(m)).toEqual(Array(5).fill('is_valid_gup_args'));
      expect(pages[0]).toBe(-1);
      expect(acquired(m)).toBe(0);
    },
  );

  it(
    'claim 3: FOLL_LONGTERM may be set by callers, but only with FOLL_PIN: get_user_pages* + FOLL_LONGTERM -> WARN, ' +
      '-EINVAL; FOLL_LONGTERM|FOLL_PCI_P2PDMA rejected',
    () => {
      const { m, p } = world();
      const q = m.spawn('other');
      const addr = small(m, p, 1);
      const pages = buf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(1);
      unpin_user_pages(m, pages, 1);
      expect(m.warns.records).toEqual([]);
      expect(get_user_pages(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(-EINVAL);
      expect(get_user_pages_remote(m, p, addr, 1, FOLL_LONGTERM, pages, undefined, q)).toBe(-EINVAL);
      expect(get_user_pages_unlocked(m, p, addr, 1, pages, FOLL_LONGTERM)).toBe(-EINVAL);
      expect(get_user_pages_fast(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(-EINVAL);
      expect(get_user_pages_fast_only(m, p, addr, 1, FOLL_LONGTERM, pages)).toBe(-EINVAL);
      expect(pin_user_pages(m, p, addr, 1, FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages)).toBe(0);
      expect(pin_user_pages_fast(m, p, addr, 1, FOLL_LONGTERM | FOLL_PCI_P2PDMA, pages)).toBe(-EINVAL);
      expect(warnFns(m)).toEqual(Array(7).fill('is_valid_gup_args'));
    },
  );

  it(
    'claim 4: FOLL_PIN and FOLL_GET are mutually exclusive per call (WARN + failure), but different callers may mix ' +
      'them on the same page',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 1);
      const pages = buf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_GET, pages)).toBe(0);
      expect(pin_user_pages_fast(m, p, addr, 1, FOLL_GET, pages)).toBe(-EINVAL);
      expect(warnFns(m)).toEqual(['is_valid_gup_args', 'is_valid_gup_args']);
      const f = folioAt(m, p, addr);
      const got = buf(1);
      const pinned = buf(1);
      expect(get_user_pages(m, p, addr, 1, 0, got)).toBe(1);
      expect(pin_user_pages(m, p, addr, 1, 0, pinned)).toBe(1);
      expect(got[0]).toBe(pinned[0]);
      expect(m.mem.refcount[f]).toBe(1 + 1 + GUP_PIN_COUNTING_BIAS);
      put_page(m, got[0]!);
      unpin_user_page(m, pinned[0]!);
      expect(m.mem.refcount[f]).toBe(1);
      expect(m.warns.records.length).toBe(2);
    },
  );

  it('claim 5: FOLL_PIN works like FOLL_GET except for the counting, the zero page and MMF_HAS_PINNED', () => {
    const { m, p } = world();
    const addr = small(m, p, 1);
    const zero = small(m, p, 1, 'read');
    const f = folioAt(m, p, addr);
    const zrc = m.mem.refcount[ZERO_PFN]!;
    const g = buf(2);
    expect(get_user_pages(m, p, addr, 1, 0, g)).toBe(1);
    expect(get_user_pages(m, p, zero, 1, 0, g.subarray(1))).toBe(1);
    const pn = buf(2);
    expect(pin_user_pages(m, p, addr, 1, 0, pn)).toBe(1);
    expect(pin_user_pages(m, p, zero, 1, 0, pn.subarray(1))).toBe(1);
    expect([...g]).toEqual([...pn]); // same pages returned
    expect(m.mem.refcount[f]).toBe(1 + 1 + GUP_PIN_COUNTING_BIAS); // GET +1, PIN +1024
    expect(m.mem.refcount[ZERO_PFN]).toBe(zrc + 1); // GET counts on the zero page, PIN does not
    expect(acquired(m)).toBe(1);
    expect(p.mm.has_pinned).toBe(true);
  });

  it(
    'claim 6: FOLL_PIN is a prerequisite of FOLL_LONGTERM (pin_user_pages*(FOLL_LONGTERM) pins; no get_* variant ' +
      'accepts it)',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 2);
      const pages = buf(2);
      expect(pin_user_pages_fast(m, p, addr, 2, FOLL_LONGTERM | FOLL_WRITE, pages)).toBe(2);
      expect(folio_maybe_dma_pinned(m, pages[0]!)).toBe(true);
      expect(get_user_pages_fast(m, p, addr, 2, FOLL_LONGTERM | FOLL_WRITE, buf(2))).toBe(-EINVAL);
    },
  );

  it(
    'claim 7: pin_user_pages* OR in FOLL_PIN, need a non-NULL pages[] (WARN + failure), and add ' +
      'GUP_PIN_COUNTING_BIAS to each small page',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 3);
      expect(pin_user_pages(m, p, addr, 3, 0, null)).toBe(0);
      expect(pin_user_pages_fast(m, p, addr, 3, 0, null)).toBe(-EINVAL);
      expect(warnFns(m)).toEqual(['is_valid_gup_args', 'is_valid_gup_args']);
      const pages = buf(3);
      expect(pin_user_pages(m, p, addr, 3, 0, pages)).toBe(3);
      for (const pg of pages) expect(m.mem.refcount[pg]).toBe(1 + GUP_PIN_COUNTING_BIAS);
      expect(p.mm.has_pinned).toBe(true);
    },
  );

  it('claim 8: large folios do not use the bias: each pin adds 1 to _pincount and 1 to _refcount', () => {
    const { m, p } = world();
    const addr = thp(m, p);
    const f = folioAt(m, p, addr);
    const pages = buf(3);
    expect(pin_user_pages(m, p, addr + 40 * PAGE_SIZE, 3, 0, pages)).toBe(3);
    expect(m.mem.folioPincount(f)).toBe(3);
    expect(m.mem.refcount[f]).toBe(1 + 3);
  });

  it(
    'claim 9: large folios have no false positives: thousands of FOLL_GET refs on a THP are not ' + '"maybe pinned"',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      const pages = buf(HPAGE_PMD_NR);
      for (let i = 0; i < 4; i++) expect(get_user_pages(m, p, addr, HPAGE_PMD_NR, 0, pages)).toBe(HPAGE_PMD_NR);
      expect(m.mem.refcount[f]).toBe(1 + 4 * HPAGE_PMD_NR);
      expect(folio_maybe_dma_pinned(m, f)).toBe(false);
    },
  );

  it(
    'claim 10: get_user_pages/_remote/_unlocked add FOLL_GET only when pages[] is given; the fast GET variants ' +
      'always set it',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 1);
      const f = folioAt(m, p, addr);
      expect(get_user_pages(m, p, addr, 1, 0, null)).toBe(1);
      expect(get_user_pages_unlocked(m, p, addr, 1, null, 0)).toBe(1);
      // The second touch activated the page (classic LRU): the per-CPU batch's reference, not GUP's.
      lru_add_drain(m);
      expect(m.mem.refcount[f]).toBe(1); // no reference without pages[]
      const pages = buf(1);
      expect(get_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
      expect(m.mem.refcount[f]).toBe(2);
      expect(get_user_pages_fast(m, p, addr, 1, 0, null)).toBe(-EINVAL); // FOLL_GET set, pages[] missing
      expect(warnFns(m)).toEqual(['is_valid_gup_args']);
    },
  );

  it('claim 11: GUP_PIN_COUNTING_BIAS is 1024 (1 << 10), the refcount step of one small-page pin', () => {
    expect(GUP_PIN_COUNTING_BIAS).toBe(1024);
    const { m, p } = world();
    const addr = small(m, p, 1);
    const f = folioAt(m, p, addr);
    const before = m.mem.refcount[f]!;
    expect(pin_user_pages(m, p, addr, 1, 0, buf(1))).toBe(1);
    expect(m.mem.refcount[f]! - before).toBe(1 << 10);
  });

  it('claim 12: 1024 get_page()-style references look like one pin (fuzzy small-folio test)', () => {
    const { m, p } = world();
    const addr = small(m, p, 1);
    const f = folioAt(m, p, addr);
    const pages = buf(1);
    for (let i = 0; i < GUP_PIN_COUNTING_BIAS; i++) expect(get_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
    expect(acquired(m)).toBe(0);
    expect(folio_maybe_dma_pinned(m, f)).toBe(true);
  });

  it(
    'claim 13: 31 - 10 = 21 bits: a small folio with one mapping ref takes 2^21 pins before the signed refcount ' +
      'goes negative; then grabs refuse',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 1);
      const f = folioAt(m, p, addr);
      const pins = 2 ** 21; // floor((2^31 - 2) / 1024) + 1
      expect(Math.floor((2 ** 31 - 2) / GUP_PIN_COUNTING_BIAS) + 1).toBe(pins);
      // Stand in for the first pins - 1 pins (1 mapping ref + (pins - 1) * 1024).
      m.mem.refcount[f] = 1 + (pins - 1) * GUP_PIN_COUNTING_BIAS;
      expect(m.mem.refcount[f]! > 0).toBe(true);
      const pages = buf(1);
      expect(pin_user_pages(m, p, addr, 1, 0, pages)).toBe(1); // pin number 2^21
      expect(m.mem.refcount[f]! < 0).toBe(true);
      expect(folio_maybe_dma_pinned(m, f)).toBe(true);
      expect(pin_user_pages(m, p, addr, 1, 0, pages)).toBe(-ENOMEM);
      expect(warnFns(m)).toEqual(['try_grab_folio']);
    },
  );

  it(
    'claim 14: the zero page gets a "pretend pin": pages[] holds it, refcount and vmstat untouched, unpin does ' +
      'nothing; the huge zero folio is really pinned; R/O LONGTERM pins in COW mappings unshare it',
    () => {
      const { m, p } = world();
      const z = small(m, p, 1, 'read');
      const rc = m.mem.refcount[ZERO_PFN]!;
      const pages = buf(1);
      expect(pin_user_pages(m, p, z, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(ZERO_PFN);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
      unpin_user_pages(m, pages, 1);
      expect(m.mem.refcount[ZERO_PFN]).toBe(rc);
      expect([acquired(m), released(m)]).toEqual([0, 0]);
      // The huge zero folio (PMD) is not is_zero_folio(): pinned and counted like any large folio.
      const hz = thp(m, p, 'read');
      const hzf = folioAt(m, p, hz);
      expect(hzf).toBe(m.huge_zero_folio);
      const before = m.mem.refcount[hzf]!;
      expect(pin_user_pages(m, p, hz, 2, 0, buf(2))).toBe(2);
      expect(m.mem.folioPincount(hzf)).toBe(2);
      expect(m.mem.refcount[hzf]).toBe(before + 2);
      expect(acquired(m)).toBe(2);
      // FOLL_LONGTERM R/O pin in a private mapping: unshare, never the zero page.
      const z2 = small(m, p, 1, 'read');
      expect(pin_user_pages(m, p, z2, 1, FOLL_LONGTERM, pages)).toBe(1);
      expect(pages[0]).not.toBe(ZERO_PFN);
      expect(m.mem.folio_test_anon(pages[0]!)).toBe(true);
    },
  );

  it(
    'claim 16: CASE 1 (Direct IO) pins with FOLL_PIN via pin_user_pages_fast: a short-term pin, no migration even ' +
      'from ZONE_MOVABLE; released with unpin_user_pages_dirty_lock',
    () => {
      const { m, p } = world({ movable: 512 << 20 });
      const addr = small(m, p, 2);
      const orig = [pfnAt(p, addr), pfnAt(p, addr + PAGE_SIZE)];
      expect(orig.map((pfn) => m.alloc.zoneOf(pfn))).toEqual(['MOVABLE', 'MOVABLE']);
      const pages = buf(2);
      expect(pin_user_pages_fast(m, p, addr, 2, FOLL_WRITE, pages)).toBe(2);
      expect([...pages]).toEqual(orig);
      expect(folio_maybe_dma_pinned(m, pages[0]!)).toBe(true);
      unpin_user_pages_dirty_lock(m, pages, 2, true);
      expect(m.mem.folio_test_dirty(orig[0]!)).toBe(true);
      expect(m.mem.refcount[orig[0]!]).toBe(1);
      expect(released(m)).toBe(acquired(m));
    },
  );

  it(
    'claim 17: CASE 2 (RDMA) pins FOLL_PIN|FOLL_LONGTERM via pin_user_pages_fast: pages in ZONE_MOVABLE are ' +
      'migrated first, the process maps the new pages',
    () => {
      const { m, p } = world({ movable: 512 << 20 });
      const addr = small(m, p, 2);
      expect(m.alloc.zoneOf(pfnAt(p, addr))).toBe('MOVABLE');
      const pages = buf(2);
      expect(pin_user_pages_fast(m, p, addr, 2, FOLL_LONGTERM | FOLL_WRITE, pages)).toBe(2);
      lru_add_drain(m); // the retry's second touch parked the new pages in the LRU activate batch
      for (let i = 0; i < 2; i++) {
        expect(m.alloc.zoneOf(pages[i]!)).not.toBe('MOVABLE');
        expect(folio_is_longterm_pinnable(m, pages[i]!)).toBe(true);
        expect(pfnAt(p, addr + i * PAGE_SIZE)).toBe(pages[i]);
        expect(m.mem.refcount[pages[i]!]).toBe(1 + GUP_PIN_COUNTING_BIAS);
      }
      // The first pass pinned, unpinned and migrated; the retry pinned again (accounting.md §4).
      expect(acquired(m)).toBe(4);
      expect(released(m)).toBe(2);
    },
  );

  it(
    'claim 18: DAX pages cannot be longterm pinned: FOLL_LONGTERM on an fsdax VMA -> -EOPNOTSUPP; fsdax folios are ' +
      'not longterm-pinnable',
    () => {
      const { m, p } = world({ pmem: 64 << 20 });
      const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'fsdax' });
      expect(userAccess(m, p, addr, PAGE_SIZE, true)).toBe(0);
      const pages = buf(1);
      expect(pin_user_pages(m, p, addr, 1, FOLL_LONGTERM | FOLL_WRITE, pages)).toBe(-EOPNOTSUPP);
      expect(pin_user_pages_fast(m, p, addr, 1, FOLL_LONGTERM | FOLL_WRITE, pages)).toBe(-EOPNOTSUPP);
      expect(m.why?.fn).toBe('check_vma_flags');
      expect(pin_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(1);
      expect(folio_is_longterm_pinnable(m, pages[0]!)).toBe(false);
    },
  );

  it('claim 20: CASE 4 (struct page manipulation only) uses plain FOLL_GET: no pin is recorded anywhere', () => {
    const { m, p } = world();
    const addr = small(m, p, 2);
    const pages = buf(2);
    expect(get_user_pages_fast(m, p, addr, 2, 0, pages)).toBe(2);
    expect(folio_maybe_dma_pinned(m, pages[0]!)).toBe(false);
    expect(p.mm.has_pinned).toBe(false);
    expect(acquired(m)).toBe(0);
    put_page(m, pages[0]!);
    put_page(m, pages[1]!);
    expect(m.mem.refcount[pages[0]!]).toBe(1);
  });

  it(
    'claim 21: CASE 5 ("write to the data needs FOLL_PIN") is not enforced: get_user_pages(FOLL_WRITE) with ' +
      'FOLL_GET succeeds',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 1);
      const pages = buf(1);
      expect(get_user_pages(m, p, addr, 1, FOLL_WRITE, pages)).toBe(1);
      expect(get_user_pages_fast(m, p, addr, 1, FOLL_WRITE, pages)).toBe(1);
      expect(m.warns.records).toEqual([]);
      expect(folio_maybe_dma_pinned(m, pages[0]!)).toBe(false);
    },
  );

  it(
    'claim 22: the page-based test answers for the folio: page_maybe_dma_pinned(tail) == ' +
      'folio_maybe_dma_pinned(page_folio(tail))',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      expect(pageMaybeDmaPinned(m, f + 300)).toBe(false);
      const pages = buf(1);
      expect(pin_user_pages(m, p, addr + 5 * PAGE_SIZE, 1, 0, pages)).toBe(1);
      expect(pageMaybeDmaPinned(m, f + 300)).toBe(true);
      expect(pageMaybeDmaPinned(m, f + 300)).toBe(folio_maybe_dma_pinned(m, f));
    },
  );

  it(
    'claim 23: FOLL_GET < FOLL_PIN < FOLL_PIN|FOLL_LONGTERM are progressively stricter (fsdax: GET and PIN pass, ' +
      'LONGTERM refused; zero page: LONGTERM unshares)',
    () => {
      const { m, p } = world({ pmem: 16 << 20 });
      const dax = do_mmap(m, p, { size: PAGE_SIZE, type: 'fsdax' });
      expect(userAccess(m, p, dax, PAGE_SIZE, true)).toBe(0);
      const pages = buf(1);
      expect(get_user_pages(m, p, dax, 1, FOLL_WRITE, pages)).toBe(1);
      expect(pin_user_pages(m, p, dax, 1, FOLL_WRITE, pages)).toBe(1);
      expect(pin_user_pages(m, p, dax, 1, FOLL_WRITE | FOLL_LONGTERM, pages)).toBe(-EOPNOTSUPP);
      const z = small(m, p, 1, 'read');
      expect(get_user_pages(m, p, z, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(ZERO_PFN);
      expect(pin_user_pages(m, p, z, 1, 0, pages)).toBe(1);
      expect(pages[0]).toBe(ZERO_PFN);
      expect(pin_user_pages(m, p, z, 1, FOLL_LONGTERM, pages)).toBe(1);
      expect(pages[0]).not.toBe(ZERO_PFN);
    },
  );

  it('claim 25: the counters are lines of /proc/vmstat ("nr_foll_pin_acquired N"), not files', () => {
    const { m, p } = world();
    const addr = small(m, p, 3);
    const pages = buf(3);
    expect(pin_user_pages(m, p, addr, 3, 0, pages)).toBe(3);
    unpin_user_page(m, pages[0]!);
    const lines = m.vmstat.text().split('\n');
    expect(lines).toContain('nr_foll_pin_acquired 3');
    expect(lines).toContain('nr_foll_pin_released 1');
  });

  it(
    'claim 26: acquired == released after matched pin/unpin; held longterm pins keep them apart; folio_add_pin adds ' +
      '1 to released only; the zero page counts in neither',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 2);
      const pages = buf(2);
      expect(pin_user_pages(m, p, addr, 2, 0, pages)).toBe(2);
      unpin_user_pages(m, pages, 2);
      expect(acquired(m)).toBe(released(m));
      const held = buf(2);
      expect(pin_user_pages(m, p, addr, 2, FOLL_LONGTERM, held)).toBe(2);
      expect(acquired(m) - released(m)).toBe(2);
      unpin_user_pages(m, held, 2);
      const one = buf(1);
      expect(pin_user_pages(m, p, addr, 1, 0, one)).toBe(1);
      folio_add_pin(m, m.mem.page_folio(one[0]!));
      unpin_folio(m, m.mem.page_folio(one[0]!));
      unpin_folio(m, m.mem.page_folio(one[0]!));
      expect(released(m) - acquired(m)).toBe(1);
      const before = [acquired(m), released(m)];
      const z = small(m, p, 1, 'read');
      expect(pin_user_pages(m, p, z, 1, 0, one)).toBe(1);
      unpin_user_pages(m, one, 1);
      expect([acquired(m), released(m)]).toEqual(before);
    },
  );

  it(
    'claim 27: nr_foll_pin_acquired counts a huge page once per subpage pinned (_pincount and ' + 'refcount likewise)',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      expect(m.mem.folio_order(f)).toBe(PMD_ORDER);
      const pages = buf(HPAGE_PMD_NR);
      expect(pin_user_pages(m, p, addr, HPAGE_PMD_NR, 0, pages)).toBe(HPAGE_PMD_NR);
      expect(acquired(m)).toBe(HPAGE_PMD_NR);
      expect(m.mem.folioPincount(f)).toBe(HPAGE_PMD_NR);
      expect(m.mem.refcount[f]).toBe(1 + HPAGE_PMD_NR);
    },
  );

  it(
    'claim 28: released counts PAGE_SIZE units: a huge pin then unpin of each page balances; unpin_folios counts ' +
      'one per folio entry',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      const pages = buf(HPAGE_PMD_NR);
      expect(pin_user_pages(m, p, addr, HPAGE_PMD_NR, 0, pages)).toBe(HPAGE_PMD_NR);
      for (const pg of pages) unpin_user_page(m, pg);
      expect(released(m)).toBe(acquired(m));
      expect(m.mem.folioPincount(f)).toBe(0);
      expect(pin_user_pages(m, p, addr, 2, 0, pages)).toBe(2);
      unpin_folios(m, Int32Array.from([f, f]), 2);
      expect(released(m)).toBe(HPAGE_PMD_NR + 2);
      expect(released(m)).toBe(acquired(m));
    },
  );

  it(
    'claim 29: dump_page prints the exact _pincount of a large folio on its "head:" line; small folios have ' +
      'no such line',
    () => {
      const { m, p } = world();
      const addr = thp(m, p);
      const f = folioAt(m, p, addr);
      const pages = buf(37);
      expect(pin_user_pages(m, p, addr, 37, 0, pages)).toBe(37);
      const text = dump_page(m, f + 3);
      const head = text.split('\n').find((l) => l.startsWith('head:'));
      expect(head).toMatch(/\bpincount:37\b/);
      const s = small(m, p, 1);
      expect(pin_user_pages(m, p, s, 1, 0, buf(1))).toBe(1);
      const smallText = dump_page(m, pfnAt(p, s));
      expect(smallText.split('\n').some((l) => l.startsWith('head:'))).toBe(false);
      expect(smallText).toMatch(new RegExp(`refcount:${1 + GUP_PIN_COUNTING_BIAS}\\b`));
    },
  );

  it('claim 30: not every page GUP can reach can be pinned: VM_IO/VM_PFNMAP mappings -> -EFAULT', () => {
    const { m, p } = world();
    const addr = do_mmap(m, p, { size: PAGE_SIZE, type: 'pfnmap' });
    expect(pin_user_pages(m, p, addr, 1, 0, buf(1))).toBe(-EFAULT);
    expect(pin_user_pages_fast(m, p, addr, 1, 0, buf(1))).toBe(-EFAULT);
    expect(m.why?.fn).toBe('check_vma_flags');
  });

  it(
    'surprise: MMF_HAS_PINNED stays set forever, so fork copies an exclusive anon page with >= 1024 plain refs ' +
      '(false positive) instead of sharing it',
    () => {
      const { m, p } = world();
      const a = small(m, p, 1);
      const b = small(m, p, 1);
      const pa = pfnAt(p, a);
      const pb = pfnAt(p, b);
      // One pin/unpin anywhere sets the flag for good.
      const one = buf(1);
      expect(pin_user_pages(m, p, b, 1, 0, one)).toBe(1);
      unpin_user_pages(m, one, 1);
      expect(p.mm.has_pinned).toBe(true);
      // 1024 plain references on page a: looks pinned.
      const pages = buf(1);
      for (let i = 0; i < GUP_PIN_COUNTING_BIAS; i++) expect(get_user_pages(m, p, a, 1, 0, pages)).toBe(1);
      expect(folio_maybe_dma_pinned(m, pa)).toBe(true);
      const child = kernel_clone(m, p, 'child');
      expect(child).toBeInstanceOf(ProcessClass);
      const c = child as Process;
      expect(pfnAt(c, a)).not.toBe(pa); // copied early
      expect(pfnAt(c, b)).toBe(pb); // not maybe-pinned: shared COW
    },
  );

  it(
    'surprise: GUP-fast with FOLL_PIN pins nothing while fork write-protects (odd write_protect_seq) and the slow ' +
      'path takes over',
    () => {
      const { m, p } = world();
      const addr = small(m, p, 1);
      p.fatalSignalPending = true; // the slow path would report -EINTR; the fast path never looks
      const pages = buf(1);
      expect(pin_user_pages_fast(m, p, addr, 1, 0, pages)).toBe(1);
      unpin_user_pages(m, pages, 1);
      p.mm.write_protect_seq++;
      expect(pin_user_pages_fast(m, p, addr, 1, 0, pages)).toBe(-EINTR);
      p.mm.write_protect_seq++;
      expect(pin_user_pages_fast(m, p, addr, 1, 0, pages)).toBe(1);
    },
  );
});
