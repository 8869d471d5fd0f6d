// The kernel release the model reproduces. Every behaviour that differs between the releases gupsim
// models is a field here, with the kernel function (and release) it comes from; the model consults
// the machine's profile instead of hard-wiring one release. Read from Debian's sources of 6.1.192 and
// 6.12.117 and checked against their kernels under qemu (../shared/vm/README.md); 6.18 is the host
// kernel the model was first built against. Where a difference is the build's configuration rather
// than the code (the LRU), the profile follows the kernel that was measured: Debian's build for 6.1
// and 6.12, the host's for 6.18.

/** The FOLL_* flags of a release: name -> the value its headers give. */
export type FollTable = Readonly<Record<string, number>>;

export interface KernelProfile {
  /** '6.1', '6.12' or '6.18': shown as the result JSON's `kernel` ("model of Linux 6.12"). */
  release: string;
  /** 64-bit: every large folio has _pincount (folio_has_pincount); 32-bit: order > 1 only. */
  is64bit: boolean;
  /**
   * The FOLL_* flags that exist and their values: 6.1 #defines them in include/linux/mm.h (FOLL_TOUCH,
   * FOLL_PIN... are public, FOLL_MIGRATION exists); 6.12 and 6.18 have the enum of mm_types.h and
   * the internal one of mm/internal.h (FOLL_PCI_P2PDMA, FOLL_INTERRUPTIBLE, FOLL_HONOR_NUMA_FAULT,
   * FOLL_UNLOCKABLE, FOLL_MADV_POPULATE are new). Numbers a user gives (gup_test -F, a scenario's
   * numeric `flags`) are in these values.
   */
  follFlags: FollTable;
  /**
   * How the GUP entry points check their arguments (mm/gup.c).
   * 'is_valid_gup_flags' (6.1): get_user_pages{,_remote,_fast} WARN and fail with -EINVAL on FOLL_PIN
   * or FOLL_LONGTERM and reject nothing else; pin_user_pages{,_fast,_remote,_unlocked} WARN and fail
   * with -EINVAL on FOLL_GET or a NULL pages array (the *_fast_only ones return 0); get_user_pages_fast_only
   * checks nothing; get_user_pages_unlocked (so pin_user_pages_unlocked too) WARNs and fails with
   * -EINVAL on FOLL_LONGTERM; __get_user_pages_remote() WARNs and fails with -EINVAL on FOLL_LONGTERM
   * with a `locked` pointer; a fast range that overflows returns 0 (internal_get_user_pages_fast()),
   * and its slow path takes FOLL_LONGTERM without FOLL_TOUCH (__gup_longterm_unlocked()).
   * 'is_valid_gup_args' (6.12, 6.18): one check for every entry point (internal flags, *locked, PIN
   * with GET, LONGTERM without PIN, GET/PIN without pages, LONGTERM with P2PDMA) that WARNs; the pin_*
   * entry points return 0 then; every entry point takes FOLL_LONGTERM; an overflowing fast range is
   * -EOVERFLOW (gup_fast_fallback()).
   */
  gupEntryChecks: 'is_valid_gup_flags' | 'is_valid_gup_args';
  /**
   * A long-term write pin of a shared file mapping that needs dirty tracking (ext4, not shmem) is
   * refused: -EFAULT from check_vma_flags() -> writable_file_mapping_allowed(), after GUP-fast let go
   * of the folio (gup_fast_folio_allowed(): one pin counted and released). 6.12 and 6.18 (added in 6.5);
   * 6.1 has neither check and pins.
   */
  longtermWriteFileRefused: boolean;
  /**
   * gup_must_unshare() also asks for an unshare fault when a R/O FOLL_LONGTERM pin meets a page that
   * is not anon in a private writable (COW) mapping, so the pin lands on an anon copy. 6.1's version
   * (include/linux/mm.h) returns false for every non-anon page: the page-cache page is pinned.
   */
  longtermRoUnshareFileCow: boolean;
  /** check_vma_flags(): "hugetlb does not support FOLL_FORCE|FOLL_WRITE" -> -EFAULT (6.1, 6.12; gone in 6.18). */
  hugetlbForceWriteRefused: boolean;
  /**
   * The LRU of the measured build. false: the classic active/inactive LRU (Debian 6.1:
   * CONFIG_LRU_GEN_ENABLED=n; the 6.18 host: CONFIG_LRU_GEN=n): folio_mark_accessed() on a folio
   * already PG_referenced calls folio_activate(), which takes a reference and parks the folio in the
   * per-CPU activate batch until the batch fills or lru_add_drain() runs (mm/swap.c). true: the
   * multi-gen LRU (Debian 6.12: CONFIG_LRU_GEN_ENABLED=y): folio_mark_accessed() only bumps flag bits
   * (folio_inc_refs()), no reference.
   */
  lruGenEnabled: boolean;
  /**
   * Folios a per-CPU LRU batch (lru_add, activate, mlock) holds before it is moved: PAGEVEC_SIZE
   * (include/linux/pagevec.h), 15 in 6.1, 31 in 6.12 and 6.18. The batch is moved when an add fills
   * it (folio_batch_add() returns 0), so at most PAGEVEC_SIZE - 1 folios wait, each holding one
   * reference; a large folio moves it at once (folio_may_be_lru_cached()).
   */
  lruBatchSize: number;
  /**
   * migrate_folio_move() drains this CPU's LRU batches after putting the new folio in the lru_add
   * batch whenever the old folio was mapped (6.1: "if (page_was_mapped) lru_add_drain()"); 6.12 and
   * 6.18 only when it was mlocked (PAGE_WAS_MLOCKED), so a page a FOLL_LONGTERM pin migrated holds
   * one more reference (the batch's) until the batch moves.
   */
  migrateDrainsMapped: boolean;
  /**
   * The references collect_longterm_unpinnable_folios() expects a pinned small folio to hold beyond
   * folio_expected_ref_count() before it drains the LRU batches for it: 'pin_refs' (6.12, 6.18:
   * GUP_PIN_COUNTING_BIAS for a small folio, 1 with _pincount), so only an extra reference (an LRU
   * batch's) drains; 'one' (Debian's 6.1.192: "+ 1"), so every small folio found drains them.
   */
  longtermCollectPinRefs: 'one' | 'pin_refs';
  /**
   * How io_uring's IORING_REGISTER_BUFFERS pins (io_pin_pages()).
   * 'pin_user_pages' (6.1, io_uring/rsrc.c): pin_user_pages(FOLL_WRITE | FOLL_LONGTERM) with a vmas
   * array under mmap_read_lock; after pinning everything, every VMA must be the same file (-EINVAL)
   * and a file must be shmem or hugetlbfs (-EOPNOTSUPP): then all the pins are dropped again.
   * 'pin_user_pages_fast' (6.12, 6.18, io_uring/memmap.c): pin_user_pages_fast(), no VMA checks.
   */
  ioUringPin: 'pin_user_pages' | 'pin_user_pages_fast';
  /** io_try_coalesce_buffer() (6.12) / io_check_coalesce_buffer() (6.18): one bvec and one pin per large folio. */
  ioUringCoalesce: boolean;
  /**
   * headpage_already_acct() also sees the buffers registered earlier in the same
   * IORING_REGISTER_BUFFERS call: 6.1 and 6.12 fill ctx->user_bufs[] as the loop goes; 6.18 installs
   * the whole table only after the loop (io_sqe_buffers_register()).
   */
  ioUringAcctSeesEarlierBuffers: boolean;
  /**
   * io_uring_setup() charges the SQ/CQ rings to the user's locked_vm without CAP_IPC_LOCK
   * (6.18: io_create_region() -> __io_account_mem()); 6.1 and 6.12 allocate the rings
   * (io_mem_alloc(), io_pages_map()) without charging them.
   */
  ioUringRingCharged: boolean;
  /**
   * O_DIRECT takes pins: bio_iov_iter_get_pages() -> iov_iter_extract_pages() -> FOLL_PIN, released
   * by unpin (BIO_PAGE_PINNED; 6.12, 6.18). 6.1 uses iov_iter_get_pages2(): FOLL_GET references,
   * released by put_page(), so the pin counters do not move.
   */
  directIoPins: boolean;
  /**
   * The O_DIRECT buffer's memory alignment is checked after the first bio's pages are pinned (6.18,
   * in the block layer); 6.1 and 6.12 check it first (iomap_dio_bio_iter(): bdev_iter_is_aligned()).
   */
  directIoAlignAfterPin: boolean;
  /** tmpfs accepts O_DIRECT (shmem: FMODE_CAN_ODIRECT, noop_direct_IO, 6.6+); 6.1's open() says -EINVAL. */
  shmemDirectIo: boolean;
  /**
   * ib_umem_get() pins a read-only MR with FOLL_FORCE | FOLL_WRITE (6.1: "gup_flags = FOLL_WRITE",
   * FOLL_FORCE when !writable); 6.12 and 6.18 pin a read-only MR with FOLL_LONGTERM alone.
   */
  rdmaReadOnlyForceWrite: boolean;
  /**
   * The page cache holds folio_nr_pages() references on a hugetlb folio too (__filemap_add_folio(),
   * filemap_free_folio() of 6.12 and 6.18); 6.1 takes one ("long nr = 1; if (!huge) nr = ...").
   */
  hugetlbCacheRefPerPage: boolean;
  /**
   * When __unmap_hugepage_range() gives the mmap owner back the reservation of a private anon page it
   * unmaps (MADV_DONTNEED, munmap, exit: folio_set_hugetlb_restore_reserve() + vma_add_reservation()).
   * 'never' (6.1: the unmap path restores nothing, so MADV_DONTNEED leaves HugePages_Rsvd as it was);
   * 'last-unmap' (Debian's 6.12.117: only when no other mapping remains, !folio_mapped(), so a page a
   * fork child still maps keeps it consumed); 'always' (the 6.18 host measured: also while a child
   * maps it, so HugePages_Rsvd goes below zero until the child lets go).
   */
  hugetlbUnmapRestoresReserve: 'never' | 'last-unmap' | 'always';
  /** Per-size anon mTHP (transparent_hugepage/hugepages-<size>kB, alloc_anon_folio(): 6.8+). */
  mthp: boolean;
  /** __get_unmapped_area(): anon mappings of whole PMDs are THP-aligned (thp_get_unmapped_area, 6.7+). */
  anonThpAlign: boolean;
  /** ext4 caches regular files in large folios up to the PMD order (ext4_set_inode_mapping_order, 6.16+). */
  ext4LargeFolios: boolean;
  /**
   * Fault-around maps a large folio met in the window whole when it lies within i_size, the VMA and
   * one page table (filemap_map_folio_range(), 6.18); before, only its pages inside the window.
   */
  faultAroundWholeFolio: boolean;
  /**
   * When a write fault may reuse a non-exclusive anon page (do_wp_page()).
   * 'page_count' (6.1): page_count(page) == 1 (a THP subpage: the folio's refcount);
   * 'small' (6.12: wp_can_reuse_anon_folio()): small folios with refcount 1, never a large folio;
   * 'large' (6.18: __wp_can_reuse_large_anon_folio()): also a large folio whose references are all
   * mappings of this mm (and more than one page of it is mapped).
   */
  wpReuseAnon: 'page_count' | 'small' | 'large';
  /**
   * vfio_unpin_pages_remote() unpins a run without reserved PFNs with one
   * unpin_user_page_range_dirty_lock() (6.18); 6.1 and 6.12 put_pfn() page by page. The counters,
   * references and dirtying come out the same: no scenario can tell them apart.
   */
  vfioUnpinRuns: boolean;
  /**
   * A write fault on the huge zero PMD allocates a THP (6.18: do_huge_zero_wp_pmd()); 6.1 and 6.12
   * split the PMD and fault a small page (do_huge_pmd_wp_page(): goto fallback).
   */
  hugeZeroWpAllocatesThp: boolean;
  /**
   * dump_page()'s text (mm/debug.c). '6.1': "page:<ptr> refcount mapcount(page_mapcount: with the
   * entire mapcount) ...", a "head:<ptr> order compound_mapcount compound_pincount" line (the pin count
   * in page[1].compound_pincount), 6.1's page flag numbers, no page_type line. 'folio' (6.12, 6.18):
   * __dump_folio()'s "page: refcount ..." and "head: order mapcount entire_mapcount nr_pages_mapped
   * pincount" (folio->_pincount), a "page_type:" line for buddy and hugetlb pages.
   */
  dumpPageFormat: '6.1' | 'folio';
  /** memfd_pin_folios(), unpin_folio(), unpin_folios(), unpin_user_folio() exist (6.11+). */
  memfdPinFolios: boolean;
  /** mm/gup_test.c has PIN_LONGTERM_TEST_START/STOP/READ (ioctls 7-9; 6.12, 6.18); 6.1 answers -EINVAL. */
  gupTestPinLongtermTest: boolean;
  /** RLIMIT_MEMLOCK default (8 MiB since 5.16). */
  defaultMemlock: number;
  /** PVM_MAX_USER_PAGES for process_vm_readv/writev (6.1: PVM_MAX_KMALLOC_PAGES / sizeof(ptr), also 1024). */
  pvmMaxUserPages: number;
  /** io_uring: largest registered buffer (SZ_1G). */
  ioUringMaxBuffer: number;
  /**
   * How pins on a large folio are counted. 'pincount' (since v5.7, commit 47e29d32afba: then
   * hpage_pinned_refcount, now folio->_pincount): +1 to _refcount and +1 to _pincount per page.
   * 'head-bias': the scheme of "mm/gup: track FOLL_PIN pages" (3faa52c03f44), which 47e29d32afba replaced
   * within the same series before v5.7 shipped: GUP_PIN_COUNTING_BIAS on the head's _refcount for every
   * page pinned, as small folios still do. Read through folio_has_pincount() (mm/memmap.ts).
   */
  largeFolioPinAccounting: 'pincount' | 'head-bias';
}

