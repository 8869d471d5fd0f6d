// What a person can observe of the machine at the end of an interleaving (no kernel counterpart): the
// counters that moved, each thread step's return value, every page of every region in every live process
// (frame, entry level and write bit, the folio's refcount, the page's mappings, pins, PageAnonExclusive,
// contents) and what each handle holds. Two end states are the same outcome when they look the same up to
// the naming of frames: which physical frame an allocation got depends on the order of allocations,
// which a person cannot see, so frames are named by where they first appear (F0, F1...) in the key.
// Runs of pages that look alike (the pages of one folio, mapped alike) are shown as one line. A folio's
// refcount leaves out the references the per-CPU LRU batches hold: gupsim's machine has one CPU, so one
// thread's lru_add_drain() (munmap's, migration's) drains a page another thread just faulted in, where on
// a real machine each thread has its own CPU's batches; and when a batch drains is not an outcome.
// The search compares end states by a hash of the key (observationKey()) and makes the lines and the key
// of an end state it has not seen from the same walk (observed()).

import type { RunContext } from '../../scenario/context.js';
import type { Machine } from '../../mm/machine.js';
import type { Process } from '../../mm/task.js';
import { PAGE_SIZE, PG_anon, PG_anon_exclusive, PG_head, PG_tail, PMD_SIZE, PUD_SIZE } from '../../mm/memmap.js';
import {
  PTE_PFN_SHIFT,
  _PAGE_PRESENT,
  _PAGE_RW,
  pmd_index,
  pte_index,
  pte_pfn,
  pte_present,
  pte_write,
} from '../../mm/pgtable.js';
import { folio_maybe_dma_pinned } from '../../mm/dma_pinned.js';
import { pageValue } from '../../mm/highmem.js';
import { hex } from '../../mm/hex.js';
import { forEachLruBatchEntry } from '../../mm/swap.js';
import { VMSTAT_ITEMS } from '../../mm/vmstat.js';
import { Hash } from './state_hash.js';
import { IntTable } from './int_table.js';
import type { HeldFrame, Holder } from '../../consumers/holder.js';

/** One page as a person sees it. */
interface PageView {
  pfn: number;
  level: 'pte' | 'pmd' | 'pud';
  writable: boolean;
  folio: number;
  refcount: number;
  mapcount: number;
  pinned: boolean;
  exclusive: boolean;
  value: number;
  /** Folio-wide: folio_test_anon(), folio_entire_mapcount(). */
  anon: boolean;
  entire: number;
}

/** A blank view, filled by viewPage(). */
const blankView = (): PageView => ({
  pfn: 0,
  level: 'pte',
  writable: false,
  folio: 0,
  refcount: 0,
  mapcount: 0,
  pinned: false,
  exclusive: false,
  value: 0,
  anon: false,
  entire: 0,
});

/**
 * The references the per-CPU LRU batches hold, by folio, counted once per observation, and the span of the
 * folios counted (a page outside it is in no batch: no look-up).
 */
const batchRefs = new IntTable();
const batchSpan = {
  lo: 0,
  hi: -1,
  add(folio: number): void {
    batchRefs.add(folio, 1);
    if (folio < this.lo) this.lo = folio;
    if (folio > this.hi) this.hi = folio;
  },
};

/** Count the references the per-CPU LRU batches hold, one per entry (lruBatchRefs()'s, for every folio at once). */
function countBatchRefs(m: Machine): void {
  batchRefs.clear();
  batchSpan.lo = Infinity;
  batchSpan.hi = -1;
  forEachLruBatchEntry(m, batchSpan);
}

/** The references the per-CPU LRU batches hold on folio. */
function batchRef(folio: number): number {
  return folio < batchSpan.lo || folio > batchSpan.hi ? 0 : Math.max(batchRefs.get(folio), 0);
}

/** The PTE table viewPage() last walked to: its process and its PMD's pmd_index(). */
const tableCache: { proc: Process | undefined; pmd: number; table: Uint32Array | undefined } = {
  proc: undefined,
  pmd: 0,
  table: undefined,
};

/**
 * The page at addr into `v` (reused: observe() views every page of every region at every end state).
 * `prev`: the view of the page before, whose folio-wide values are taken when it is in the same folio.
 */
