// The release profile's large-folio pin accounting switch (KernelProfile.largeFolioPinAccounting):
// 'pincount' is today's folio->_pincount (v5.7+, commit 47e29d32afba); 'head-bias' is the scheme it
// replaced ("mm/gup: track FOLL_PIN pages", 3faa52c03f44): GUP_PIN_COUNTING_BIAS on the head page for
// every page pinned. Both run through the same grab and release paths of mm/gup.ts.

import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import type { Process } from './task.js';
import { GUP_PIN_COUNTING_BIAS, HPAGE_PMD_NR, PMD_ORDER, PMD_SIZE } from './memmap.js';
import { LINUX_6_18, type KernelProfile } from './profile.js';
import { do_mmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { folio_maybe_dma_pinned, pin_user_pages_fast, unpin_user_page, unpin_user_pages } from './gup.js';
import { FOLL_WRITE } from './foll_flags.js';
import { pte_pfn } from './pgtable.js';
import { ENOMEM } from '../uapi/errno.js';

const HEAD_BIAS: KernelProfile = { ...LINUX_6_18, largeFolioPinAccounting: 'head-bias' };

/** A machine under `profile` with one PMD-mapped anonymous THP, write-faulted; its address and folio. */
function thpWorld(profile: KernelProfile): { m: Machine; p: Process; addr: number; folio: number } {
  const m = new Machine({ memory: 1 << 30 }, profile);
  const p = m.spawn('app');
  const addr = do_mmap(m, p, { size: PMD_SIZE, type: 'anon', align: PMD_SIZE });
  expect(do_madvise(m, p, addr, PMD_SIZE, 'hugepage')).toBe(0);
  expect(userAccess(m, p, addr, PMD_SIZE, true)).toBe(0);
  const folio = pte_pfn(p.mm.pt.pmdLeaf(addr));
  expect(m.mem.folio_order(folio)).toBe(PMD_ORDER);
  return { m, p, addr, folio };
}

describe('KernelProfile.largeFolioPinAccounting', () => {
  it('6.18 (pincount): a full pin of a THP adds 512 to _refcount and _pincount', () => {
    const { m, p, addr, folio } = thpWorld(LINUX_6_18);
    const pages = new Int32Array(HPAGE_PMD_NR);
    expect(pin_user_pages_fast(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
    expect(m.mem.folio_has_pincount(folio)).toBe(true);
    expect(m.mem.refcount[folio]).toBe(1 + HPAGE_PMD_NR);
    expect(m.mem.folioPincount(folio)).toBe(HPAGE_PMD_NR);
  });

  it('head-bias: the head takes GUP_PIN_COUNTING_BIAS per page pinned, no _pincount; unpin gives it back', () => {
    const { m, p, addr, folio } = thpWorld(HEAD_BIAS);
    const pages = new Int32Array(HPAGE_PMD_NR);
    expect(pin_user_pages_fast(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
    expect(m.mem.folio_has_pincount(folio)).toBe(false);
    expect(m.mem.refcount[folio]).toBe(1 + HPAGE_PMD_NR * GUP_PIN_COUNTING_BIAS);
    expect(m.mem.folioPincount(folio)).toBe(0);
    expect(folio_maybe_dma_pinned(m, folio)).toBe(true);
    // Released page by page, as pin_user_pages.rst's vmstat example does.
    for (let i = 0; i < HPAGE_PMD_NR; i++) unpin_user_page(m, pages[i]!);
    expect(m.mem.refcount[folio]).toBe(1);
    expect(folio_maybe_dma_pinned(m, folio)).toBe(false);
    expect(m.vmstat.get('nr_foll_pin_acquired')).toBe(m.vmstat.get('nr_foll_pin_released'));
    expect(m.warns.records).toEqual([]);
  });

  it('head-bias: a THP takes 2^31 / (512 * 1024) = 4096 full pins, the last wrapping _refcount; the next fails', () => {
    const { m, p, addr, folio } = thpWorld(HEAD_BIAS);
    const perPin = HPAGE_PMD_NR * GUP_PIN_COUNTING_BIAS;
    const capacity = 2 ** 31 / perPin;
    const held: Int32Array[] = [];
    for (let i = 0; i < capacity; i++) {
      const pages = new Int32Array(HPAGE_PMD_NR);
      expect(pin_user_pages_fast(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(HPAGE_PMD_NR);
      held.push(pages);
    }
    // 1 (the PMD mapping) + 2^31 wraps to -2^31 + 1: no check before the add (try_grab_folio_fast()).
    expect(m.mem.refcount[folio]).toBe(1 - 2 ** 31);
    expect(folio_maybe_dma_pinned(m, folio)).toBe(true);
    const pages = new Int32Array(HPAGE_PMD_NR);
    expect(pin_user_pages_fast(m, p, addr, HPAGE_PMD_NR, FOLL_WRITE, pages)).toBe(-ENOMEM);
    expect(m.why?.fn).toBe('try_grab_folio');
    expect(m.warns.records.map((w) => w.fn)).toEqual(['try_get_folio', 'try_grab_folio']);
    for (const h of held) unpin_user_pages(m, h, HPAGE_PMD_NR);
    expect(m.mem.refcount[folio]).toBe(1);
  });
});