/** include/linux/mm.h of 6.1: every FOLL_* flag is a public #define. */
const FOLL_6_1: FollTable = {
  FOLL_WRITE: 0x01,
  FOLL_TOUCH: 0x02,
  FOLL_GET: 0x04,
  FOLL_DUMP: 0x08,
  FOLL_FORCE: 0x10,
  FOLL_NOWAIT: 0x20,
  FOLL_NOFAULT: 0x80,
  FOLL_HWPOISON: 0x100,
  FOLL_MIGRATION: 0x400,
  FOLL_TRIED: 0x800,
  FOLL_REMOTE: 0x2000,
  FOLL_ANON: 0x8000,
  FOLL_LONGTERM: 0x10000,
  FOLL_SPLIT_PMD: 0x20000,
  FOLL_PIN: 0x40000,
  FOLL_FAST_ONLY: 0x80000,
};

/** enum in include/linux/mm_types.h and mm/internal.h (6.12 and 6.18 agree). */
const FOLL_ENUM: FollTable = {
  FOLL_WRITE: 1 << 0,
  FOLL_GET: 1 << 1,
  FOLL_DUMP: 1 << 2,
  FOLL_FORCE: 1 << 3,
  FOLL_NOWAIT: 1 << 4,
  FOLL_NOFAULT: 1 << 5,
  FOLL_HWPOISON: 1 << 6,
  FOLL_ANON: 1 << 7,
  FOLL_LONGTERM: 1 << 8,
  FOLL_SPLIT_PMD: 1 << 9,
  FOLL_PCI_P2PDMA: 1 << 10,
  FOLL_INTERRUPTIBLE: 1 << 11,
  FOLL_HONOR_NUMA_FAULT: 1 << 12,
  FOLL_TOUCH: 1 << 16,
  FOLL_TRIED: 1 << 17,
  FOLL_REMOTE: 1 << 18,
  FOLL_PIN: 1 << 19,
  FOLL_FAST_ONLY: 1 << 20,
  FOLL_UNLOCKABLE: 1 << 21,
  FOLL_MADV_POPULATE: 1 << 22,
};

