// Models io_uring/rw.c IORING_OP_READ_FIXED and IORING_OP_WRITE_FIXED (io_prep_read_fixed(),
// io_import_reg_buf() -> io_import_fixed(), then the file's ->read_iter / ->write_iter on an
// ITER_BVEC over the registered buffer): the I/O goes through the frames the registration pinned,
// not through the process's page tables, and takes no pin of its own (a bvec iterator is not pinned:
// iov_iter_extract_will_pin() is false) and dirties nothing. After a fork or a COW the frames may no
// longer be what the process maps: the device then writes memory the process does not see.

import type { Machine } from '../mm/machine.js';
import type { AddressSpace } from '../mm/fs.js';
import { EBADF, EFAULT, EINVAL } from '../uapi/errno.js';
import { PAGE_SHIFT, PAGE_SIZE } from '../mm/memmap.js';
import { memcpy_to_page, pageValue } from '../mm/highmem.js';
import { diskBlock, setDiskBlock } from '../mm/bdev.js';
import { filemap_read, generic_perform_write } from '../mm/filemap.js';
import { filemap_write_and_wait_range } from '../mm/page-writeback.js';
import { invalidate_inode_pages2_range, invalidate_mapping_pages } from '../mm/truncate.js';
import type { IoRing, MappedUbuf } from './io_uring.js';
import { LOGICAL_BLOCK_SIZE } from './direct_io.js';

/** The frame holding page k (counted from the buffer's first page) of a registered buffer. */
export function ubufPage(b: MappedUbuf, k: number): number {
  if (!b.coalesced) return b.bvecPages[k]!;
  const per = 1 << (b.folioShift - PAGE_SHIFT);
  const at = b.firstPageIdx + k;
  return b.bvecPages[Math.floor(at / per)]! + (at % per);
}

/** One fixed read or write: the registered buffer, the byte range of it and the file range. */
export interface FixedIo {
  /** sqe->buf_index. */
  index: number;
  /** Offset of sqe->addr from the buffer's start. */
  offset: number;
  len: number;
  file: AddressSpace;
  /** sqe->off: the file position. */
  pos: number;
  isRead: boolean;
  /** The file was opened O_DIRECT. */
  direct: boolean;
}

/**
 * IORING_OP_READ_FIXED / WRITE_FIXED: the CQE's res - bytes transferred (a read stops at EOF) or
 * -errno: -EBADF (the ring is closed), -EFAULT (no registered buffer at buf_index, or the range is not
 * inside it: io_import_fixed()), -EINVAL (O_DIRECT on a disk file with a file range or buffer address
 * not aligned to the logical block size), -ENOMEM (no page for the page cache).
 *
 * A buffered read copies the file as a reader sees it (page cache, read in from disk) into the
 * frames; a buffered write copies the frames into the page cache, dirtying it. With O_DIRECT the
 * device moves disk blocks to and from the frames, after the same flush (and, for a write,
 * invalidation, with ext4's buffered fallback when a cached page cannot be dropped) as O_DIRECT
 * read(2)/write(2) (direct_io.ts). tmpfs is always the page-cache copy.
 */
export function ioRwFixed(m: Machine, ring: IoRing, io: FixedIo): number {
  m.why = undefined;
  if (ring.closed) return m.refuse(-EBADF, 'io_uring_enter', 'the ring has been closed');
  const b = ring.bufs[io.index];
  if (!b) return m.refuse(-EFAULT, 'io_import_reg_buf', `no registered buffer at buf_index ${io.index}`);
  const addr = b.ubuf + io.offset;
  if (io.offset < 0 || io.offset + io.len > b.len)
    return m.refuse(-EFAULT, 'io_import_fixed', 'the range is not inside the registered buffer');
  const { file, pos, isRead } = io;
  let len = io.len;
  const size = file.sizePages * PAGE_SIZE;
  if (len === 0 || (isRead && pos >= size)) return 0;
  if (isRead) len = Math.min(len, size - pos);
  const firstPage = Math.floor(addr / PAGE_SIZE) - Math.floor(b.ubuf / PAGE_SIZE);
  const nrPages = Math.ceil((addr + len) / PAGE_SIZE) - Math.floor(addr / PAGE_SIZE);
  const frames: number[] = [];
  for (let k = 0; k < nrPages; k++) frames.push(ubufPage(b, firstPage + k));
  const block0 = Math.floor(pos / PAGE_SIZE);
  const firstIdx = block0;
  const lastIdx = Math.floor((pos + len - 1) / PAGE_SIZE);
  if (io.direct && file.fs !== 'tmpfs') {
    if ((pos | len | addr) & (LOGICAL_BLOCK_SIZE - 1))
      return m.refuse(-EINVAL, 'iomap_dio_bio_iter', 'O_DIRECT range or buffer not aligned to the logical block size');
    filemap_write_and_wait_range(m, file, firstIdx, lastIdx);
    if (isRead) {
      frames.forEach((pfn, k) => memcpy_to_page(m, pfn, diskBlock(m, file, block0 + k)));
      return len;
    }
    if (invalidate_inode_pages2_range(m, file, firstIdx, lastIdx) > 0 && file.fs === 'disk') {
      // -ENOTBLK: ext4 writes through the page cache, then writes back and invalidates.
      const w = generic_perform_write(
        m,
        file,
        block0,
        frames.map((pfn) => pageValue(m, pfn)),
      );
      if (w < 0) return w;
      filemap_write_and_wait_range(m, file, firstIdx, lastIdx);
      invalidate_mapping_pages(m, file, firstIdx, lastIdx);
      return len;
    }
    frames.forEach((pfn, k) => setDiskBlock(file, block0 + k, pageValue(m, pfn)));
    if (size < pos + len) file.resize(Math.ceil((pos + len) / PAGE_SIZE));
    invalidate_inode_pages2_range(m, file, firstIdx, lastIdx);
    return len;
  }
  if (isRead) {
    const r = filemap_read(m, file, block0, frames.length, (v, k) => memcpy_to_page(m, frames[k]!, v));
    if (r < 0) return r;
    return Math.min(len, r * PAGE_SIZE);
  }
  const w = generic_perform_write(
    m,
    file,
    block0,
    frames.map((pfn) => pageValue(m, pfn)),
  );
  return w < 0 ? w : len;
}
