// One simulated machine: physical memory and zones, hugetlb pools, THP settings, processes and files.
// Models the boot-time and global state the kernel keeps in mm/ (zero page, huge zero folio,
// node counters) plus a process table.

import { defaultProtections, type Protections } from './protections.js';
import { MemMap, NO_FOLIO, NO_PFN, PAGE_SHIFT, PAGE_SIZE, PMD_ORDER, PUD_ORDER, ZERO_PFN } from './memmap.js';
import { PageAllocator, prepNewFolio } from './page_alloc.js';
import { NR_FREE_PAGES, Vmstat } from './vmstat.js';
import { WarnLog } from './warn.js';
import { MisuseLog } from './misuse.js';
import { AnonVma, MmStruct } from './mm_types.js';
import { PteSlab } from './pgtable.js';
import { MachineSnapshot, restoreMachine, snapshotMachine } from './snapshot.js';
import { AddressSpace, type FsKind } from './fs.js';
import { HugetlbPool } from './hugetlb.js';
import { LINUX_6_18, type KernelProfile } from './profile.js';
import { Process } from './task.js';
import { kernel_init_pages } from './highmem.js';
import type { WritebackPolicy } from './writeback_pinned.js';

export type ThpPolicy = 'always' | 'madvise' | 'never';
export type MthpPolicy = 'always' | 'inherit' | 'madvise' | 'never';
/** mTHP sizes with their folio orders (/sys/kernel/mm/transparent_hugepage/hugepages-*kB). */
export const MTHP_SIZES: Record<string, number> = {
  '16K': 2,
  '32K': 3,
  '64K': 4,
  '128K': 5,
  '256K': 6,
  '512K': 7,
  '1M': 8,
  '2M': 9,
};

export interface MachineConfig {
  /** RAM in bytes. */
  memory: number;
  /** Bytes of RAM (at the top) in ZONE_MOVABLE (movablecore=). */
  movable: number;
  /** Bytes of CMA pageblocks (cma=), carved from the top of the non-movable zones. */
  cma: number;
  /** Bytes of fsdax persistent memory (ZONE_DEVICE). */
  pmem: number;
  /** /sys/kernel/mm/transparent_hugepage/enabled. */
  thp: ThpPolicy;
  /** Per-size mTHP policy; sizes not named keep the kernel default (2M: inherit, others: never). */
  mthp: Record<string, MthpPolicy>;
  /** transparent_hugepage/use_zero_page. */
  use_zero_page: boolean;
  /**
   * Whether read faults may map the shared zero page (false: mm_forbids_zeropage() holds for every
   * mm, as for s390 KVM guests upstream and on kernels built or booted to forbid it).
   */
  zero_page: boolean;
  /** shmem_enabled for MAP_SHARED anonymous and memfd (never by default). */
  shmem_thp: 'never' | 'always' | 'advise';
  /** nr_hugepages per size: { '2M': n, '1G': m }. */
  hugetlb: { '2M'?: number; '1G'?: number };
  /** nr_overcommit_hugepages per size: surplus pages the pool may add on demand. */
  hugetlb_overcommit: { '2M'?: number; '1G'?: number };
  /**
   * What writeback does with folios folio_maybe_dma_pinned() reports: 'linux' (6.18: nothing special,
   * the default) or one of gupsim's what-if policies (writeback_pinned.ts; not kernel behaviour).
   */
  writebackPolicy: WritebackPolicy;
}

export const DEFAULT_CONFIG: MachineConfig = {
  memory: 4 * 2 ** 30, // not 4 << 30: a 32-bit shift overflows to 0
  movable: 0,
  cma: 0,
  pmem: 0,
  thp: 'madvise',
  mthp: {},
  use_zero_page: true,
  zero_page: true,
  shmem_thp: 'never',
  hugetlb: {},
  hugetlb_overcommit: {},
  writebackPolicy: 'linux',
};

/** Low memory the firmware and kernel image keep out of the buddy allocator. */
const RESERVED_PAGES = 256;
/** Top of the model's mmap area: addresses stay under 2^44 so folio->index fits 32 bits. */
export const MMAP_TOP = 0x7f0000000000 / 16;

/** Why the last refused GUP call failed: the kernel function and the rule it applied. */
export interface Refusal {
  fn: string;
  rule: string;
  errno: number;
}

/** Why a CPU mapping changed (enum mmu_notifier_event, in words). */
export type MmuEvent = 'unmap' | 'cow' | 'migrate' | 'protection' | 'fork' | 'split';

/** An object a folio->mapping can point at. */
export type MappingObj = AnonVma | AddressSpace;

/** MemMap's extra per-page array of folio serial numbers (Machine.folioSerial()). */
export const FOLIO_SERIAL = 'serial';