const COMMON = {
  is64bit: true,
  defaultMemlock: 8 << 20,
  pvmMaxUserPages: 1024,
  ioUringMaxBuffer: 1 << 30,
  largeFolioPinAccounting: 'pincount',
} as const;

export const LINUX_6_18: KernelProfile = {
  ...COMMON,
  release: '6.18',
  follFlags: FOLL_ENUM,
  gupEntryChecks: 'is_valid_gup_args',
  longtermWriteFileRefused: true,
  longtermRoUnshareFileCow: true,
  hugetlbForceWriteRefused: false,
  lruGenEnabled: false,
  lruBatchSize: 31,
  migrateDrainsMapped: false,
  longtermCollectPinRefs: 'pin_refs',
  ioUringPin: 'pin_user_pages_fast',
  ioUringCoalesce: true,
  ioUringAcctSeesEarlierBuffers: false,
  ioUringRingCharged: true,
  directIoPins: true,
  directIoAlignAfterPin: true,
  shmemDirectIo: true,
  rdmaReadOnlyForceWrite: false,
  hugetlbCacheRefPerPage: true,
  hugetlbUnmapRestoresReserve: 'always',
  mthp: true,
  anonThpAlign: true,
  ext4LargeFolios: true,
  faultAroundWholeFolio: true,
  wpReuseAnon: 'large',
  vfioUnpinRuns: true,
  hugeZeroWpAllocatesThp: true,
  dumpPageFormat: 'folio',
  memfdPinFolios: true,
  gupTestPinLongtermTest: true,
};

