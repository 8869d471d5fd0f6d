// What /proc tells about a page frame (fs/proc/page.c: /proc/kpagecount, /proc/kpageflags;
// include/uapi/linux/kernel-page-flags.h) and which zone a PFN is in (/proc/zoneinfo), turned into
// the `inspect` fields of DESIGN.md's result JSON. Fields the kernel does not expose are null.

import { readFileSync } from 'node:fs';
import { absentPage, type PageInfo } from '../scenario/inspect.js';

/** KPF_* bit numbers, include/uapi/linux/kernel-page-flags.h. */
export const KPF_NAMES: readonly string[] = [
  'LOCKED',
  'ERROR',
  'REFERENCED',
  'UPTODATE',
  'DIRTY',
  'LRU',
  'ACTIVE',
  'SLAB',
  'WRITEBACK',
  'RECLAIM',
  'BUDDY',
  'MMAP',
  'ANON',
  'SWAPCACHE',
  'SWAPBACKED',
  'COMPOUND_HEAD',
  'COMPOUND_TAIL',
  'HUGE',
  'UNEVICTABLE',
  'HWPOISON',
  'NOPAGE',
  'KSM',
  'THP',
  'OFFLINE',
  'ZERO_PAGE',
  'IDLE',
  'PGTABLE',
];
export const KPF_ZERO_PAGE = 24;
export const KPF_DIRTY = 4;
export const KPF_LRU = 5;
export const KPF_WRITEBACK = 8;
/** One of the "kernel hacking" bits /proc/kpageflags also reports (include/linux/kernel-page-flags.h). */
export const KPF_MLOCKED = 33;

/** A /proc/kpageflags bit, or null when the flags were not read. */
function kpf(flags: bigint | undefined, bit: number): boolean | null {
  return flags === undefined ? null : (flags & (1n << BigInt(bit))) !== 0n;
}

export function kpageflagNames(flags: bigint): string[] {
  const out: string[] = [];
  KPF_NAMES.forEach((name, bit) => {
    if (flags & (1n << BigInt(bit))) out.push(name);
  });
  return out;
}

export interface ZoneSpan {
  zone: string;
  start: number;
  end: number;
}

let zones: ZoneSpan[] | undefined;

/** Zone spans from /proc/zoneinfo ("Node 0, zone   Normal" ... "start_pfn:", "spanned"). */
export function readZones(text?: string): ZoneSpan[] {
  const src = text ?? readFileSync('/proc/zoneinfo', 'utf8');
  const out: ZoneSpan[] = [];
  let cur: { zone: string; spanned?: number; start?: number } | undefined;
  const flush = () => {
    if (cur && cur.spanned && cur.start !== undefined)
      out.push({ zone: cur.zone, start: cur.start, end: cur.start + cur.spanned });
  };
  for (const line of src.split('\n')) {
    const z = /^Node\s+\d+,\s+zone\s+(\S+)/.exec(line);
    if (z) {
      flush();
      cur = { zone: z[1]!.toUpperCase() };
      continue;
    }
    if (!cur) continue;
    const sp = /^\s+spanned\s+(\d+)/.exec(line);
    if (sp) cur.spanned = Number(sp[1]);
    const st = /^\s+start_pfn:\s+(\d+)/.exec(line);
    if (st) cur.start = Number(st[1]);
  }
  flush();
  return out;
}

/**
 * The zone a PFN belongs to (the model's names: DMA, DMA32, NORMAL, MOVABLE, DEVICE), or null; in
 * this machine's zones unless others are given (a VM's /proc/zoneinfo).
 */
export function zoneOfPfn(pfn: number, spans?: ZoneSpan[]): string | null {
  if (!spans) {
    try {
      zones ??= readZones();
    } catch {
      return null;
    }
  }
  // Later zones win: ZONE_MOVABLE overlaps ZONE_NORMAL's span when movablecore= is used.
  let hit: string | null = null;
  for (const z of spans ?? zones!) if (pfn >= z.start && pfn < z.end) hit = z.zone;
  return hit;
}

/**
 * Where the kernel engine reads each `inspect` field that `gupsim diff` compares on a present page.
 * A null there means the file could not be read (not root, a kernel without it, a page the helper
 * could not size): the field is not compared, and the diff names it.
 */
export const INSPECT_FIELD_SOURCE = {
  present: '/proc/<pid>/pagemap',
  order: '/proc/kpageflags (compound head and tail bits)',
  mapcount: '/proc/kpagecount',
  zero_page: '/proc/kpageflags',
} as const;

/** One page as the helper's inspect command reports it. */
export interface HelperPage {
  present: boolean;
  pfn?: number | null;
  mapcount?: number;
  flags?: string;
  order?: number;
  exclusive?: boolean;
  file?: boolean;
  swap?: boolean;
  /** The page's first 32-bit word (its contents): the engine adds it from the process's `peek`. */
  data?: number;
  /** struct page fields from gupsim's GUP module (in the VMs), absent on a host. */
  gup?: ModulePage;
}