export class Machine {
  readonly cfg: MachineConfig;
  readonly profile: KernelProfile;
  readonly mem: MemMap;
  readonly alloc: PageAllocator;
  readonly vmstat = new Vmstat();
  readonly warns = new WarnLog();
  /** gupsim's diagnosis of callers breaking the rules (never a kernel WARN), and the folios it tainted. */
  readonly misuse = new MisuseLog();
  readonly hugetlb: HugetlbPool;
  readonly processes = new Map<string, Process>();
  readonly files = new Map<string, AddressSpace>();
  readonly nrRamPages: number;
  /** Every process's PTE tables (pgtable.ts). */
  readonly pteSlab = new PteSlab();
  /** The PMD-sized huge zero folio, allocated on first use (-1 until then). */
  huge_zero_folio = NO_FOLIO;
  /** The kernel's race protections (protections.ts): all on, as in Linux; the explorer turns one off. */
  readonly protections: Protections = defaultProtections();
  /** The last refusal recorded by a GUP entry point (cleared when an entry point starts). */
  why: Refusal | undefined;
  /**
   * This CPU's lru_add batch (mm/swap.c cpu_fbatches.lru_add; gupsim's machine has one CPU): new
   * folios folio_add_lru() queued, each holding a reference and off the LRU until the batch is moved
   * (swap.ts).
   */
  readonly lruAddBatch: number[] = [];
  /**
   * The classic LRU's per-CPU activate batch (mm/swap.c cpu_fbatches.activate): folios
   * folio_activate() queued, each holding a reference until the batch is moved (swap.ts).
   */
  readonly lruActivateBatch: number[] = [];
  /** mm/mlock.c's per-CPU mlock_fbatch: new folios of VM_LOCKED mappings, each holding a reference. */
  readonly lruMlockBatch: number[] = [];
  /**
   * PG_active of the folios the classic LRU activated (the model's page-flag word has no bit left;
   * only folio_activate() sets it, and freeing clears it).
   */
  readonly activeFolios = new Set<number>();
  /** folio->mapping id -> its anon_vma or file (read-only outside this class but for a journal taking one back). */
  readonly mappingObjs: (MappingObj | undefined)[] = [undefined];
  readonly freeMappingIds: number[] = [];
  /** The next process's pid (read and put back only by a journal taking a fork back). */
  nextPid = 1;

  constructor(config: Partial<MachineConfig> = {}, profile: KernelProfile = LINUX_6_18) {
    this.cfg = { ...DEFAULT_CONFIG, ...config, mthp: { ...DEFAULT_CONFIG.mthp, ...config.mthp } };
    this.profile = profile;
    const ram = Math.floor(this.cfg.memory / PAGE_SIZE);
    const pmem = Math.floor(this.cfg.pmem / PAGE_SIZE);
    if (ram < 2048) throw new RangeError('machine memory must be at least 8 MiB');
    this.nrRamPages = ram;
    this.mem = new MemMap(ram + pmem);
    this.mem.largeFolioPincount = profile.largeFolioPinAccounting === 'pincount';
    this.alloc = new PageAllocator(this.mem);
    const movable = Math.min(Math.floor(this.cfg.movable / PAGE_SIZE), ram - 2048);
    const movStart = ram - movable;
    const cma = Math.min(Math.floor(this.cfg.cma / PAGE_SIZE), movStart - 2048);
    const cmaStart = movStart - cma;
    const low = 1 << (32 - PAGE_SHIFT); // 4 GiB: DMA32 below, NORMAL above
    const split = (zoneStart: number, zoneEnd: number, cma: boolean) => {
      this.alloc.addArea('DMA32', zoneStart, Math.min(zoneEnd, low), cma);
      this.alloc.addArea('NORMAL', Math.max(zoneStart, low), zoneEnd, cma);
    };
    split(RESERVED_PAGES, cmaStart, false);
    split(cmaStart, movStart, true);
    this.alloc.addArea('MOVABLE', movStart, ram);
    this.alloc.addArea('DEVICE', ram, ram + pmem);
    // The zero page: a reserved frame with one reference that is never dropped.
    this.mem.refcount[ZERO_PFN] = 1;
    // Count the free pages before the hugetlb pools are carved out: folio_alloc() already takes
    // the pool folios off nr_free_pages (counting after the carve took them off twice).
    this.vmstat.mod('nr_free_pages', this.alloc.nr_free_pages());
    this.hugetlb = new HugetlbPool(this);
    if (this.cfg.hugetlb['1G']) this.hugetlb.setPoolSize(PUD_ORDER, this.cfg.hugetlb['1G']);
    if (this.cfg.hugetlb['2M']) this.hugetlb.setPoolSize(PMD_ORDER, this.cfg.hugetlb['2M']);
    this.hugetlb.setOvercommit(PUD_ORDER, this.cfg.hugetlb_overcommit['1G'] ?? 0);
    this.hugetlb.setOvercommit(PMD_ORDER, this.cfg.hugetlb_overcommit['2M'] ?? 0);
  }

  // --- folio->mapping registry ------------------------------------------------------------

