// gupsim's own diagnosis of a caller breaking the pin/reference rules (double unpin, put_page() on a
// pinned page, unpin of a FOLL_GET page...). No kernel file: the kernel applies its arithmetic and says
// nothing (or WARNs where it has a WARN, which stays in the WarnLog). The closest kernel notion is the
// taint a machine carries after a bad page (add_taint(TAINT_BAD_PAGE) in mm/page_alloc.c bad_page()):
// a machine that saw misuse is marked, and so is every folio whose counts misuse has put out of line,
// so the invariant checker relaxes exactly the checks misuse can break, and only for those folios.
//
// A folio whose count reaches zero while it is still mapped (or in the page cache) is freed by the
// kernel (__folio_put(): a use-after-free). gupsim keeps such a folio out of its own allocator until
// nothing can reach it any more (see swap.ts), so its struct pages never double as buddy links.

/** One misuse event: what the caller did wrong and what the kernel did about it. */
export interface MisuseRecord {
  /** Step index of the scenario (set by the runner), if any. */
  step?: number;
  /** The scenario's handle (pin handle, ring...) the caller used, if known. */
  handle?: string;
  /** What was wrong, in gupsim's words. */
  what: string;
  /** What the kernel did: its arithmetic, and the consequence (leak, use-after-free, later refusal). */
  kernel: string;
}

/** A folio the kernel freed while still in use, kept out of gupsim's allocator. */
export interface FreedInUse {
  /** Step it was freed at (undefined outside a scenario). */
  step: number | undefined;
  /** A later count drop reached zero again while it was still mapped (a double free in the kernel). */
  freedAgain: boolean;
}

/** An inner report: its folio-specific account and its consequence, merged apart. */
interface InnerReport {
  what: string;
  detail: string;
  effect: string;
}

/** What a caller that knows more (the scenario's handle, its own diagnosis) wraps around a kernel call. */
interface Attribution {
  handle: string | undefined;
  what: string | undefined;
  /** Reports made inside, merged into one record when the attribution ends. */
  inner: InnerReport[];
}

/** Texts listed in full in a merged record; the rest are counted. */
const MERGED_TEXTS = 3;

/** The folio accounts (the first few), then each distinct consequence once. */
function joinKernel(details: string[], effects: string[]): string {
  const e = [...new Set(effects.filter(Boolean).map((x) => x.replace(/\.$/, '')))];
  return summarize(details) + (e.length ? '. ' + e.join('. ') : '');
}

/** The distinct texts, the first few in full. */
function summarize(texts: string[]): string {
  const distinct = [...new Set(texts)];
  const more = distinct.length - MERGED_TEXTS;
  return distinct.slice(0, MERGED_TEXTS).join('; ') + (more > 0 ? `; and ${more} more like it` : '');
}

export class MisuseLog {
  readonly records: MisuseRecord[] = [];
  /** Set by the scenario runner so records name the step. */
  step: number | undefined;
  /**
   * Folio head PFN -> folio order, for every folio whose counts misuse has made unexplainable
   * (a refcount or _pincount that no longer equals mappings + page cache + pins). Never cleared:
   * even after the frames are freed and reused, a stale pin or reference to them may still be
   * released by its holder and land on their next owner (as in the kernel).
   */
  readonly taintedFolios = new Map<number, number>();
  /** Folios freed while still mapped or cached, by head PFN (see swap.ts folio_put_refs()). */
  readonly freedInUse = new Map<number, FreedInUse>();
  private attribution: Attribution | undefined;

  /** The machine saw misuse (the model's taint): some counters may no longer balance. */
  get tainted(): boolean {
    return this.records.length > 0 || this.taintedFolios.size > 0;
  }

  /**
   * Record one misuse event: `what` went wrong; `detail` is what the kernel did to this folio (its
   * arithmetic), `effect` the consequence in words shared by every folio alike (may be empty).
   * `folios` (head PFN, order) are the folios whose counts it broke.
   */
  report(what: string, detail: string, effect = '', folios: ReadonlyArray<readonly [number, number]> = []): void {
    for (const [folio, order] of folios) this.taint(folio, order);
    if (this.attribution) {
      this.attribution.inner.push({ what, detail, effect });
      return;
    }
    this.push({ what, kernel: joinKernel([detail], [effect]) });
  }

  private push(rec: MisuseRecord): void {
    if (this.step !== undefined) rec.step = this.step;
    this.records.push(rec);
  }

  /** Mark a folio as one whose counts misuse has broken. */
  taint(folio: number, order: number): void {
    this.taintedFolios.set(folio, Math.max(order, this.taintedFolios.get(folio) ?? 0));
  }

  /** True when misuse touched any page of [pfn, pfn + nr). */
  touches(pfn: number, nr: number): boolean {
    if (this.taintedFolios.size === 0) return false;
    for (const [f, order] of this.taintedFolios) if (f < pfn + nr && pfn < f + (1 << order)) return true;
    return false;
  }

  /**
   * Run `fn` (a kernel call made on behalf of a scenario handle) and turn everything it reports, plus
   * the caller's own diagnosis `what`, into one record naming the handle. With neither a diagnosis nor
   * an inner report nothing is recorded. `kernel` describes the call when nothing inside reported;
   * `folios` (head PFN, order) are tainted when the caller diagnosed misuse.
   */
  attribute<T>(
    a: {
      handle?: string;
      what?: string;
      folios?: ReadonlyArray<readonly [number, number]>;
      kernel: () => string;
    },
    fn: () => T,
  ): T {
    const outer = this.attribution;
    const scope: Attribution = { handle: a.handle, what: a.what, inner: [] };
    this.attribution = scope;
    let ret: T;
    try {
      ret = fn();
    } finally {
      this.attribution = outer;
    }
    if (a.what === undefined && scope.inner.length === 0) return ret;
    if (a.what !== undefined) for (const [folio, order] of a.folios ?? []) this.taint(folio, order);
    const inner = scope.inner;
    const rec: MisuseRecord = {
      what: a.what ?? summarize(inner.map((r) => r.what)),
      kernel: inner.length
        ? joinKernel(
            inner.map((r) => r.detail),
            inner.map((r) => r.effect),
          )
        : a.kernel(),
    };
    if (a.handle !== undefined) rec.handle = a.handle;
    if (outer) outer.inner.push({ what: rec.what, detail: rec.kernel, effect: '' });
    else this.push(rec);
    return ret;
  }
}
