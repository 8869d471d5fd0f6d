// The kernel release the model reproduces. Release-dependent choices live here, not in scattered ifs,
// so older releases can be added as profiles later.

export interface KernelProfile {
  /** Shown as the result JSON's `kernel`. */
  release: string;
  /** 64-bit: every large folio has _pincount (folio_has_pincount); 32-bit: order > 1 only. */
  is64bit: boolean;
  /** dump_page's large-folio line (6.18: with total mapcount and nr_pages_mapped). */
  dumpHeadLine: 'order-mapcount-entire-nrmapped-pincount';
  /** Write fault on a huge zero PMD allocates a THP (do_huge_zero_wp_pmd, since 6.12) before splitting. */
  hugeZeroWpAllocatesThp: boolean;
  /** RLIMIT_MEMLOCK default (8 MiB since 5.16). */
  defaultMemlock: number;
  /** PVM_MAX_USER_PAGES for process_vm_readv/writev. */
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

export const LINUX_6_18: KernelProfile = {
  release: '6.18',
  is64bit: true,
  dumpHeadLine: 'order-mapcount-entire-nrmapped-pincount',
  hugeZeroWpAllocatesThp: true,
  defaultMemlock: 8 << 20,
  pvmMaxUserPages: 1024,
  ioUringMaxBuffer: 1 << 30,
  largeFolioPinAccounting: 'pincount',
};
