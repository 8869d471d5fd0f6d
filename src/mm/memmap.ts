// Models struct page / struct folio (include/linux/mm_types.h, include/linux/page-flags.h,
// include/linux/mm.h) as a structure of arrays: a page is an index (its PFN), a folio is its head PFN.
//
// Per page, 16 bytes: flags u16, mapping u16, _refcount i32, _mapcount i32, index u32. The five arrays
// are views into one pooled ArrayBuffer (the kernel's vmemmap is one array too), so a snapshot of every
// page's state is one memcpy (snapshot.ts); arrays added later (per-page contents) are allocated on
// first use with extra() and join the snapshot.
// Folio-wide fields of a large folio live in its tail pages' otherwise unused slots, as the kernel
// keeps them in the first tail pages: refcount[head+1] = _pincount, index[head+1] = _large_mapcount,
// and for folios of order 2 and up refcount[head+2] = _entire_mapcount and, for hugetlb folios,
// index[head+2] = the hugetlb flags the kernel keeps in folio->private (hugetlb.ts); a tail's mapping
// slot holds the folio's order (compound_head). Mapcounts are stored as natural counts (the kernel's
// value + 1). An order-1 folio (the page cache makes them: __filemap_get_folio() since 6.8) has one tail:
// what it needs is there, as the kernel keeps _large_mapcount and, on 64-bit, _pincount in page[1];
// it has no entire mapping (only PMD- and PUD-sized folios do).

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;
export const PMD_ORDER = 9;
export const PUD_ORDER = 18;
export const HPAGE_PMD_NR = 1 << PMD_ORDER;
export const PMD_SIZE = PAGE_SIZE << PMD_ORDER;
export const PUD_SIZE = PAGE_SIZE << PUD_ORDER;
export const MAX_ORDER = PUD_ORDER;
export const pageblock_order = PMD_ORDER;

/** include/linux/mm.h: a pin on a small folio adds this much to _refcount. */
export const GUP_PIN_COUNTING_BIAS = 1 << 10;

// Page flags (low 5 bits hold the folio order on the head page).
export const ORDER_MASK = 0x1f;
export const PG_head = 1 << 5;
export const PG_tail = 1 << 6;
export const PG_anon_exclusive = 1 << 7; // per page (head only for PMD/hugetlb mappings)
export const PG_dirty = 1 << 8;
export const PG_referenced = 1 << 9;
export const PG_writeback = 1 << 10;
export const PG_lru = 1 << 11;
export const PG_anon = 1 << 12; // folio->mapping has PAGE_MAPPING_ANON
export const PG_swapbacked = 1 << 13;
export const PG_buddy = 1 << 14; // page type: free in the buddy allocator
export const PG_hugetlb = 1 << 15; // page type: hugetlb folio

/** The name of the page-contents array among MemMap's extras. */
const CONTENTS = 'data';

/** Bytes of one word of MemMap's 64-bit view, and the pages whose 16-bit fields fill one. */
const WORD_BYTES = 8;
const WORD_PAGES = 4;

/** Pages of a large folio whose slots hold folio-wide fields: the head, _pincount's and _large_mapcount's. */
export const FOLIO_FIELD_PAGES = 3;

export type ZoneName = 'DMA32' | 'NORMAL' | 'MOVABLE' | 'DEVICE';

/** The per-page arrays. Owned by the machine; page_alloc and everything above index into them. */
export class MemMap {
  readonly nr: number;
  readonly flags: Uint16Array;
  readonly mapping: Uint16Array;
  readonly refcount: Int32Array;
  readonly mapcount: Int32Array;
  readonly index: Uint32Array;
  /**
   * PG_mlocked, by folio head. Kept beside the arrays, not in them: the 16-bit flags word is full
   * and few folios are mlocked. Set by mlock_folio(), cleared by munlock_folio() and when the folio
   * is freed (__page_cache_release()).
   */
  readonly mlocked = new Set<number>();
  /**
   * PG_private of a page-cache folio, by folio head: the file system's private data (ext4's buffer
   * heads) is attached, holding one folio reference (folio_attach_private()). Beside the arrays for
   * the same reason as mlocked. Dropped when the folio leaves the page cache (filemap_release_folio()).
   */
  readonly fsPrivate = new Set<number>();

  /** Large folios keep _pincount (KernelProfile.largeFolioPinAccounting 'pincount'; set by the machine). */
  largeFolioPincount = true;

  /** The pool every per-page array above is a view of (4-byte fields first, for alignment). */
  readonly pool: ArrayBuffer;
  /** Per-page arrays allocated on first use (extra()), by name; snapshots include them. */
  readonly extras = new Map<string, Uint32Array>();
  /**
   * Told of every write to an extra() array (the contents, through highmem.ts; the folio serial): the first
   * page and the number of pages. For a tool that follows what changes (the race explorer's journal).
   */
  onExtraWrite: ((pfn: number, nr: number) => void) | undefined = undefined;

