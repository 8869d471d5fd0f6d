// Models the subpage entries mm/gup.c's record_subpages() writes into a caller's pages[] array for a
// PMD or PUD leaf (gup_fast_pmd_leaf(), gup_fast_pud_leaf()): one entry per page of the leaf, each the
// next page of the same folio. A caller that walks the array by folio (io_uring's coalescing check)
// may take those entries as runs instead: pages[at + j] is pfn + j for j < count, and GUP writes
// nothing into pages[] there, so a large folio costs its caller O(1), not O(pages). The array the
// caller then sees, entry by entry, is the kernel's (read()); fill() writes it out when needed.

/** Leaf runs of one GUP call, in index order, not overlapping. */
export class PageRuns {
  private at = new Int32Array(16);
  private pfn = new Int32Array(16);
  private count = new Int32Array(16);
  /** Runs recorded. */
  n = 0;

  clear(): void {
    this.n = 0;
  }

  /** pages[at..at+count) are pfn, pfn + 1, ...: one leaf's pages. */
  push(at: number, pfn: number, count: number): void {
    if (this.n === this.at.length) {
      const grow = (a: Int32Array) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.at = grow(this.at);
      this.pfn = grow(this.pfn);
      this.count = grow(this.count);
    }
    this.at[this.n] = at;
    this.pfn[this.n] = pfn;
    this.count[this.n] = count;
    this.n++;
  }

  /** Write every run's entries into pages[], which then holds what the kernel's array holds. */
  fill(pages: Int32Array): void {
    for (let k = 0; k < this.n; k++) {
      const at = this.at[k]!;
      const pfn = this.pfn[k]!;
      const end = at + this.count[k]!;
      for (let i = at; i < end; i++) pages[i] = pfn + (i - at);
    }
  }

  /** A reader of pages[] through the runs, for indexes that never decrease. */
  reader(pages: Int32Array): PageRunReader {
    return new PageRunReader(pages, this.at, this.pfn, this.count, this.n);
  }
}

/** Reads entries of a pages[] array whose leaf entries are runs (PageRuns), at indexes that never decrease. */
export class PageRunReader {
  /** The first run that does not end at or before the last index read. */
  private k = 0;

  constructor(
    private readonly pages: Int32Array,
    private readonly at: Int32Array,
    private readonly pfn: Int32Array,
    private readonly count: Int32Array,
    private readonly n: number,
  ) {}

  /** The run holding index i, or -1 (the entry is in pages[]). */
  private runOf(i: number): number {
    while (this.k < this.n && this.at[this.k]! + this.count[this.k]! <= i) this.k++;
    return this.k < this.n && this.at[this.k]! <= i ? this.k : -1;
  }

  /** pages[i] as the kernel's array holds it. */
  read(i: number): number {
    const r = this.runOf(i);
    return r < 0 ? this.pages[i]! : this.pfn[r]! + (i - this.at[r]!);
  }

  /**
   * The first index in [i, stop) whose entry is not expect0 + index (stop if none): how far the entries
   * from i continue a sequence of consecutive PFNs. A run is crossed in one step: its entries are
   * consecutive, so if its entry at i continues the sequence, all of them do.
   */
  sequenceEnd(i: number, stop: number, expect0: number): number {
    while (i < stop) {
      const r = this.runOf(i);
      if (r < 0) {
        if (this.pages[i] !== expect0 + i) return i;
        i++;
        continue;
      }
      const at = this.at[r]!;
      if (this.pfn[r]! + (i - at) !== expect0 + i) return i;
      i = Math.min(stop, at + this.count[r]!);
    }
    return stop;
  }
}