function viewPage(m: Machine, p: Process, addr: number, v: PageView, prev?: PageView): PageView | undefined {
  const pt = p.mm.pt;
  // The PTE table of the page before, when this page is under the same PMD (no directory look-up).
  const pmd = pmd_index(addr);
  const cached = tableCache.proc === p && tableCache.pmd === pmd ? tableCache.table : undefined;
  let e = cached ? 0 : pt.pudLeaf(addr);
  let level: PageView['level'] = 'pud';
  let pfn: number;
  if (e) pfn = pte_pfn(e) + Math.floor((addr % PUD_SIZE) / PAGE_SIZE);
  else {
    const slot = cached ?? pt.pmdSlot(addr);
    if (slot && typeof slot !== 'number') {
      tableCache.proc = p;
      tableCache.pmd = pmd;
      tableCache.table = slot;
    }
    if (typeof slot === 'number') {
      e = slot;
      level = 'pmd';
      pfn = pte_pfn(e) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
    } else {
      e = slot ? slot[pte_index(addr)]! : 0;
      if (!pte_present(e)) return undefined;
      level = 'pte';
      pfn = pte_pfn(e);
    }
  }
  const mem = m.mem;
  const folio = mem.page_folio(pfn);
  v.pfn = pfn;
  v.level = level;
  v.writable = pte_write(e);
  if (prev && prev.folio === folio && prev !== v) {
    v.refcount = prev.refcount;
    v.pinned = prev.pinned;
    v.anon = prev.anon;
    v.entire = prev.entire;
  } else {
    v.refcount = mem.refcount[folio]! - batchRef(folio);
    v.pinned = folio_maybe_dma_pinned(m, folio);
    v.anon = mem.folio_test_anon(folio);
    v.entire = mem.folio_entire_mapcount(folio);
  }
  v.folio = folio;
  v.mapcount = mem.mapcount[pfn]! + v.entire;
  v.exclusive = v.anon && mem.PageAnonExclusive(level === 'pte' ? pfn : folio);
  v.value = pageValue(m, pfn);
  return v;
}

/** The view of the page `ahead` pages after `prev` in the same PMD or PUD leaf, into `v`. */
function nextInLeaf(m: Machine, prev: PageView, v: PageView, ahead = 1): PageView {
  Object.assign(v, prev);
  const pfn = prev.pfn + ahead;
  v.pfn = pfn;
  v.mapcount = m.mem.mapcount[pfn]! + v.entire;
  v.value = pageValue(m, pfn);
  return v;
}

/**
 * How many pages from the one at `addr` in p (at most `max`) continue the run `last` ends without a view of
 * their own (continues() of each, as viewPage() or nextInLeaf() would make it): inside the PMD or PUD leaf
 * `last` is in, the pages whose mapcount and contents match; in the PTE table `last` was read from, the
 * next frames mapped alike, of the same folio or (small folios) of ones counted alike. 0: the page at addr
 * needs its view.
 */
function sameRun(m: Machine, p: Process, last: PageView, addr: number, max: number): number {
  if (last.level !== 'pte') return sameInLeaf(m, last, addr, max);
  const table = tableCache.table;
  if (!table || tableCache.proc !== p || tableCache.pmd !== pmd_index(addr)) return 0;
  const mem = m.mem;
  const mc = mem.mapcount;
  const flags = mem.flags;
  const refcount = mem.refcount;
  const mapping = mem.mapping;
  const data = mem.dataIfAny;
  // The module constants in locals (V8 reloads and checks a module binding on every use).
  const presentBit = _PAGE_PRESENT;
  const rwBit = _PAGE_RW;
  const pfnShift = PTE_PFN_SHIFT;
  const tail = PG_tail;
  const head = PG_head;
  const compound = PG_head | PG_tail;
  const anonBit = PG_anon;
  const exclusiveBit = PG_anon_exclusive;
  const { writable, mapcount, exclusive, value, anon, entire, refcount: folioRefs } = last;
  const n = Math.min(max, pagesToBoundary(addr, PMD_SIZE));
  const first = pte_index(addr);
  let pfn = last.pfn;
  let folio = last.folio;
  let k = 0;
  for (; k < n; k++) {
    const e = table[first + k]!;
    const q = pfn + 1;
    // pte_present(), pte_pfn() (a 32-bit entry of a PTE table), pte_write().
    if (!(e & presentBit) || e >>> pfnShift !== q || ((e & rwBit) !== 0) !== writable) break;
    const f = flags[q]!;
    // page_folio(q) === folio, by its one step (a tail's mapping slot holds its folio's order) when that finds a head.
    const h = q - (q & ((1 << mapping[q]!) - 1));
    if (f & tail && (h !== q && flags[h]! & head ? h === folio : mem.page_folio(q) === folio)) {
      // The folio's next page: only its own mapcount, PageAnonExclusive and contents can differ.
      if (mc[q]! + entire !== mapcount || (anon && (f & exclusiveBit) !== 0) !== exclusive) break;
    } else {
      // A small folio after a small folio, counted alike (its view's entire mapcount is 0).
      if (folio !== pfn || f & compound) break;
      if (refcount[q]! - batchRef(q) !== folioRefs || mc[q]! !== mapcount) break;
      if (((f & anonBit) !== 0 && (f & exclusiveBit) !== 0) !== exclusive) break;
      folio = q;
    }
    if ((data ? data[q]! : 0) !== value) break;
    pfn = q;
  }
  return k;
}

