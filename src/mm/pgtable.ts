// Models a process's page tables (arch/x86 pgtable, mm/pgtable-generic.c): PTE tables under PMDs,
// PMD leaves (THP, hugetlb 2M) and PUD leaves (hugetlb 1G). Entries are packed numbers:
// pfn * PFN_MUL | bits. A PTE table is a Uint32Array(PTRS_PER_PTE), one word per page, cut from a
// slab the machine owns (PteSlab: the kernel's page-table pages come from one allocator too), so a
// snapshot of every process's PTEs is one memcpy and a freed table is reused rather than collected.

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
const PFN_SHIFT = 6;
const PFN_MUL = 1 << PFN_SHIFT;
/** Entries in one PTE table (x86-64: 512, one PMD's worth of pages). */
export const PTRS_PER_PTE = HPAGE_PMD_NR;

export const mk_pte = (pfn: number, bits: number): number => pfn * PFN_MUL + (bits | _PAGE_PRESENT);
/**
 * The PFN of an entry read from a PTE table (a Uint32Array, so below 2^32) is e >>> PTE_PFN_SHIFT, what
 * pte_pfn() computes for any entry: the hot PTE loops shift by a local copy of it.
 */
export const PTE_PFN_SHIFT = PFN_SHIFT;
/** The _PAGE_* bits of an entry: below them, the PFN. */
export const PTE_FLAGS_MASK = PFN_MUL - 1;
/** What one page more adds to an entry: mk_pte(pfn + k, bits) is mk_pte(pfn, bits) + k * PTE_PFN_STEP. */
export const PTE_PFN_STEP = PFN_MUL;
/** Entries below this are 32-bit (every PTE, in its Uint32Array): PFN and bits come out by shift and mask. */
const U32 = 2 ** 32;
export const pte_pfn = (e: number): number => (e < U32 ? e >>> PFN_SHIFT : Math.floor(e / PFN_MUL));
/** pte_flags(): the entry's _PAGE_* bits without the PFN. */
export const pte_flags = (e: number): number => (e < U32 ? e & (PFN_MUL - 1) : e % PFN_MUL);
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

/** Words of one PTE table. */
const TABLE_WORDS = PTRS_PER_PTE;
/**
 * Tables per slab chunk (32 KiB): chunks never move, so a table's view stays valid. Small, because every
 * machine makes its first: the race explorer makes a machine for each search (a millisecond for a small
 * example), and 512 KiB chunks made V8 collect its old space every few dozen searches.
 */
const TABLES_PER_CHUNK = 16;

/**
 * The PTE tables of a machine: fixed chunks of Uint32Array cut into PTRS_PER_PTE-word tables, handed
 * out as views (one per slot, made once) and taken back zeroed. Slots [0, used) have been handed out at
 * least once; those not in use are on the free list. A snapshot copies the used words and the list.
 */
export class PteSlab {
  readonly chunks: Uint32Array[] = [];
  private readonly views: Uint32Array[] = [];
  private readonly chunkOf = new Map<ArrayBufferLike, number>();
  /** Free slots (a stack). */
  free: number[] = [];
  /** Slots handed out at least once (the high-water mark). */
  used = 0;
  /**
   * Told of each slot handed out or taken back (either changes its words): how the race explorer's journal
   * knows which tables to compare besides those a point names (tools/explore/journal.ts). No kernel
   * counterpart.
   */
  onSlot: ((slot: number, freed: boolean) => void) | undefined = undefined;

  /** pte_alloc_one(): a zeroed table. */
  alloc(): Uint32Array {
    const id = this.free.length > 0 ? this.free.pop()! : this.used++;
    this.onSlot?.(id, false);
    let v = this.views[id];
    if (v === undefined) {
      const c = Math.floor(id / TABLES_PER_CHUNK);
      if (c === this.chunks.length) {
        const chunk = new Uint32Array(TABLES_PER_CHUNK * TABLE_WORDS);
        this.chunks.push(chunk);
        this.chunkOf.set(chunk.buffer, c);
      }
      const off = (id % TABLES_PER_CHUNK) * TABLE_WORDS;
      v = this.views[id] = this.chunks[c]!.subarray(off, off + TABLE_WORDS);
    }
    return v;
  }