/** What gupsim's module reads from the struct page of a frame (vm/module/gupsim_gup.h). */
export interface ModulePage {
  pfn: number;
  head_pfn: number;
  refcount: number;
  folio_refcount: number;
  /** -1 where folio_mapcount() is not available (6.1). */
  mapcount: number;
  /** This page's PTE maps. */
  page_mapcount: number;
  /** PMD/PUD maps of the folio. */
  entire_mapcount: number;
  /** The large folio's pin count, -1 for a small folio. */
  pincount: number;
  order: number;
  maybe_dma_pinned: boolean;
  anon: boolean;
  anon_exclusive: boolean;
  head_anon_exclusive: boolean;
  /** The entry that maps the page in the inspected process: 1 PTE, 2 PMD, 3 PUD (a page table walk). */
  level?: number;
  /** Whether that entry is writable. */
  writable?: boolean;
}

/**
 * How a present page is mapped in the inspected process: the module's page table walk; without it,
 * hugetlb by its page size, a PMD-sized folio with an entire (PMD) map and no PTE map of this page
 * by a PMD, anything else by a PTE.
 */
function mappingLevel(g: ModulePage, hugetlb: PageInfo['mapped_by']): 'pte' | 'pmd' | 'pud' {
  if (g.level === 1) return 'pte';
  if (g.level === 2) return 'pmd';
  if (g.level === 3) return 'pud';
  if (hugetlb) return hugetlb;
  return g.order === 9 && g.entire_mapcount > 0 && g.page_mapcount === 0 ? 'pmd' : 'pte';
}

/** Kernel-side PageInfo: what /proc shows, null for what it does not. */
export function pageInfoFromHelper(
  page: number,
  h: HelperPage,
  mappedBy: PageInfo['mapped_by'],
  zones?: ZoneSpan[] | ((pfn: number) => string | null),
): PageInfo & { kpageflags: string[] | null; mapped_exclusively: boolean | null } {
  if (!h.present) return { ...absentPage(page), kpageflags: null, mapped_exclusively: null };
  const flags = h.flags !== undefined ? BigInt(h.flags) : undefined;
  const pfn = h.pfn ?? null;
  const zone = pfn === null ? null : typeof zones === 'function' ? zones(pfn) : zoneOfPfn(pfn, zones);
  const g = h.gup;
  const info = {
    page,
    present: true,
    pfn,
    // _refcount and _pincount are not exported to user space; kpagecount is the map count.
    refcount: null as number | null,
    mapcount: h.mapcount ?? null,
    pincount: null as number | null,
    order: h.order ?? null,
    zone,
    mapped_by: mappedBy,
    writable: null as boolean | null,
    // A pin shows nowhere in /proc/kpage* (FACTS.md: only REFERENCED, which GUP sets and unpin keeps).
    maybe_dma_pinned: null as boolean | null,
    // pagemap's "exclusively mapped" bit is about the map count, not PageAnonExclusive.
    anon_exclusive: null as boolean | null,
    false_positive: null as boolean | null,
    zero_page: kpf(flags, KPF_ZERO_PAGE),
    dirty: kpf(flags, KPF_DIRTY),
    writeback: kpf(flags, KPF_WRITEBACK),
    lru: kpf(flags, KPF_LRU),
    mlocked: kpf(flags, KPF_MLOCKED),
    // The model's folio numbering and who holds the references are known to the model only.
    serial: null,
    refcount_parts: null,
    // The page's first 32-bit word, read by the process itself (null where it could not be read).
    data: h.data ?? null,
    kpageflags: flags !== undefined ? kpageflagNames(flags) : null,
    mapped_exclusively: h.exclusive ?? null,
  };
  if (g) {
    // gupsim's module read the struct page (the VMs): the folio's refcount, as the model reports
    // it; the large folio's pin count (null for a small folio, which has none: folio_has_pincount());
    // PageAnonExclusive of the page, or of the head for a PMD-mapped THP and hugetlb.
    const level = mappingLevel(g, mappedBy);
    info.refcount = g.folio_refcount;
    info.pincount = g.pincount < 0 ? null : g.pincount;
    info.maybe_dma_pinned = g.maybe_dma_pinned;
    // A large folio's folio_maybe_dma_pinned() is its exact pin count, never a false positive; a
    // small folio's pins cannot be told from plain references by the kernel (null: unknown).
    if (g.pincount >= 0) info.false_positive = false;
    info.anon_exclusive = g.anon && (level === 'pte' && !mappedBy ? g.anon_exclusive : g.head_anon_exclusive);
    info.mapped_by = level;
    if (g.writable !== undefined) info.writable = g.writable;
    info.order ??= g.order;
  }
  return info;
}
