// Models O_DIRECT reads and writes of user memory (fs/iomap/direct-io.c with block/bio.c
// bio_iov_iter_get_pages() -> iov_iter_extract_pages() -> pin_user_pages_fast()): each bio pins up to
// BIO_MAX_VECS pages of the user buffer (FOLL_WRITE when the device writes into it: a read(2)), the
// I/O completes, and the pages are released (dirtied first for reads). Short-term pins: acquired ==
// released once the call returns. tmpfs implements O_DIRECT as a copy through the page cache
// (noop_direct_IO, 6.6+), so no pages are pinned there.
// Release differences (profile.ts): 6.1 takes FOLL_GET references (iov_iter_get_pages2()) released
// by put_page(), checks the buffer's alignment before taking anything, and cannot open a tmpfs file
// with O_DIRECT; 6.12 pins but also checks the alignment first (iomap_dio_bio_iter()).

import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { EINVAL, EFAULT } from '../uapi/errno.js';
import { FOLL_WRITE } from '../mm/foll_flags.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import type { AddressSpace } from '../mm/fs.js';
import { get_user_pages_fast, pin_user_pages_fast, put_page, unpin_user_pages_dirty_lock } from '../mm/gup.js';
import { filemap_write_and_wait_range, folio_mark_dirty } from '../mm/page-writeback.js';
import { userAccess } from '../mm/user_access.js';
import { invalidate_inode_pages2_range, invalidate_mapping_pages } from '../mm/truncate.js';
import { filemap_read, generic_perform_write } from '../mm/filemap.js';
import { diskBlock, setDiskBlock } from '../mm/bdev.js';
import { memcpy_to_page, pageValue } from '../mm/highmem.js';

/** BIO_MAX_VECS: pages per bio. */
export const BIO_MAX_VECS = 256;
/** The logical block size O_DIRECT alignment is checked against. */
export const LOGICAL_BLOCK_SIZE = 512;

/**
 * pread/pwrite with O_DIRECT. Returns bytes transferred, 0 for a read at or past EOF (before any
 * check), or -errno: -EINVAL for a length or offset
 * not aligned to the logical block size (block files only), or a misaligned buffer (after its first
 * bio was pinned and released), the pin's errno (e.g. -EFAULT for an unmapped buffer)
 * when the first bio could not pin anything; a short count when a later one failed.
 *
 * Contents: a read first writes back the file's dirty pages in the range (kiocb_write_and_wait()),
 * then the device writes the disk's blocks into the pinned pages, which bio_release_pages() dirties;
 * a write flushes and drops the cached pages of the range (kiocb_invalidate_pages()), then the device
 * reads the pinned pages onto the disk. When a cached page cannot be dropped (a pin or a GUP
 * reference holds it), iomap_dio_rw() answers -ENOTBLK and ext4 falls back to a buffered write, then
 * writes the range back and invalidates what it can (ext4_dio_write_iter()): nothing is pinned then.
 * Data is page-granular: buffer page k moves to or from the file block at the same distance from the
 * start.
 */
