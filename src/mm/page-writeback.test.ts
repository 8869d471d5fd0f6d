import { describe, it, expect } from 'vitest';
import { Machine } from './machine.js';
import { do_mmap } from './mmap.js';
import { userAccess } from './user_access.js';
import { writebackFile } from './page-writeback.js';
import { memfd_pin_folios } from './gup_memfd.js';
import { unpin_folios, folio_maybe_dma_pinned } from './gup.js';
import { PAGE_SIZE } from './memmap.js';
import { lookupPage } from '../scenario/inspect.js';

describe('page cache writeback (folio_clear_dirty_for_io + folio_mkclean)', () => {
  it('a store to a shared disk-file mapping dirties the folio; writeback cleans and write-protects it', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const f = m.newFile('disk', 'data', 4);
    f.users++;
    const a = do_mmap(m, p, { size: 4 * PAGE_SIZE, type: 'file', file: f, shared: true });
    expect(userAccess(m, p, a, PAGE_SIZE, false)).toBe(0);
    // Read fault on a dirty-tracked shared mapping: mapped read-only (writenotify).
    expect(lookupPage(p, a)!.writable).toBe(false);
    expect(userAccess(m, p, a, PAGE_SIZE, true)).toBe(0);
    const pfn = lookupPage(p, a)!.pfn;
    expect(m.mem.folio_test_dirty(pfn)).toBe(true);
    expect(lookupPage(p, a)!.writable).toBe(true);
    expect(writebackFile(m, f)).toBe(1);
    expect(m.mem.folio_test_dirty(pfn)).toBe(false);
    expect(lookupPage(p, a)!.writable).toBe(false);
    // The next store faults (wp_page_shared) and dirties it again.
    expect(userAccess(m, p, a, PAGE_SIZE, true)).toBe(0);
    expect(m.mem.folio_test_dirty(pfn)).toBe(true);
    expect(m.vmstat.get('nr_dirty')).toBe(1);
  });
  it('tmpfs has no writeback', () => {
    const m = new Machine({ memory: 256 << 20 });
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: PAGE_SIZE, type: 'memfd' });
    userAccess(m, p, a, PAGE_SIZE, true);
    expect(writebackFile(m, p.mm.vma_lookup(a)!.file!)).toBe(0);
  });
});

describe('memfd_pin_folios', () => {
  it('pins one unit per folio, allocating missing ones, without touching MMF_HAS_PINNED', () => {
    const m = new Machine({ memory: 256 << 20 });
    const f = m.newFile('tmpfs', 'memfd:x', 8);
    const folios = new Int32Array(8);
    const off = { value: -1 };
    const n = memfd_pin_folios(m, f, 100, 3 * PAGE_SIZE + 5, folios, 8, off);
    expect(n).toBe(4);
    expect(off.value).toBe(100);
    expect(m.vmstat.get('nr_foll_pin_acquired')).toBe(4);
    // Small folios: page cache reference + bias, + the lru_add batch's (new shmem folios).
    expect(m.mem.refcount[folios[0]!]).toBe(1 + 1024 + 1);
    expect(folio_maybe_dma_pinned(m, folios[3]!)).toBe(true);
    unpin_folios(m, folios, n);
    expect(m.vmstat.get('nr_foll_pin_released')).toBe(4);
  });
  it('hugetlbfs: one pin for a whole 2 MiB folio', () => {
    const m = new Machine({ memory: 256 << 20, hugetlb: { '2M': 2 } });
    const f = m.newFile('hugetlbfs', 'memfd:h', 1024, 9);
    const folios = new Int32Array(4);
    const n = memfd_pin_folios(m, f, 0, 1024 * PAGE_SIZE - 1, folios, 4, { value: 0 });
    expect(n).toBe(2);
    expect(m.mem.folioPincount(folios[0]!)).toBe(1);
    expect(m.vmstat.get('nr_foll_pin_acquired')).toBe(2);
  });
  it('argument checks return -EINVAL', () => {
    const m = new Machine({ memory: 256 << 20 });
    const shm = m.newFile('tmpfs', 'memfd:y', 2);
    const disk = m.newFile('disk', 'f', 2);
    const folios = new Int32Array(2);
    expect(memfd_pin_folios(m, shm, 10, 5, folios, 2, { value: 0 })).toBe(-22);
    expect(memfd_pin_folios(m, shm, 0, 5, folios, 0, { value: 0 })).toBe(-22);
    expect(memfd_pin_folios(m, disk, 0, 5, folios, 2, { value: 0 })).toBe(-22);
    expect(memfd_pin_folios(m, shm, 0, 2 * PAGE_SIZE, folios, 2, { value: 0 })).toBe(-22);
    expect(memfd_pin_folios(m, null, 0, 5, folios, 2, { value: 0 })).toBe(-22);
  });
});