/** sameRun() inside the PMD or PUD leaf `last` is in: the folio's next pages, of the same mapcount and contents. */
function sameInLeaf(m: Machine, last: PageView, addr: number, max: number): number {
  const mc = m.mem.mapcount;
  const data = m.mem.dataIfAny;
  const n = Math.min(max, pagesToBoundary(addr, last.level === 'pmd' ? PMD_SIZE : PUD_SIZE));
  let pfn = last.pfn;
  let k = 0;
  for (; k < n; k++) {
    const q = pfn + 1;
    if (mc[q]! + last.entire !== last.mapcount || (data ? data[q]! : 0) !== last.value) break;
    pfn = q;
  }
  return k;
}

/** How many pages from addr come before the next `size` boundary (addr, a page of a region, is page aligned). */
function pagesToBoundary(addr: number, size: number): number {
  const off = addr % size;
  return off === 0 ? 0 : (size - off) / PAGE_SIZE;
}

/**
 * Whether page b continues the run that page a ends: the next frame, mapped alike, in the same folio or
 * (small folios) in one counted alike.
 */
function continues(a: PageView | undefined, b: PageView | undefined): boolean {
  if (!a || !b) return !a && !b;
  return (
    (b.folio === a.folio || (b.folio === b.pfn && a.folio === a.pfn && b.refcount === a.refcount)) &&
    b.pfn === a.pfn + 1 &&
    b.level === a.level &&
    b.writable === a.writable &&
    b.mapcount === a.mapcount &&
    b.exclusive === a.exclusive &&
    b.value === a.value
  );
}

/** The first frame past the folio of pfn. */
function nextFolio(m: Machine, pfn: number): number {
  const folio = m.mem.page_folio(pfn);
  return folio + m.mem.folio_nr_pages(folio);
}

/**
 * Folio head -> the k of its name F<k>, for one observation at a time: the k in `names` counts when
 * `stamps` holds the observation's number (no clearing between observations; per-page arrays, as a run of
 * small folios names each).
 */
const naming = { names: new Int32Array(0), stamps: new Int32Array(0), stamp: 0 };
/** The last observation number an Int32Array holds: past it, new arrays. */
const STAMP_MAX = 2 ** 31 - 1;

/** Names frames by first appearance: folio head -> F<k>. */
class FrameNames {
  private size = 0;
  private readonly names: Int32Array;
  private readonly stamps: Int32Array;
  private readonly stamp: number;
  constructor(m: Machine) {
    const nr = m.mem.nr;
    if (naming.names.length !== nr || naming.stamp === STAMP_MAX) {
      naming.names = new Int32Array(nr);
      naming.stamps = new Int32Array(nr);
      naming.stamp = 0;
    }
    this.names = naming.names;
    this.stamps = naming.stamps;
    this.stamp = ++naming.stamp;
  }
  /** The k of folio's name, given the next one if it has none. */
  nameOf(folio: number): number {
    if (this.stamps[folio] === this.stamp) return this.names[folio]!;
    this.stamps[folio] = this.stamp;
    return (this.names[folio] = this.size++);
  }
  /** Give pfn's folio the next name if it has none. */
  note(m: Machine, pfn: number): void {
    this.nameOf(m.mem.page_folio(pfn));
  }
}

