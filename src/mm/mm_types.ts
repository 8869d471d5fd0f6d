// Models struct mm_struct, struct vm_area_struct and struct anon_vma (include/linux/mm_types.h,
// include/linux/rmap.h) and the VM_* flags of include/linux/mm.h.

import type { AddressSpace } from './fs.js';
import type { HugetlbVmaPrivate } from './hugetlb_resv.js';
import { PageTable, type PteSlab } from './pgtable.js';
import { PAGE_SIZE } from './memmap.js';

export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_PFNMAP = 0x400;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
/** mlock2(MLOCK_ONFAULT): lock pages as they fault in. */
export const VM_LOCKONFAULT = 0x80000;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
export const VM_HUGETLB = 0x400000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;

/** What backs a VMA; decides which fault handler and which GUP rules apply. */
export type VmaKind = 'anon' | 'shmem' | 'file' | 'hugetlb' | 'fsdax' | 'pfnmap';

/** struct anon_vma: the rmap root anon folios point at (folio->mapping). */
export class AnonVma {
  /** Every VMA that may map folios of this anon_vma (the anon_vma_chain, inverted). */
  readonly vmas = new Set<Vma>();
  constructor(readonly id: number) {}
}

export class Vma {
  /** anon_vma of this VMA (created on the first anon fault, anon_vma_prepare()). */
  anonVma: AnonVma | undefined;
  /** All anon_vmas linked to this VMA: its own and, after fork, its ancestors'. */
  readonly anonChain: AnonVma[] = [];
  /** vm_private_data of a private hugetlb VMA: its reserve map and HPAGE_RESV_* flags (hugetlb_resv.ts). */
  vm_private_data: HugetlbVmaPrivate | undefined;

  constructor(
    public mm: MmStruct,
    public start: number,
    public end: number,
    public flags: number,
    public readonly kind: VmaKind,
    public readonly file: AddressSpace | undefined,
    /** vm_pgoff: file offset in pages; for anon, start >> PAGE_SHIFT at mmap time. */
    public pgoff: number,
    /** Folio order of a hugetlb VMA (9 or 18), else 0. */
    public readonly hugeOrder = 0,
    /** gupsim: the scenario's region name, for reports. */
    public name = '',
  ) {}

  get pages(): number {
    return (this.end - this.start) / PAGE_SIZE;
  }
}

let nextMmId = 1;

export class MmStruct {
  readonly id = nextMmId++;
  /** Sorted, non-overlapping. */
  vmas: Vma[] = [];
  readonly pt: PageTable;
  /** MMF_HAS_PINNED: set by the first FOLL_PIN GUP on this mm, never cleared. */
  has_pinned = false;
  /** mm->write_protect_seq: odd while fork write-protects the parent's page tables. */
  write_protect_seq = 0;
  /** mm->locked_vm and mm->pinned_vm, in pages. */
  locked_vm = 0;
  pinned_vm = 0;
  /** RSS counters (MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES) in pages. */
  rss_anon = 0;
  rss_file = 0;
  /** Next address for a top-down mmap. */
  mmap_base: number;
  /** mm_users: 0 after exit. */
  users = 1;

  /** `slab`: the machine's PTE-table slab (a page table of its own without one). */
  constructor(mmapBase: number, slab?: PteSlab) {
    this.mmap_base = mmapBase;
    this.pt = new PageTable(slab);
  }

  /** find_vma_intersection() for one address: vma_lookup(). */
  vma_lookup(addr: number): Vma | undefined {
    const v = this.vmas;
    let lo = 0;
    let hi = v.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const x = v[mid]!;
      if (addr < x.start) hi = mid - 1;
      else if (addr >= x.end) lo = mid + 1;
      else return x;
    }
    return undefined;
  }

  insertVma(vma: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i]!.start < vma.start) i++;
    this.vmas.splice(i, 0, vma);
  }
}

/** The protections a scenario maps with: PROT_READ|PROT_WRITE, PROT_READ, PROT_NONE. */
export type Prot = 'rw' | 'r' | 'none';

/** calc_vm_prot_bits(): the VM_READ / VM_WRITE of a protection. */
export function protFlags(prot: Prot): number {
  return prot === 'rw' ? VM_READ | VM_WRITE : prot === 'r' ? VM_READ : 0;
}

/** is_cow_mapping(): private and may become writable. */
export function is_cow_mapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}

/** vma_is_anonymous(): a private anonymous mapping (no vm_ops). */
export function vma_is_anonymous(vma: Vma): boolean {
  return vma.kind === 'anon';
}

// vm_fault_t bits (include/linux/mm_types.h)
export const VM_FAULT_OOM = 0x1;

export const VM_FAULT_SIGBUS = 0x2;

export const VM_FAULT_HWPOISON = 0x10;

export const VM_FAULT_SIGSEGV = 0x40;

export const VM_FAULT_FALLBACK = 0x800;

export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON;

// enum fault_flag
export const FAULT_FLAG_WRITE = 1 << 0;

export const FAULT_FLAG_REMOTE = 1 << 7;

export const FAULT_FLAG_UNSHARE = 1 << 10;

export type Advice =
  'hugepage' | 'nohugepage' | 'dontneed' | 'populate_read' | 'populate_write' | 'dontfork' | 'dofork' | 'collapse';
