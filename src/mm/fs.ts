// Models struct address_space (include/linux/fs.h): a file's page cache as folios by
// index, and which file systems need dirty tracking (ext4 and the like do, tmpfs/hugetlbfs don't).

import type { Vma } from './mm_types.js';
import { NO_PFN } from './memmap.js';
import type { ResvMap } from './hugetlb_resv.js';

/** Where a file lives: tmpfs/shmem/memfd, a disk file system (ext4), hugetlbfs, or fsdax pmem. */
export type FsKind = 'tmpfs' | 'disk' | 'hugetlbfs' | 'dax';

export class AddressSpace {
  /** Page cache: the PFN caching each page index, -1 when not cached. */
  pages: Int32Array;
  /** i_mmap: the VMAs mapping this file. */
  readonly vmas = new Set<Vma>();
  /** Open references (fds, scenario handles, mappings): an unlinked file's cache goes when it drops to 0. */
  users = 0;
  /** Unlinked (shmem of MAP_SHARED|MAP_ANONYMOUS, a closed memfd): truncated when unused. */
  unlinked = false;
  /** hugetlbfs: the inode's reservations (inode_resv_map()), made on first use. */
  resv_map: ResvMap | undefined;
  /**
   * The disk's blocks of a disk or fsdax file: one value per page-sized block (bdev.ts), allocated
   * when the file is given contents; undefined: every block reads 0. tmpfs and hugetlbfs have no disk.
   */
  disk: Uint32Array | undefined = undefined;

  constructor(
    readonly id: number,
    readonly fs: FsKind,
    readonly name: string,
    public sizePages: number,
    /** hugetlbfs: folio order of the file's pages (9 or 18). */
    readonly hugeOrder = 0,
  ) {
    this.pages = new Int32Array(sizePages).fill(NO_PFN);
  }

  /** mapping_can_writeback() && wants writenotify: shared writable mappings must track dirtying. */
  get needsDirtyTracking(): boolean {
    return this.fs === 'disk';
  }

  /** shmem_mapping() || hugetlbfs: page cache not backed by writeback. */
  get isShmemOrHugetlb(): boolean {
    return this.fs === 'tmpfs' || this.fs === 'hugetlbfs';
  }

  /** filemap_get_folio() at a page index: the page's PFN or NO_PFN. */
  lookup(index: number): number {
    return index < this.sizePages ? this.pages[index]! : NO_PFN;
  }

  resize(sizePages: number): void {
    if (sizePages <= this.pages.length) {
      this.sizePages = sizePages;
      return;
    }
    const n = new Int32Array(sizePages).fill(NO_PFN);
    n.set(this.pages);
    this.pages = n;
    if (this.disk && this.disk.length < sizePages) {
      const d = new Uint32Array(sizePages);
      d.set(this.disk);
      this.disk = d;
    }
    this.sizePages = sizePages;
  }
}