  newMappingId(): number {
    const id = this.freeMappingIds.pop() ?? this.mappingObjs.length;
    if (id > 0xffff) throw new Error('gupsim limit: more than 65535 live anon_vmas and files');
    return id;
  }

  registerMapping(obj: MappingObj): void {
    this.mappingObjs[obj.id] = obj;
  }

  mappingObj(id: number): MappingObj | undefined {
    return this.mappingObjs[id];
  }

  /** Every file (address_space) the machine has: what drop_caches walks (iterate_supers()). */
  addressSpaces(): AddressSpace[] {
    return this.mappingObjs.filter((o): o is AddressSpace => o instanceof AddressSpace);
  }

  newAnonVma(): AnonVma {
    const a = new AnonVma(this.newMappingId());
    this.registerMapping(a);
    return a;
  }

  newFile(fs: FsKind, name: string, sizePages: number, hugeOrder = 0): AddressSpace {
    const f = new AddressSpace(this.newMappingId(), fs, name, sizePages, hugeOrder);
    this.registerMapping(f);
    return f;
  }

  // --- processes ---------------------------------------------------------------------------

  /** Create a process with an empty mm (execve of a fresh program). */
  spawn(name: string): Process {
    if (this.processes.get(name)?.alive) throw new RangeError(`process ${name} exists`);
    const p = new Process(this.nextPid++, name, new MmStruct(MMAP_TOP, this.pteSlab), this.profile.defaultMemlock);
    this.processes.set(name, p);
    return p;
  }

  process(name: string): Process | undefined {
    return this.processes.get(name);
  }

  // --- refusals ------------------------------------------------------------------------------

  /** Record why a GUP path refused, and return the (negative) errno for chaining. */
  refuse(errno: number, fn: string, rule: string): number {
    this.why = { fn, rule, errno };
    return errno;
  }

  // --- MMU notifiers --------------------------------------------------------------------------

  /**
   * Run at process exit, after its mm is torn down (exit_mm() precedes exit_files()): files close
   * (rings, MRs, containers).
   */
  readonly exitHooks = new Set<(p: Process) => void>();

  /** mmu_notifier subscribers (HMM mirrors): told when a CPU mapping in [start, end) changes. */
  readonly notifiers = new Set<(mm: MmStruct, start: number, end: number, event: MmuEvent) => void>();

  /** mmu_notifier_invalidate_range_start(). */
  mmuNotify(mm: MmStruct, start: number, end: number, event: MmuEvent): void {
    for (const n of this.notifiers) n(mm, start, end, event);
  }

  // --- snapshots ----------------------------------------------------------------------------

  /**
   * A snapshot of the whole machine (snapshot.ts): page state and page tables by memcpy, the rest
   * structurally. `into`: an earlier snapshot of this machine to overwrite, reusing its buffers.
   */
  snapshot(into?: MachineSnapshot): MachineSnapshot {
    return snapshotMachine(this, [], into);
  }

  /** Go back to the state of a snapshot of this machine (any number of times). */
  restore(s: MachineSnapshot): void {
    restoreMachine(this, s);
  }

  /** Folios folio_alloc() has handed out (gupsim's, no kernel counterpart): see folioSerial(). */
  foliosAllocated = 0;

  /**
   * The number folio_alloc() gave the folio whose head is at `pfn` (its count of allocations then: 1, 2,
   * ...). A frame freed and handed out again gets a new number: the same PFN with another number is another
   * folio. The numbers are kept (4 bytes a page, an extra array) from the first time one is asked for (an
   * inspect step): a machine nobody asks spends nothing on them, and a folio allocated before the first
   * question has number 0.
   */
  folioSerial(pfn: number): number {
    this.recordSerials = true;
    return this.mem.extra(FOLIO_SERIAL)[pfn]!;
  }
  /** Whether folio_alloc() records serial numbers (since the first folioSerial(); snapshots keep it). */
  recordSerials = false;

  /** folio_alloc(): allocate and prepare a folio. Returns the head PFN or NO_FOLIO. */
  folio_alloc(order: number, movable = true): number {
    const pfn = this.alloc.allocBlock(order, { movable });
    if (pfn === NO_PFN) return NO_FOLIO;
    const n = ++this.foliosAllocated;
    if (this.recordSerials) {
      this.mem.extra(FOLIO_SERIAL)[pfn] = n;
      this.mem.onExtraWrite?.(pfn, 1);
    }
    prepNewFolio(this.mem, pfn, order);
    kernel_init_pages(this, pfn, 1 << order);
    this.vmstat.mod(NR_FREE_PAGES, -(1 << order));
    return pfn;
  }
}

/**
 * mm_forbids_zeropage(): a read fault of private anonymous memory allocates a zeroed folio instead of
 * mapping the shared (or huge) zero page. Per mm in the kernel; machine-wide here.
 * @see include/linux/mm.h mm_forbids_zeropage(), mm/memory.c do_anonymous_page()
 */
export function mm_forbids_zeropage(m: Machine): boolean {
  return !m.cfg.zero_page;
}
