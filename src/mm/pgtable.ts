// Models a process's page tables (arch/x86 pgtable, mm/pgtable-generic.c): PTE tables under PMDs,
// PMD leaves (THP, hugetlb 2M) and PUD leaves (hugetlb 1G). Entries are packed numbers:
// pfn * PFN_MUL | bits. A PTE table is a Uint32Array(PTRS_PER_PTE), one word per page.

import { PAGE_SIZE, PMD_SIZE, PUD_SIZE, HPAGE_PMD_NR, ZERO_PFN } from './memmap.js';

export const _PAGE_PRESENT = 1;
export const _PAGE_RW = 2;
export const _PAGE_DIRTY = 4;
export const _PAGE_ACCESSED = 8;
export const _PAGE_SPECIAL = 16; // pte_special(): zero page and PFN maps, no struct page refcount
/**
 * x86's _PAGE_PROTNONE: the entry of a PROT_NONE VMA. The kernel clears _PAGE_PRESENT and sets this
 * (pte_present() is still true: the page is mapped, the CPU just may not touch it); the model keeps
 * _PAGE_PRESENT and adds this bit, so pte_present() keeps its meaning and only pte_protnone() tells.
 */
export const _PAGE_PROTNONE = 32;
/** The low bits of an entry hold the _PAGE_* bits, the rest the PFN. */
const PFN_MUL = 64;
/** Entries in one PTE table (x86-64: 512, one PMD's worth of pages). */
export const PTRS_PER_PTE = HPAGE_PMD_NR;

export const mk_pte = (pfn: number, bits: number): number => pfn * PFN_MUL + (bits | _PAGE_PRESENT);
export const pte_pfn = (e: number): number => Math.floor(e / PFN_MUL);
/** pte_flags(): the entry's _PAGE_* bits without the PFN. */
export const pte_flags = (e: number): number => e % PFN_MUL;
export const pte_present = (e: number): boolean => (e & _PAGE_PRESENT) !== 0;
export const pte_write = (e: number): boolean => (e & _PAGE_RW) !== 0;
export const pte_dirty = (e: number): boolean => (e & _PAGE_DIRTY) !== 0;
export const pte_special = (e: number): boolean => (e & _PAGE_SPECIAL) !== 0;
export const pte_young = (e: number): boolean => (e & _PAGE_ACCESSED) !== 0;
export const pte_protnone = (e: number): boolean => (e & _PAGE_PROTNONE) !== 0;
/** pte_modify() to PAGE_NONE: no access for the CPU (nor for GUP-fast), the mapping kept. */
export const pte_mkprotnone = (e: number): number => (e & _PAGE_PROTNONE ? e : e + _PAGE_PROTNONE);
export const pte_clear_protnone = (e: number): number => (e & _PAGE_PROTNONE ? e - _PAGE_PROTNONE : e);
export const pte_wrprotect = (e: number): number => (e & _PAGE_RW ? e - _PAGE_RW : e);
export const pte_mkwrite = (e: number): number => (e & _PAGE_RW ? e : e + _PAGE_RW);
export const pte_mkdirty = (e: number): number => (e & _PAGE_DIRTY ? e : e + _PAGE_DIRTY);
export const pte_mkclean = (e: number): number => (e & _PAGE_DIRTY ? e - _PAGE_DIRTY : e);
export const pte_mkyoung = (e: number): number => (e & _PAGE_ACCESSED ? e : e + _PAGE_ACCESSED);
export const pte_mkold = (e: number): number => (e & _PAGE_ACCESSED ? e - _PAGE_ACCESSED : e);

export const pmd_index = (addr: number): number => Math.floor(addr / PMD_SIZE);
export const pud_index = (addr: number): number => Math.floor(addr / PUD_SIZE);
export const pte_index = (addr: number): number => Math.floor(addr / PAGE_SIZE) % PTRS_PER_PTE;

export type PmdSlot = Uint32Array | number; // a PTE table, or a PMD leaf entry

/** The page tables of one mm. */
export class PageTable {
  readonly pmds = new Map<number, PmdSlot>();
  readonly puds = new Map<number, number>();
  /** Number of PTE tables (for the page-table bytes figure). */
  get nrPteTables(): number {
    let n = 0;
    for (const v of this.pmds.values()) if (typeof v !== 'number') n++;
    return n;
  }

  pudLeaf(addr: number): number {
    // Most mms have no PUD leaf (only 1 GiB hugetlb makes them): skip the lookup on every walk.
    if (this.puds.size === 0) return 0;
    return this.puds.get(pud_index(addr)) ?? 0;
  }

  pmdSlot(addr: number): PmdSlot | undefined {
    return this.pmds.get(pmd_index(addr));
  }

  /** pte_offset_map(): the PTE table for addr, or undefined. */
  pteTable(addr: number): Uint32Array | undefined {
    const s = this.pmds.get(pmd_index(addr));
    return typeof s === 'object' ? s : undefined;
  }

  /** __pte_alloc(): the PTE table for addr, created if needed (undefined if a PMD leaf sits there). */
  pte_alloc(addr: number): Uint32Array | undefined {
    const k = pmd_index(addr);
    const s = this.pmds.get(k);
    if (s === undefined) {
      const t = new Uint32Array(PTRS_PER_PTE);
      this.pmds.set(k, t);
      return t;
    }
    return typeof s === 'object' ? s : undefined;
  }

  /** The PTE value at addr (0 when none, or when a leaf maps it at a higher level). */
  pte(addr: number): number {
    const t = this.pteTable(addr);
    return t ? t[pte_index(addr)]! : 0;
  }

  pmdLeaf(addr: number): number {
    const s = this.pmds.get(pmd_index(addr));
    return typeof s === 'number' ? s : 0;
  }

  setPmdLeaf(addr: number, e: number): void {
    if (e === 0) this.pmds.delete(pmd_index(addr));
    else this.pmds.set(pmd_index(addr), e);
  }

  setPudLeaf(addr: number, e: number): void {
    if (e === 0) this.puds.delete(pud_index(addr));
    else this.puds.set(pud_index(addr), e);
  }

  /** free_pgtables(): drop empty PTE tables in [start, end). */
  freeEmptyTables(start: number, end: number): void {
    for (let k = pmd_index(start); k <= pmd_index(end - 1); k++) {
      const s = this.pmds.get(k);
      if (typeof s === 'object' && s.every((e) => e === 0)) this.pmds.delete(k);
    }
  }
}

export function is_zero_pfn(pfn: number): boolean {
  return pfn === ZERO_PFN;
}