  /**
   * Page contents, one 32-bit word per page standing for its bytes (highmem.ts reads and writes it):
   * an extra() array, so a machine whose pages were never given a non-zero value has none (every
   * page reads 0), and a snapshot includes it once it exists.
   */
  get data(): Uint32Array {
    return this.extra(CONTENTS);
  }
  /** The contents array if some page was ever given a value, else undefined (every page reads 0). */
  get dataIfAny(): Uint32Array | undefined {
    // Every allocation asks (kernel_init_pages()): no map look-up while no extra array exists.
    return this.extras.size === 0 ? undefined : this.extras.get(CONTENTS);
  }

  /**
   * The pool as 8-byte words, for clearing runs of page fields eight bytes a store (clearPageFields()):
   * only zeros are written through it. Undefined when the arrays do not start on 8-byte boundaries
   * (a page count that is not a multiple of 4).
   */
  private readonly words: Float64Array | undefined;
  /** Where flags, mapping and mapcount start in `words`. */
  private readonly flagsWord: number;
  private readonly mappingWord: number;
  private readonly mapcountWord: number;

  constructor(nrPages: number) {
    this.nr = nrPages;
    this.pool = new ArrayBuffer(nrPages * MemMap.BYTES_PER_PAGE);
    const n = nrPages;
    this.refcount = new Int32Array(this.pool, 0, n);
    this.mapcount = new Int32Array(this.pool, 4 * n, n);
    this.index = new Uint32Array(this.pool, 8 * n, n);
    this.flags = new Uint16Array(this.pool, 12 * n, n);
    this.mapping = new Uint16Array(this.pool, 14 * n, n);
    this.words = n % WORD_PAGES === 0 ? new Float64Array(this.pool) : undefined;
    this.flagsWord = (12 * n) / WORD_BYTES;
    this.mappingWord = (14 * n) / WORD_BYTES;
    this.mapcountWord = (4 * n) / WORD_BYTES;
  }

  /**
   * Zero the flags, mapcount and mapping of pages [pfn, pfn + nr): free_pages_prepare()'s per-page
   * clearing of a freed block. A run of whole 8-byte words (pfn and nr multiples of WORD_PAGES, as every
   * block of order 2 or more is) is cleared by word: a quarter of the stores for the 16-bit fields, half
   * for the mapcounts.
   */
  clearPageFields(pfn: number, nr: number): void {
    const w = this.words;
    if (w !== undefined && (pfn | nr) % WORD_PAGES === 0) {
      const words16 = nr / WORD_PAGES;
      const f = this.flagsWord + pfn / WORD_PAGES;
      const g = this.mappingWord + pfn / WORD_PAGES;
      for (let k = 0; k < words16; k++) {
        w[f + k] = 0;
        w[g + k] = 0;
      }
      const c = this.mapcountWord + pfn / 2;
      for (let k = 0; k < 2 * words16; k++) w[c + k] = 0;
      return;
    }
    const flags = this.flags;
    const mapcount = this.mapcount;
    const mapping = this.mapping;
    for (let i = pfn; i < pfn + nr; i++) {
      flags[i] = 0;
      mapcount[i] = 0;
      mapping[i] = 0;
    }
  }

  /** A 32-bit per-page array kept beside the pool, allocated (zeroed) the first time it is asked for. */
  extra(name: string): Uint32Array {
    let a = this.extras.get(name);
    if (!a) this.extras.set(name, (a = new Uint32Array(this.nr)));
    return a;
  }

  /** Bytes of model metadata per simulated page. */
  static readonly BYTES_PER_PAGE = 2 + 2 + 4 + 4 + 4;
  /** Bytes more per page once page contents are in use (the `data` array). */
  static readonly DATA_BYTES_PER_PAGE = 4;

  // --- struct folio accessors -------------------------------------------------------------

  /**
   * page_folio(): the head PFN of the folio that contains pfn. Folios are naturally aligned, and a
   * tail page's mapping slot holds its folio's order (set by prepNewFolio(), as the kernel sets each
   * tail's compound_head), so this is one step; the scan below only backs that up.
   */
  page_folio(pfn: number): number {
    if (!(this.flags[pfn]! & PG_tail)) return pfn;
    const head = pfn - (pfn & ((1 << this.mapping[pfn]!) - 1));
    if (head !== pfn && this.flags[head]! & PG_head) return head;
    for (let k = 1; k <= MAX_ORDER; k++) {
      const cand = pfn - (pfn & ((1 << k) - 1));
      const f = this.flags[cand]!;
      if (f & PG_head && (f & ORDER_MASK) >= k) return cand;
    }
    throw new Error(`gupsim bug: tail page ${pfn} without a head`);
  }

