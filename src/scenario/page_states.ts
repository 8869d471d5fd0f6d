// What the page map (pagemap.ts) says of a page: its state (the map's colour), a few bits beside it,
// a region's map as typed arrays, and what is counted from one. Plain data and pure functions, no
// model code: the playground's page draws maps with them while the worker computes them.

/** What a page of a region is, one value per page (the map's colour). */
export const PageState = {
  /** No page mapped (never faulted, zapped, or the process is gone). */
  NOT_PRESENT: 0,
  /** The shared zero page (a read fault of never-written anon memory). */
  ZERO: 1,
  /** Part of the PMD-sized huge zero folio. */
  HUGE_ZERO: 2,
  /** Anon, PageAnonExclusive: only this process maps it; writes need no copy. */
  ANON_EXCLUSIVE: 3,
  /** Anon without PageAnonExclusive: may be shared with a parent or child (COW after fork). */
  ANON_SHARED: 4,
  /** folio_maybe_dma_pinned(), and a pin is held on it. */
  PINNED: 5,
  /** folio_maybe_dma_pinned() on a small folio that no holder pins: plain references reached the bias. */
  FALSE_POSITIVE: 6,
  /** Page cache (shmem, file, hugetlbfs), clean. */
  CACHE_CLEAN: 7,
  /** Page cache, PG_dirty. */
  CACHE_DIRTY: 8,
  /** Page cache, PG_writeback. */
  CACHE_WRITEBACK: 9,
  /** A PFN map (VM_PFNMAP, remap_pfn_range): a special entry with no struct page behind it. */
  PFNMAP: 10,
} as const;
export type PageStateValue = (typeof PageState)[keyof typeof PageState];

/** Names of the states, indexed by value, as the map's text alternative spells them. */
export const PAGE_STATE_NAMES: readonly string[] = [
  'not present',
  'zero page',
  'huge zero folio',
  'exclusive anon',
  'COW-shared anon',
  'pinned',
  'false positive (maybe pinned, no pin)',
  'page cache, clean',
  'page cache, dirty',
  'page cache, writeback',
  'PFN map (no struct page)',
];

/** Bits beside the state. */
export const PAGE_LARGE = 1; // in a large folio (order > 0)
export const PAGE_FOLIO_HEAD = 2; // the first page of a large folio: a folio boundary starts here
export const PAGE_PMD_MAPPED = 4; // mapped by a PMD or PUD leaf rather than a PTE
export const PAGE_WRITABLE = 8; // the mapping is writable

export interface RegionMap {
  /** PageState per page. */
  state: Uint8Array;
  /** PAGE_* bits per page. */
  bits: Uint8Array;
  /** PFN per page, -1 when not present (PFN maps: the special entry's PFN). */
  pfn: Int32Array;
}

/** Pages per state, indexed by PageState value. */
export function countStates(map: RegionMap): number[] {
  const counts = new Array<number>(PAGE_STATE_NAMES.length).fill(0);
  for (let i = 0; i < map.state.length; i++) counts[map.state[i]!]!++;
  return counts;
}

/** Runs of equal state: [first page, count, state], for the map's text alternative. */
export function stateRuns(map: RegionMap): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let i = 0; i < map.state.length;) {
    const s = map.state[i]!;
    let j = i + 1;
    while (j < map.state.length && map.state[j] === s) j++;
    out.push([i, j - i, s]);
    i = j;
  }
  return out;
}