/** An end state as a person sees it: lines to show (real frames) and its key (frames by first appearance). */
export interface Observation {
  key: string;
  counters: Record<string, number>;
  returns: string[];
  pages: string[];
  handles: string[];
}

/** The vmstat counters by name, each with its slot in Vmstat.values(). */
const BY_NAME = VMSTAT_ITEMS.map((k, i) => [k, i] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));

/** forkParents() of each scenario (its steps never change). */
const parentsOf = new WeakMap<object, Map<string, string>>();

/** Each process forked in the scenario (in a concurrent step too), with the process it was forked from. */
function forkParents(ctx: RunContext): Map<string, string> {
  const known = parentsOf.get(ctx.sc);
  if (known) return known;
  const out = new Map<string, string>();
  parentsOf.set(ctx.sc, out);
  const visit = (steps: readonly unknown[]): void => {
    for (const s of steps as { op: string; proc?: string; child?: string; threads?: Record<string, unknown[]> }[]) {
      if (s.op === 'fork' && s.proc && s.child) out.set(s.child, s.proc);
      if (s.op === 'concurrent' && s.threads) for (const t of Object.values(s.threads)) visit(t);
    }
  };
  visit(ctx.sc.steps);
  return out;
}

/** Whether process `proc` has region `owner`'s mappings: it is the owner or was forked from it. */
function inherits(parents: Map<string, string>, proc: string, owner: string): boolean {
  for (let p: string | undefined = proc, n = 0; p !== undefined && n <= parents.size; p = parents.get(p), n++)
    if (p === owner) return true;
  return false;
}

/** One run of pages look() found: where it is and its first page's view (when mapped). */
interface Run {
  proc: string;
  region: string;
  /** The run's pages [i, j) of the region. */
  i: number;
  j: number;
  mapped: boolean;
  /** The first page's view (copied), the last page's frame and the first folio's name. */
  first: PageView;
  lastPfn: number;
  name: number;
}

/** One handle look() found: what it holds, and the name of each frame's folio. */
interface HandleSeen {
  name: string;
  frames: HeldFrame[];
  names: number[];
}

/** What look() found, reused from look to look (one observation at a time). */
const seen = {
  runs: [] as Run[],
  nRuns: 0,
  handles: [] as HandleSeen[],
  /** The vmstat slots of the counters that moved, and by how much. */
  moved: [] as number[],
  deltas: [] as number[],
  warns: 0,
  misuse: 0,
  hash: new Hash(),
};

/** Level codes for the key hash. */
const LEVEL_CODE = { pte: 1, pmd: 2, pud: 3 } as const;

/**
 * The key of the end state as a number: a 52-bit hash of what observe()'s key says (the same runs, frame
 * names, handles, counters and return values), without making a string. The explorer compares end states
 * by it, and asks observed() for the lines of an end state whose key it has not seen (a collision of two keys
 * is as likely as one of two states in the search's table of states entered, which is keyed the same way).
 * `rets`: each thread step's return value, in the order of observe()'s `returns`.
 */
export function observationKey(ctx: RunContext, rets: readonly { ret: number }[]): number {
  look(ctx);
  const h = seen.hash;
  h.word(rets.length);
  for (let k = 0; k < rets.length; k++) h.num(rets[k]!.ret);
  return h.value();
}

/** Observe the end state. `returns`: each thread step's "thread.step op = ret". */
export function observe(ctx: RunContext, returns: string[]): Observation {
  look(ctx);
  return observed(returns);
}

/**
 * The observation of the state observationKey() last looked at (no second walk: the explorer asks for it
 * at once, in the same state). `returns`: each thread step's "thread.step op = ret". `withKey` false: the
 * key is left empty (the search compares end states by observationKey()'s number; its verify mode, by both).
 */
