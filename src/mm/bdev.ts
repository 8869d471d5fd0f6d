// Models the disk under a file (the block I/O a file system issues for its page cache and for
// O_DIRECT: a_ops->read_folio() reading a folio in, writeback writing one out, iomap's direct I/O
// moving blocks to and from user pages): one value per page-sized block of the file, in
// AddressSpace.disk. An fsdax file's "disk" is its persistent memory: a block that has a page there
// is that page. tmpfs and hugetlbfs have no disk: their page cache is all there is.

import type { Machine } from './machine.js';
import type { AddressSpace } from './fs.js';
import { NO_PFN } from './memmap.js';
import { memcpy_to_page, pageValue } from './highmem.js';

/** Whether the file has blocks on a disk (a disk file system or fsdax pmem). */
export function hasDisk(file: AddressSpace): boolean {
  return file.fs === 'disk' || file.fs === 'dax';
}

/** What the disk holds in block idx of the file (0 for a block never written). */
export function diskBlock(m: Machine, file: AddressSpace, idx: number): number {
  if (file.fs === 'dax') {
    // The pmem page itself, where one is mapped into the file's cache.
    const pfn = file.lookup(idx);
    if (pfn !== NO_PFN) return pageValue(m, pfn);
  }
  return file.disk && idx < file.disk.length ? file.disk[idx]! : 0;
}

/** Store a value in block idx (a write that reached the disk). */
export function setDiskBlock(file: AddressSpace, idx: number, value: number): void {
  if (!file.disk || idx >= file.disk.length) {
    if (value === 0) return;
    // Blocks past the end are allocated by the write that reaches them (the file grows after it).
    const d = new Uint32Array(Math.max(file.pages.length, idx + 1));
    if (file.disk) d.set(file.disk);
    file.disk = d;
  }
  file.disk[idx] = value >>> 0;
}

/**
 * filemap_read_folio(): a new page-cache folio is filled from the disk (disk and fsdax files). shmem
 * and hugetlbfs folios start zeroed, as the allocation left them.
 */
export function filemap_read_folio(m: Machine, file: AddressSpace, folio: number): void {
  if (!hasDisk(file) || !file.disk) return;
  const idx = m.mem.index[folio]!;
  const nr = m.mem.folio_nr_pages(folio);
  const disk = file.disk;
  for (let k = 0; k < nr; k++) memcpy_to_page(m, folio + k, idx + k < disk.length ? disk[idx + k]! : 0);
}

/** The write-out of a folio (writeback's bio, folio_launder()): its pages' values reach the disk. */
export function folioWriteOut(m: Machine, file: AddressSpace, folio: number): void {
  if (!hasDisk(file)) return;
  const idx = m.mem.index[folio]!;
  const nr = m.mem.folio_nr_pages(folio);
  for (let k = 0; k < nr; k++) setDiskBlock(file, idx + k, pageValue(m, folio + k));
}
