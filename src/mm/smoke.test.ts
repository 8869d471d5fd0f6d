import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { do_mmap } from './mmap.js';
import { do_madvise } from './madvise.js';
import { userAccess } from './user_access.js';
import { pin_user_pages, unpin_user_pages, folio_maybe_dma_pinned } from './gup.js';
import { FOLL_WRITE } from './foll_flags.js';
import { dump_page } from './debug.js';

describe('smoke', () => {
  it('doc accounting', () => {
    const m = new Machine({ memory: 1 << 30 });
    const p = m.spawn('app');
    const small = do_mmap(m, p, { size: 64 << 10, type: 'anon' });
    expect(do_madvise(m, p, small, 64 << 10, 'nohugepage')).toBe(0);
    expect(userAccess(m, p, small, 64 << 10, true)).toBe(0);
    const huge = do_mmap(m, p, { size: 2 << 20, type: 'anon', align: 2 << 20 });
    expect(do_madvise(m, p, huge, 2 << 20, 'hugepage')).toBe(0);
    expect(userAccess(m, p, huge, 2 << 20, true)).toBe(0);
    const ps = new Int32Array(1);
    expect(pin_user_pages(m, p, small, 1, FOLL_WRITE, ps)).toBe(1);
    expect(m.mem.refcount[ps[0]!]).toBe(1025);
    const ph = new Int32Array(512);
    expect(pin_user_pages(m, p, huge, 512, FOLL_WRITE, ph)).toBe(512);
    const f = m.mem.page_folio(ph[7]!);
    expect(m.mem.folio_order(f)).toBe(9);
    expect(m.mem.folioPincount(f)).toBe(512);
    expect(m.mem.refcount[f]).toBe(513);
    expect(m.vmstat.get('nr_foll_pin_acquired')).toBe(513);
    console.log(dump_page(m, ph[7]!, 'test'));
    unpin_user_pages(m, ph, 512);
    unpin_user_pages(m, ps, 1);
    expect(m.vmstat.get('nr_foll_pin_released')).toBe(513);
    expect(folio_maybe_dma_pinned(m, f)).toBe(false);
    expect(m.warns.records).toEqual([]);
  });
});