export function observed(returns: string[], withKey = true): Observation {
  const out: Observation = { key: '', counters: {}, returns, pages: [], handles: [] };
  const keyParts: string[] = [];
  for (let r = 0; r < seen.nRuns; r++) {
    const { proc, region, i, j, mapped, first, lastPfn, name } = seen.runs[r]!;
    const at = `${proc} ${region}[${j - i > 1 ? `${i}..${j - 1}` : i}]`;
    if (!mapped) {
      out.pages.push([at, ': not mapped'].join(''));
      if (withKey) keyParts.push(`${at}:-`);
      continue;
    }
    const frames = j - i > 1 ? `frames ${hex(first.pfn)}..${hex(lastPfn)}` : `frame ${hex(first.pfn)}`;
    const desc =
      `${first.level} ${first.writable ? 'rw' : 'ro'}, folio refcount ${first.refcount}, ` +
      `mapcount ${first.mapcount}${first.pinned ? ', maybe pinned' : ''}${first.exclusive ? ', exclusive' : ''}` +
      (first.value ? `, data ${hex(first.value)}` : '');
    // Joined, not a template literal: one flat string (a template literal's result is a tree of its
    // pieces, V8's cons strings, several times the size of the text), and end states live as long as the search.
    out.pages.push([at, ': ', frames, ' ', desc].join(''));
    if (withKey) keyParts.push(`${at}:${frameName(name, first.pfn - first.folio)}*${j - i}:${desc}`);
  }
  for (const { name, frames, names } of seen.handles) {
    const held = frames.map((f) => `${hex(f.addr)} -> frame ${hex(f.pfn)}${f.pages > 1 ? ` (${f.pages} pages)` : ''}`);
    out.handles.push([name, ': ', held.join(', ') || 'nothing'].join(''));
    if (!withKey) continue;
    const named = frames.map(
      (f, k) => `${f.addr}>${frameName(names[2 * k]!, names[2 * k + 1]!)}/${f.pages}/${f.pins}/${f.refs}`,
    );
    keyParts.push(`${name}:${named.join(',')}`);
  }
  let moved = '';
  for (let k = 0; k < seen.moved.length; k++) {
    const name = VMSTAT_ITEMS[seen.moved[k]!]!;
    out.counters[name] = seen.deltas[k]!;
    if (withKey) moved += `${name} ${seen.deltas[k]},`;
  }
  if (seen.warns) out.counters.warnings = seen.warns;
  if (seen.misuse) out.counters.misuse = seen.misuse;
  if (!withKey) return out;
  keyParts.push(`${moved}${seen.warns},${seen.misuse}`, ...returns);
  out.key = keyParts.join('\n');
  return out;
}

/** A frame's name in a key: its folio's F<k>, and its page in the folio. */
function frameName(k: number, page: number): string {
  return page === 0 ? `F${k}` : `F${k}+${page}`;
}

/**
 * The walk observe() and observationKey() share: every run of pages, every handle and the counters that
 * moved, into `seen`, and hashed into seen.hash.
 */
