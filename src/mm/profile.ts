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
}

export const LINUX_6_18: KernelProfile = {
  release: '6.18',
  is64bit: true,
  dumpHeadLine: 'order-mapcount-entire-nrmapped-pincount',
  hugeZeroWpAllocatesThp: true,
  defaultMemlock: 8 << 20,
  pvmMaxUserPages: 1024,
  ioUringMaxBuffer: 1 << 30,
};