export const LINUX_6_12: KernelProfile = {
  ...LINUX_6_18,
  release: '6.12',
  hugetlbForceWriteRefused: true,
  lruGenEnabled: true,
  ioUringAcctSeesEarlierBuffers: true,
  ioUringRingCharged: false,
  directIoAlignAfterPin: false,
  ext4LargeFolios: false,
  faultAroundWholeFolio: false,
  wpReuseAnon: 'small',
  vfioUnpinRuns: false,
  hugeZeroWpAllocatesThp: false,
  hugetlbUnmapRestoresReserve: 'last-unmap',
};

export const LINUX_6_1: KernelProfile = {
  ...LINUX_6_12,
  release: '6.1',
  follFlags: FOLL_6_1,
  gupEntryChecks: 'is_valid_gup_flags',
  longtermWriteFileRefused: false,
  longtermRoUnshareFileCow: false,
  lruGenEnabled: false,
  lruBatchSize: 15,
  migrateDrainsMapped: true,
  longtermCollectPinRefs: 'one',
  ioUringPin: 'pin_user_pages',
  ioUringCoalesce: false,
  directIoPins: false,
  shmemDirectIo: false,
  rdmaReadOnlyForceWrite: true,
  hugetlbCacheRefPerPage: false,
  hugetlbUnmapRestoresReserve: 'never',
  mthp: false,
  anonThpAlign: false,
  wpReuseAnon: 'page_count',
  dumpPageFormat: '6.1',
  memfdPinFolios: false,
  gupTestPinLongtermTest: false,
};

/** The profiles, oldest first. */
export const PROFILES: readonly KernelProfile[] = [LINUX_6_1, LINUX_6_12, LINUX_6_18];

/** The release names `--kernel` and a scenario's `kernel:` accept. */
export const KERNEL_RELEASES: readonly string[] = PROFILES.map((p) => p.release);

/** The default: the release the model was built against and is checked on (the host's). */
export const DEFAULT_PROFILE = LINUX_6_18;

/** The profile of a release ('6.1', '6.12', '6.18'; 'linux-6.1' and 'v6.1' too), or undefined. */
export function profileByName(name: string): KernelProfile | undefined {
  const r = name
    .trim()
    .toLowerCase()
    .replace(/^(linux-?|v)/, '');
  return PROFILES.find((p) => p.release === r);
}

/** The fields whose values differ between two profiles (the rules that make their answers differ). */
export function profileDifferences(a: KernelProfile, b: KernelProfile): (keyof KernelProfile)[] {
  const out: (keyof KernelProfile)[] = [];
  for (const k of Object.keys(a) as (keyof KernelProfile)[]) {
    if (k === 'release') continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(k);
  }
  return out;
}