function look(ctx: RunContext): void {
  const m = ctx.m;
  const h = seen.hash;
  h.reset();
  seen.nRuns = 0;
  tableCache.proc = undefined; // the page tables may have changed since the last observation
  countBatchRefs(m);
  const parents = forkParents(ctx);
  const names = new FrameNames(m);
  const views = VIEWS;
  const procs = liveByName(m);
  for (const r of ctx.regions.values())
    for (const p of procs) {
      if (!inherits(parents, p.name, r.owner) || !p.mm.vma_lookup(r.addr)) continue;
      const n = r.len / PAGE_SIZE;
      h.str(p.name);
      h.str(r.name);
      let i = 0;
      while (i < n) {
        const first = viewPage(m, p, r.addr + i * PAGE_SIZE, views[0]!);
        let j = i + 1;
        let last = first;
        for (; j < n; j++) {
          // A view that is neither the run's first nor its last page.
          const free = views[0] !== first && views[0] !== last ? views[0]! : views[1] !== last ? views[1]! : views[2]!;
          const addr = r.addr + j * PAGE_SIZE;
          // Pages that continue the run with nothing of their own to show are skipped over.
          const same = last ? sameRun(m, p, last, addr, n - j) : 0;
          if (same > 0) {
            last =
              last!.level === 'pte'
                ? viewPage(m, p, addr + (same - 1) * PAGE_SIZE, free, last)
                : nextInLeaf(m, last!, free, same);
            j += same - 1;
            continue;
          }
          // Inside the PMD or PUD leaf the last page was in, the page is the folio's next: only its own
          // mapcount and contents can differ (no page-table walk).
          const v =
            last && last.level !== 'pte' && addr % (last.level === 'pmd' ? PMD_SIZE : PUD_SIZE) !== 0
              ? nextInLeaf(m, last, free)
              : viewPage(m, p, addr, free, last);
          if (!continues(last, v)) break;
          last = v;
        }
        const run = (seen.runs[seen.nRuns++] ??= {
          proc: '',
          region: '',
          i: 0,
          j: 0,
          mapped: false,
          first: blankView(),
          lastPfn: 0,
          name: 0,
        });
        run.proc = p.name;
        run.region = r.name;
        run.i = i;
        run.j = j;
        run.mapped = first !== undefined;
        h.word(i);
        h.word(j - i);
        if (first) {
          Object.assign(run.first, first);
          run.lastPfn = last!.pfn;
          // Name the run's first folio, then every other folio of the run, in order, so later mentions of
          // their frames name them alike.
          run.name = names.nameOf(first.folio);
          for (let pfn = nextFolio(m, first.pfn); pfn <= last!.pfn; pfn = nextFolio(m, pfn)) names.note(m, pfn);
          h.word(run.name);
          h.word(first.pfn - first.folio);
          h.word(LEVEL_CODE[first.level]);
          h.word((first.writable ? 1 : 0) | (first.pinned ? 2 : 0) | (first.exclusive ? 4 : 0));
          h.num(first.refcount);
          h.num(first.mapcount);
          h.num(first.value);
        } else h.word(-1);
        i = j;
      }
    }
  h.word(-3); // the runs end, the handles begin
  seen.handles.length = 0;
  const objects = OBJECTS;
  objects.length = 0;
  for (const o of ctx.objects.values()) objects.push(o);
  for (const o of sortByName(objects)) {
    const frames = o.frames();
    const held: HandleSeen = { name: o.name, frames, names: [] };
    h.str(o.name);
    h.word(frames.length);
    for (const f of frames) {
      const folio = m.mem.page_folio(f.pfn);
      const name = names.nameOf(folio);
      held.names.push(name, f.pfn - folio);
      h.num(f.addr);
      h.word(name);
      h.word(f.pfn - folio);
      h.word(f.pages);
      h.word(f.pins);
      h.word(f.refs);
    }
    seen.handles.push(held);
  }
  // The counters that moved (RunContext.vmstatDelta()'s, by name), read off the counters themselves.
  const now = m.vmstat.values();
  seen.moved.length = 0;
  seen.deltas.length = 0;
  for (const [k, i] of BY_NAME) {
    const d = now[i]! - (ctx.start[k] ?? 0);
    if (!d) continue;
    seen.moved.push(i);
    seen.deltas.push(d);
    h.word(i);
    h.num(d);
  }
  seen.warns = m.warns.records.length;
  seen.misuse = m.misuse.records.length;
  h.word(-2);
  h.word(seen.warns);
  h.word(seen.misuse);
}

/** The three views look() reuses. */
const VIEWS = [blankView(), blankView(), blankView()];

/** The live processes, by name. */
function liveByName(m: Machine): Process[] {
  // Into one array, kept from look to look (an end state is looked at every few states), sorted in place.
  const out = LIVE;
  out.length = 0;
  for (const p of m.processes.values()) if (p.alive) out.push(p);
  return sortByName(out);
}
const LIVE: Process[] = [];
const OBJECTS: Holder[] = [];
/** Sort by name in place (insertion: a few processes or handles; Array.prototype.sort() allocates its work array). */
function sortByName<T extends { name: string }>(a: T[]): T[] {
  for (let i = 1; i < a.length; i++) {
    const x = a[i]!;
    let j = i - 1;
    for (; j >= 0 && a[j]!.name > x.name; j--) a[j + 1] = a[j]!;
    a[j + 1] = x;
  }
  return a;
}

/** The pages of every region in every live process, one line per run (for a trace's steps). */
export function pageLines(ctx: RunContext): string[] {
  return observe(ctx, []).pages;
}
