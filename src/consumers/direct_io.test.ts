// O_DIRECT (fs/iomap/direct-io.c + block/bio.c bio_iov_iter_get_pages): short-term FOLL_PIN per bio,
// FOLL_WRITE for reads into the buffer, released (dirtied for reads) when the I/O completes.
import { describe, it, expect } from 'vitest';
import { Machine } from '../mm/machine.js';
import { type Process } from '../mm/task.js';
import { EFAULT, EINVAL } from '../uapi/errno.js';
import { do_mmap, do_munmap } from '../mm/mmap.js';
import { userAccess } from '../mm/user_access.js';
import { GUP_PIN_COUNTING_BIAS, PAGE_SIZE } from '../mm/memmap.js';
import { lruBatchRefs } from '../mm/swap.js';
import { lookupPage } from '../scenario/inspect.js';
import { directIo, BIO_MAX_VECS } from './direct_io.js';

function world(): { m: Machine; p: Process; buf: number } {
  const m = new Machine({ memory: 512 << 20 });
  const p = m.spawn('app');
  const buf = do_mmap(m, p, { size: 4 << 20, type: 'anon' });
  return { m, p, buf };
}
const pins = (m: Machine) => [m.vmstat.get('nr_foll_pin_acquired'), m.vmstat.get('nr_foll_pin_released')];

describe('directIo', () => {
  it('a read pins every destination page once and releases them all when it returns, marking them dirty', () => {
    const { m, p, buf } = world();
    const f = m.newFile('disk', 'f', 1024);
    expect(userAccess(m, p, buf, 64 << 10, true)).toBe(0);
    expect(directIo(m, p, f, 0, buf, 64 << 10, true)).toBe(64 << 10);
    expect(pins(m)).toEqual([16, 16]);
    const pfn = lookupPage(p, buf)!.pfn;
    expect(m.mem.folio_test_dirty(pfn)).toBe(true);
    expect(p.mm.has_pinned).toBe(true);
  });
  it('a 2 MiB read is two bios of BIO_MAX_VECS pages; unfaulted destination pages are faulted in by the pin', () => {
    const { m, p, buf } = world();
    const f = m.newFile('disk', 'f', 1024);
    expect(BIO_MAX_VECS).toBe(256);
    expect(directIo(m, p, f, 0, buf, 2 << 20, true)).toBe(2 << 20);
    expect(pins(m)).toEqual([512, 512]);
    expect(lookupPage(p, buf + (2 << 20) - PAGE_SIZE)?.writable).toBe(true);
  });
  it('a read stops at end of file (short count), and at or past EOF returns 0', () => {
    const { m, p, buf } = world();
    const f = m.newFile('disk', 'f', 4);
    expect(directIo(m, p, f, 0, buf, 64 << 10, true)).toBe(16 << 10);
    expect(directIo(m, p, f, 16 << 10, buf, 4096, true)).toBe(0);
  });
  it(
    '__iomap_dio_rw(): a read at or past EOF returns 0 before any alignment check (offset, length or buffer), ' +
      'and pins nothing; a write there is still checked',
    () => {
      const { m, p, buf } = world();
      const f = m.newFile('disk', 'f', 4);
      expect(directIo(m, p, f, 16 << 10, buf + 100, 1000, true)).toBe(0);
      expect(directIo(m, p, f, (16 << 10) + 100, buf, 4096, true)).toBe(0);
      expect(directIo(m, p, f, 1 << 20, buf, 1000, true)).toBe(0);
      expect(pins(m)).toEqual([0, 0]);
      expect(directIo(m, p, f, (16 << 10) + 100, buf, 4096, false)).toBe(-EINVAL);
    },
  );
  it(
    'an unaligned file offset or length is -EINVAL before any pin; an unaligned buffer is refused after its first ' +
      'bio is pinned',
    () => {
      const { m, p, buf } = world();
      const f = m.newFile('disk', 'f', 16);
      expect(directIo(m, p, f, 100, buf, 4096, true)).toBe(-EINVAL);
      expect(directIo(m, p, f, 0, buf, 1000, true)).toBe(-EINVAL);
      expect(pins(m)).toEqual([0, 0]);
      expect(directIo(m, p, f, 0, buf + 100, 4096, true)).toBe(-EINVAL);
      expect(m.why?.fn).toBe('bio_iov_iter_get_pages');
      expect(pins(m)).toEqual([2, 2]);
    },
  );
  it('tmpfs O_DIRECT is a copy (noop_direct_IO): no pins, no alignment rule', () => {
    const { m, p, buf } = world();
    const f = m.newFile('tmpfs', 'shm', 16);
    expect(directIo(m, p, f, 0, buf + 100, 1000, true)).toBe(1000);
    expect(pins(m)).toEqual([0, 0]);
    expect(p.mm.has_pinned).toBe(false);
  });
  it('an unmapped buffer fails with the pin errno; a hole after the first bio gives a short count', () => {
    const { m, p, buf } = world();
    const f = m.newFile('disk', 'f', 1024);
    expect(do_munmap(m, p, buf + (1 << 20), 1 << 20)).toBe(0);
    expect(directIo(m, p, f, 0, buf + (1 << 20), 64 << 10, true)).toBe(-EFAULT);
    // 1 MiB mapped then a hole: the first bios complete, the one that hits the hole pins what it can.
    const n = directIo(m, p, f, 0, buf, 2 << 20, true);
    expect(n).toBe(1 << 20);
    const [a, r] = pins(m);
    expect(a).toBe(r);
  });
  it(
    'a write pins read-only (no FOLL_WRITE): a page shared after fork is unshared, the buffer is ' + 'not dirtied',
    async () => {
      const { m, p, buf } = world();
      const { kernel_clone } = await import('../kernel/fork.js');
      const f = m.newFile('disk', 'f', 16);
      expect(userAccess(m, p, buf, PAGE_SIZE, true)).toBe(0);
      const before = lookupPage(p, buf)!.pfn;
      const child = kernel_clone(m, p, 'kid') as Process;
      expect(lookupPage(child, buf)!.pfn).toBe(before);
      expect(directIo(m, p, f, 0, buf, PAGE_SIZE, false)).toBe(PAGE_SIZE);
      // gup_must_unshare(): the R/O pin of a shared anon page made the writer's copy exclusive.
      expect(lookupPage(p, buf)!.pfn).not.toBe(before);
      expect(lookupPage(child, buf)!.pfn).toBe(before);
      // GUP-fast grabs (and counts) the shared page before gup_must_unshare() sends it back to the slow
      // path, which unshares and pins the new page: +2/+2 (measured on 6.18 with gupsim diff).
      expect(pins(m)).toEqual([2, 2]);
    },
  );
});