export function directIo(
  m: Machine,
  p: Process,
  file: AddressSpace,
  pos: number,
  addr: number,
  len: number,
  isRead: boolean,
): number {
  m.why = undefined;
  // 6.1 cannot open a tmpfs file with O_DIRECT (profile.shmemDirectIo).
  if (file.fs === 'tmpfs' && !m.profile.shmemDirectIo)
    return m.refuse(-EINVAL, 'do_dentry_open', 'O_DIRECT on tmpfs: shmem has no ->direct_IO (added in 6.6)');
  const mask = LOGICAL_BLOCK_SIZE - 1;
  const size = file.sizePages * PAGE_SIZE;
  // __iomap_dio_rw(): an empty request, or a read at or past EOF, is done (0) before any alignment
  // check, whatever the offset, length or buffer.
  if (len === 0 || (isRead && pos >= size)) return 0;
  // Block-backed files check the file range (iomap_dio_bio_iter); tmpfs has no such rule.
  if (file.fs !== 'tmpfs' && (pos | len) & mask)
    return m.refuse(
      -EINVAL,
      'iomap_dio_bio_iter',
      'O_DIRECT offset or length not aligned to the logical block size (512)',
    );
  // 6.1 and 6.12 check the buffer there too, before pinning (profile.directIoAlignAfterPin).
  if (file.fs !== 'tmpfs' && addr % LOGICAL_BLOCK_SIZE && !m.profile.directIoAlignAfterPin)
    return m.refuse(
      -EINVAL,
      'iomap_dio_bio_iter',
      'O_DIRECT user buffer not aligned to the logical block size (512): bdev_iter_is_aligned()',
    );
  if (isRead) len = Math.min(len, size - pos);
  const blockOf = (pageAddr: number) => Math.floor((pos + Math.max(0, pageAddr - addr)) / PAGE_SIZE);
  if (file.fs === 'tmpfs') {
    // noop_direct_IO: a plain copy to/from user memory, through the page cache.
    if (isRead) {
      const values: number[] = [];
      filemap_read(
        m,
        file,
        Math.floor(pos / PAGE_SIZE),
        Math.ceil((pos + len) / PAGE_SIZE) - Math.floor(pos / PAGE_SIZE),
        (v) => values.push(v),
      );
      const r = userAccess(m, p, addr, len, true, (pfn, i) => memcpy_to_page(m, pfn, values[i] ?? 0));
      return r < 0 ? r : len;
    }
    return bufferedWrite(m, p, file, pos, addr, len);
  }
  const firstIdx = Math.floor(pos / PAGE_SIZE);
  const lastIdx = Math.floor((pos + len - 1) / PAGE_SIZE);
  if (isRead) {
    // kiocb_write_and_wait(): the device reads the disk, so dirty cached pages go there first.
    filemap_write_and_wait_range(m, file, firstIdx, lastIdx);
  } else {
    // kiocb_invalidate_pages(): write back, then drop the cached folios the write overlaps.
    filemap_write_and_wait_range(m, file, firstIdx, lastIdx);
    if (invalidate_inode_pages2_range(m, file, firstIdx, lastIdx) > 0 && file.fs === 'disk') {
      // -ENOTBLK: ext4_dio_write_iter() writes through the page cache instead.
      const r = bufferedWrite(m, p, file, pos, addr, len);
      if (r < 0) return r;
      filemap_write_and_wait_range(m, file, firstIdx, lastIdx);
      invalidate_mapping_pages(m, file, firstIdx, lastIdx);
      return r;
    }
  }
  let done = 0;
  while (done < len) {
    const a = addr + done;
    const first = Math.floor(a / PAGE_SIZE);
    const want = Math.min(BIO_MAX_VECS, Math.ceil((addr + len) / PAGE_SIZE) - first);
    const pages = new Int32Array(want);
    const n = dioGetPages(m, p, a, want, isRead, pages);
    if (n > 0 && addr % LOGICAL_BLOCK_SIZE) {
      // 6.18 checks the buffer's memory alignment in the block layer, after the first bio's pages
      // are pinned (bio_iov_iter_get_pages): they are released again and the call fails.
      dioReleasePages(m, pages, n, false);
      return m.refuse(
        -EINVAL,
        'bio_iov_iter_get_pages',
        'O_DIRECT user buffer not aligned to the logical block size (512): checked after pinning',
      );
    }
    if (n <= 0) {
      if (done > 0) return done;
      return n < 0 ? n : m.refuse(-EFAULT, 'iov_iter_extract_pages', 'nothing could be pinned');
    }
    const bytes = Math.min(len - done, (first + n) * PAGE_SIZE - a);
    // The device transfers through the bio's pages (not the page tables).
    for (let j = 0; j * PAGE_SIZE < bytes + (a % PAGE_SIZE) && j < n; j++) {
      const block = blockOf((first + j) * PAGE_SIZE);
      if (isRead) memcpy_to_page(m, pages[j]!, diskBlock(m, file, block));
      else setDiskBlock(file, block, pageValue(m, pages[j]!));
    }
    // bio_release_pages() (reads dirty the destination first).
    dioReleasePages(m, pages, n, isRead);
    done += bytes;
    if (n < want) break;
  }
  if (!isRead && file.sizePages * PAGE_SIZE < pos + done) file.resize(Math.ceil((pos + done) / PAGE_SIZE));
  if (!isRead && done > 0) invalidate_inode_pages2_range(m, file, firstIdx, Math.floor((pos + done - 1) / PAGE_SIZE));
  return done;
}

/**
 * A buffered write(2) of [addr, addr + len) to the file at pos: the process's pages are read
 * (copy_from_user, faulting as the CPU would) and copied into the page cache. Returns len or -errno.
 */
function bufferedWrite(m: Machine, p: Process, file: AddressSpace, pos: number, addr: number, len: number): number {
  const values: number[] = [];
  const r = userAccess(m, p, addr, len, false, (pfn) => values.push(pageValue(m, pfn)));
  if (r < 0) return r;
  const w = generic_perform_write(m, file, Math.floor(pos / PAGE_SIZE), values);
  return w < 0 ? w : len;
}

/**
 * bio_iov_iter_get_pages(): the pages of one bio. 6.12 and 6.18 pin them (iov_iter_extract_pages()
 * -> pin_user_pages_fast()); 6.1 takes references (iov_iter_get_pages2() -> get_user_pages_fast())
 * (profile.directIoPins). A read(2) lets the device write: FOLL_WRITE.
 */
function dioGetPages(m: Machine, p: Process, addr: number, nr: number, isRead: boolean, pages: Int32Array): number {
  const flags = isRead ? FOLL_WRITE : 0;
  return m.profile.directIoPins
    ? pin_user_pages_fast(m, p, addr, nr, flags, pages)
    : get_user_pages_fast(m, p, addr, nr, flags, pages);
}

/**
 * bio_release_pages(): unpin (dirtying a read's pages first), or on 6.1 set_page_dirty_lock() for a
 * read's pages (bio_set_pages_dirty()) and put_page().
 */
function dioReleasePages(m: Machine, pages: Int32Array, n: number, dirty: boolean): void {
  if (m.profile.directIoPins) {
    unpin_user_pages_dirty_lock(m, pages, n, dirty);
    return;
  }
  for (let i = 0; i < n; i++) {
    const folio = m.mem.page_folio(pages[i]!);
    if (dirty && !m.mem.folio_test_dirty(folio)) folio_mark_dirty(m, folio);
    put_page(m, pages[i]!);
  }
}
