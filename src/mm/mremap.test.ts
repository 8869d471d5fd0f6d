// mremap (mm/mremap.c) and mlock (mm/mlock.c): errno rules as measured on Linux 6.18, and what a
// move does to pinned pages.
import { describe, it, expect } from 'vitest';
import { world } from '../../test/support.js';
import { do_mmap } from './mmap.js';
import { userAccess } from './user_access.js';
import { do_mremap } from './mremap.js';
import { do_mlock, do_munlock } from './mlock.js';
import { do_mprotect_pkey } from './mprotect.js';
import { pin_user_pages, pin_user_pages_fast } from './gup.js';
import { PAGE_SIZE } from './memmap.js';
import { EFAULT, EINVAL, ENOMEM, EPERM } from '../uapi/errno.js';
import { lookupPage } from '../scenario/inspect.js';

const K = PAGE_SIZE;

describe('mremap', () => {
  it('refuses what 6.18 refuses (EINVAL, EFAULT, ENOMEM)', () => {
    const { m, p } = world();
    const a = do_mmap(m, p, { size: 16 * K, type: 'anon' });
    expect(do_mremap(m, p, { addr: a + 1, oldLen: 4 * K, newLen: 8 * K, maymove: true })).toBe(-EINVAL);
    expect(do_mremap(m, p, { addr: a, oldLen: 4 * K, newLen: 0, maymove: true })).toBe(-EINVAL);
    expect(do_mremap(m, p, { addr: a, oldLen: 0, newLen: 8 * K, maymove: true })).toBe(-EINVAL);
    expect(do_mremap(m, p, { addr: a, oldLen: 4 * K, newLen: 4 * K, fixed: a + (1 << 30) })).toBe(-EINVAL);
    expect(m.why?.rule).toContain('MREMAP_MAYMOVE');
    expect(do_mremap(m, p, { addr: a + (1 << 30), oldLen: 4 * K, newLen: 8 * K, maymove: true })).toBe(-EFAULT);
    expect(do_mremap(m, p, { addr: a, oldLen: 32 * K, newLen: 64 * K, maymove: true })).toBe(-EFAULT);
    // Another mapping right after it: no room to grow in place, and no MREMAP_MAYMOVE.
    const below = do_mmap(m, p, { size: 16 * K, type: 'anon' });
    expect(do_mremap(m, p, { addr: below, oldLen: 16 * K, newLen: 1 << 20 })).toBe(-ENOMEM);
  });
  it('a move carries the pages with their pins: the pinned frame is mapped at the new address', () => {
    const { m, p } = world();
    do_mmap(m, p, { size: 16 * K, type: 'anon' }); // a neighbour above (mmap is top-down): growing must move
    const a = do_mmap(m, p, { size: 16 * K, type: 'anon' });
    userAccess(m, p, a, 16 * K, true);
    const pages = new Int32Array(1);
    expect(pin_user_pages(m, p, a, 1, 0, pages)).toBe(1);
    const rc = m.mem.refcount[pages[0]!];
    const b = do_mremap(m, p, { addr: a, oldLen: 16 * K, newLen: 64 * K, maymove: true });
    expect(b).toBeGreaterThan(0);
    expect(lookupPage(p, a)).toBeUndefined();
    expect(lookupPage(p, b)?.pfn).toBe(pages[0]);
    // The pin's and the mapping's; the lru_add batch's reference is gone: unmapping the old range
    // drained the batch (unmap_region() -> lru_add_drain()).
    expect(m.mem.refcount[pages[0]!]).toBe(rc! - 1);
    expect(p.mm.vma_lookup(b)!.end - b).toBe(64 * K);
  });
});

describe('mlock', () => {
  it('populates, sets PG_mlocked and counts locked_vm; munlock undoes it', () => {
    const { m, p } = world();
    const a = do_mmap(m, p, { size: 8 * K, type: 'anon' });
    expect(do_mlock(m, p, a, 8 * K)).toBe(0);
    expect(p.mm.locked_vm).toBe(8);
    const pfn = lookupPage(p, a)!.pfn;
    expect(m.mem.folio_test_mlocked(pfn)).toBe(true);
    expect(do_munlock(m, p, a, 8 * K)).toBe(0);
    expect(p.mm.locked_vm).toBe(0);
    expect(m.mem.folio_test_mlocked(pfn)).toBe(false);
  });
  it('RLIMIT_MEMLOCK without CAP_IPC_LOCK: ENOMEM past it, EPERM at 0; PROT_NONE and holes: ENOMEM', () => {
    const { m, p } = world();
    p.capIpcLock = false;
    p.rlimitMemlock = 4 * K;
    const a = do_mmap(m, p, { size: 8 * K, type: 'anon' });
    expect(do_mlock(m, p, a, 8 * K)).toBe(-ENOMEM);
    expect(do_mlock(m, p, a, 4 * K)).toBe(0);
    p.rlimitMemlock = 0;
    expect(do_mlock(m, p, a, K)).toBe(-EPERM);
    p.capIpcLock = true;
    const n = do_mmap(m, p, { size: 4 * K, type: 'anon', prot: 'none' });
    expect(do_mlock(m, p, n, 4 * K)).toBe(-ENOMEM); // measured on 6.18: populate fails, EFAULT -> ENOMEM
    expect(do_mlock(m, p, a + 8 * K, K)).toBe(-ENOMEM);
  });
});

describe('PROT_NONE', () => {
  it('GUP-fast falls back on a PROT_NONE entry and the slow path refuses it (-EFAULT)', () => {
    const { m, p } = world();
    const a = do_mmap(m, p, { size: 4 * K, type: 'anon' });
    userAccess(m, p, a, 4 * K, true);
    expect(do_mprotect_pkey(m, p, a, 4 * K, 'none')).toBe(0);
    expect(userAccess(m, p, a, K, false)).toBe(-EFAULT);
    expect(m.why?.rule).toContain('SIGSEGV');
    expect(pin_user_pages_fast(m, p, a, 1, 0, new Int32Array(1))).toBe(-EFAULT);
    expect(m.why?.fn).toBe('check_vma_flags');
    expect(do_mprotect_pkey(m, p, a, 4 * K, 'rw')).toBe(0);
    expect(pin_user_pages_fast(m, p, a, 1, 0, new Int32Array(1))).toBe(1);
  });
});