describe('directIo write invalidates the page cache (kiocb_invalidate_pages)', () => {
  it('cached folios over the range are unmapped everywhere and dropped, a pinned one too', async () => {
    const { pin_user_pages, unpin_user_pages } = await import('../mm/gup.js');
    const { m, p, buf } = world();
    const f = m.newFile('disk', 'f', 64);
    f.users++;
    const map = do_mmap(m, p, { size: 64 * PAGE_SIZE, type: 'file', file: f, shared: true });
    expect(userAccess(m, p, map, 64 * PAGE_SIZE, false)).toBe(0);
    expect(userAccess(m, p, buf, 16 * PAGE_SIZE, true)).toBe(0);
    // Pin page 8 of the file (through the mapping): that folio cannot be dropped.
    const held = new Int32Array(1);
    expect(pin_user_pages(m, p, map + 8 * PAGE_SIZE, 1, 0, held)).toBe(1);
    const cachedBefore = m.vmstat.get('nr_file_pages');
    expect(directIo(m, p, f, 0, buf, 16 * PAGE_SIZE, false)).toBe(16 * PAGE_SIZE);
    expect(lookupPage(p, map)).toBeUndefined();
    expect(f.lookup(0)).toBe(-1);
    expect(lookupPage(p, map + 20 * PAGE_SIZE)).toBeDefined();
    // invalidate_complete_folio2() ignores the refcount: the pinned folio leaves the cache as well and
    // lives on, unmapped and uncached, with its pin (and the LRU batch's reference until it moves).
    expect(lookupPage(p, map + 8 * PAGE_SIZE)).toBeUndefined();
    expect(f.lookup(8)).toBe(-1);
    expect(m.mem.refcount[held[0]!]).toBe(GUP_PIN_COUNTING_BIAS + lruBatchRefs(m, held[0]!));
    expect(m.vmstat.get('nr_file_pages')).toBe(cachedBefore - 16);
    unpin_user_pages(m, held, 1);
  });
});