  folio_order(folio: number): number {
    return this.flags[folio]! & ORDER_MASK;
  }
  folio_nr_pages(folio: number): number {
    return 1 << (this.flags[folio]! & ORDER_MASK);
  }
  folio_test_large(folio: number): boolean {
    return (this.flags[folio]! & PG_head) !== 0;
  }
  folio_ref_count(folio: number): number {
    return this.refcount[folio]!;
  }
  folio_test_anon(folio: number): boolean {
    return (this.flags[folio]! & PG_anon) !== 0;
  }
  folio_test_hugetlb(folio: number): boolean {
    return (this.flags[folio]! & PG_hugetlb) !== 0;
  }
  folio_test_dirty(folio: number): boolean {
    return (this.flags[folio]! & PG_dirty) !== 0;
  }
  folio_test_mlocked(folio: number): boolean {
    return this.mlocked.has(folio);
  }

  /**
   * folio_has_pincount(): 64-bit kernels keep _pincount in every large folio. Under the 'head-bias'
   * profile no folio has one (hpage_pincount_available() did not exist yet), so every pin path takes
   * GUP_PIN_COUNTING_BIAS per page.
   */
  folio_has_pincount(folio: number): boolean {
    return this.largeFolioPincount && this.folio_test_large(folio);
  }

  /** folio->_pincount (0 for small folios, which count pins in _refcount). */
  folioPincount(folio: number): number {
    return this.folio_test_large(folio) ? this.refcount[folio + 1]! : 0;
  }
  setPincount(folio: number, v: number): void {
    this.refcount[folio + 1] = v;
  }

  /** _entire_mapcount + 1: PMD/PUD mappings of the whole folio. */
  folio_entire_mapcount(folio: number): number {
    return this.folio_order(folio) > 1 ? this.refcount[folio + 2]! : 0;
  }
  setEntireMapcount(folio: number, v: number): void {
    this.refcount[folio + 2] = v;
  }

  /** folio_mapcount(): total mappings (entire + every PTE), _large_mapcount + 1 in the kernel. */
  folio_mapcount(folio: number): number {
    return this.folio_test_large(folio) ? this.index[folio + 1]! | 0 : this.mapcount[folio]!;
  }
  addLargeMapcount(folio: number, d: number): void {
    this.index[folio + 1] = (this.index[folio + 1]! | 0) + d;
  }
  setLargeMapcount(folio: number, v: number): void {
    this.index[folio + 1] = v;
  }

  /** folio_nr_pages_mapped(): pages of the folio mapped by at least one PTE. */
  folio_nr_pages_mapped(folio: number): number {
    const n = this.folio_nr_pages(folio);
    let c = 0;
    for (let i = 0; i < n; i++) if (this.mapcount[folio + i]! > 0) c++;
    return c;
  }

  /** folio_mapped(). */
  folio_mapped(folio: number): boolean {
    return this.folio_mapcount(folio) > 0;
  }

  /** page_pgoff(): folio->index plus the page's offset in the folio (older kernels: page_index()). */
  page_pgoff(pfn: number): number {
    const folio = this.page_folio(pfn);
    return (this.index[folio]! + (pfn - folio)) >>> 0;
  }

  PageAnonExclusive(pfn: number): boolean {
    return (this.flags[pfn]! & PG_anon_exclusive) !== 0;
  }
  SetPageAnonExclusive(pfn: number): void {
    this.flags[pfn] = this.flags[pfn]! | PG_anon_exclusive;
  }
  ClearPageAnonExclusive(pfn: number): void {
    this.flags[pfn] = this.flags[pfn]! & ~PG_anon_exclusive;
  }

  setFlag(pfn: number, bit: number): void {
    this.flags[pfn] = this.flags[pfn]! | bit;
  }
  clearFlag(pfn: number, bit: number): void {
    this.flags[pfn] = this.flags[pfn]! & ~bit;
  }
  testFlag(pfn: number, bit: number): boolean {
    return (this.flags[pfn]! & bit) !== 0;
  }
}

/** A PFN slot that holds no page (the kernel's NULL struct page *): page-cache slots, pages[] arrays. */
export const NO_PFN = -1;
/** No folio (the kernel's NULL struct folio *): a failed folio allocation, the huge zero folio not yet made. */
export const NO_FOLIO = -1;

/** The zero page's frame, inside the reserved range (the kernel's empty_zero_page). */
export const ZERO_PFN = 0x10;

export function pageAlignUp(n: number, a = PAGE_SIZE): number {
  return Math.ceil(n / a) * a;
}