  /** pte_free(): the table goes back to the slab, cleared (`empty`: the caller knows it is all zero). */
  release(t: Uint32Array, empty = false): void {
    const c = this.chunkOf.get(t.buffer);
    if (c === undefined) throw new Error('gupsim bug: freeing a PTE table that is not from this slab');
    if (!empty) t.fill(0);
    const id = c * TABLES_PER_CHUNK + t.byteOffset / (TABLE_WORDS * 4);
    this.onSlot?.(id, true);
    this.free.push(id);
  }

  /** Whether t is one of this slab's tables (its memory is in the slab's snapshot). */
  owns(t: ArrayBufferView): boolean {
    return this.chunkOf.has(t.buffer);
  }

  /** Words of the slab below the high-water mark (what a snapshot copies). */
  usedWords(): number {
    return this.used * TABLE_WORDS;
  }

  /** The words [0, n) of the slab (across chunks) into dst (a snapshot). */
  copyOut(dst: Uint32Array, n: number): void {
    for (let c = 0, off = 0; off < n; c++, off += TABLES_PER_CHUNK * TABLE_WORDS) {
      const len = Math.min(n - off, TABLES_PER_CHUNK * TABLE_WORDS);
      dst.set(this.chunks[c]!.subarray(0, len), off);
    }
  }

  /** Restore the words [0, n) from src, zero what lies above up to the current high-water mark. */
  copyIn(src: Uint32Array, n: number): void {
    const top = Math.max(n, this.usedWords());
    for (let c = 0, off = 0; off < top; c++, off += TABLES_PER_CHUNK * TABLE_WORDS) {
      const chunk = this.chunks[c]!;
      const len = Math.min(top - off, chunk.length);
      const fromSnap = Math.max(0, Math.min(n - off, len));
      if (fromSnap > 0) chunk.set(src.subarray(off, off + fromSnap));
      if (fromSnap < len) chunk.fill(0, fromSnap, len);
    }
  }
}

/**
 * The PMD directory of one mm: a Map from pmd_index() to a PTE table or a leaf. Dropping or replacing
 * a table (free_pgtables(), a collapse to a PMD leaf) gives it back to the slab, whoever does it.
 */
export class PmdDirectory extends Map<number, PmdSlot> {
  slab: PteSlab | undefined;

  override set(k: number, v: PmdSlot): this {
    const old = super.get(k);
    if (typeof old === 'object' && old !== v) this.slab?.release(old);
    return super.set(k, v);
  }

  override delete(k: number): boolean {
    const old = super.get(k);
    if (typeof old === 'object') this.slab?.release(old);
    return super.delete(k);
  }

  /** Drop the PTE table at k, known to be all zero (it goes back to the slab without clearing). */
  deleteEmptyTable(k: number): void {
    const old = super.get(k);
    if (typeof old !== 'object') return;
    this.slab?.release(old, true);
    super.delete(k);
  }

  override clear(): void {
    for (const v of super.values()) if (typeof v === 'object') this.slab?.release(v);
    super.clear();
  }
}

/** The page tables of one mm. */
export class PageTable {
  readonly pmds = new PmdDirectory();
  readonly puds = new Map<number, number>();
  readonly slab: PteSlab;

  /** A machine's mms share its slab; a page table on its own gets one. */
  constructor(slab: PteSlab = new PteSlab()) {
    this.slab = slab;
    this.pmds.slab = slab;
  }

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
      const t = this.slab.alloc();
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

  /** free_pte_range(): drop the PTE table at addr, known to be empty. */
  freePteTable(addr: number): void {
    this.pmds.deleteEmptyTable(pmd_index(addr));
  }

  /** free_pgtables(): drop empty PTE tables in [start, end). */
  freeEmptyTables(start: number, end: number): void {
    for (let k = pmd_index(start); k <= pmd_index(end - 1); k++) {
      const s = this.pmds.get(k);
      if (typeof s === 'object' && tableEmpty(s)) this.pmds.delete(k);
    }
  }
}

function tableEmpty(t: Uint32Array): boolean {
  for (let i = 0; i < t.length; i++) if (t[i] !== 0) return false;
  return true;
}

export function is_zero_pfn(pfn: number): boolean {
  return pfn === ZERO_PFN;
}
