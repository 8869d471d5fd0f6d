// gupsim's model benchmarks: what pin_user_pages_fast + unpin_user_pages cost per page in the model,
// how many bytes of metadata the model keeps per simulated page, and whether a big machine (64 GiB with
// a 16 GiB process fully faulted in) fits in memory and builds in seconds.
//
// Pure: no Node imports (timing uses the global performance.now(), which browsers have too). Heap
// figures come from a callback the caller passes in, since only the host knows how to read its heap.
// A wrong result from the model (a short pin, unbalanced pin counters, a WARN) throws: a benchmark of
// a broken model is worthless, so it must fail loudly rather than print a number.

import { Machine } from '../mm/machine.js';
import { NO_PFN, MemMap, PAGE_SIZE, PMD_SIZE, PMD_ORDER } from '../mm/memmap.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { pin_user_pages_fast, unpin_user_pages } from '../mm/gup.js';
import { FOLL_WRITE, FOLL_LONGTERM } from '../mm/foll_flags.js';
import { pte_pfn } from '../mm/pgtable.js';

export type Backing = 'base' | 'thp';

const MiB = 1 << 20;
const GiB = 1 << 30;

/** The sizes DESIGN.md benchmarks: 1 MiB, 64 MiB, 1 GiB. */
export const DEFAULT_SIZES: readonly number[] = [MiB, 64 * MiB, GiB];

/** One `pin` row of the benchmark JSON. */
export interface PinRow {
  backing: Backing;
  bytes: number;
  pin_ns_per_page: number;
  unpin_ns_per_page: number;
  /** Timed runs the medians are taken over (after untimed warm-up runs). */
  runs: number;
  /** pin_user_pages_fast calls (each on the whole buffer) per timed run, then as many unpins. */
  calls_per_run: number;
}

/** The `big` object of the benchmark JSON. */
export interface BigResult {
  machine_bytes: number;
  faulted_bytes: number;
  /** Growth of JS heap + ArrayBuffer bytes while building and faulting (null: no heap reader). */
  heap_bytes: number | null;
  /** Whether heap_bytes was read after a full garbage collection (otherwise it includes garbage). */
  heap_after_gc: boolean;
  /** Wall time to build the machine, mmap and fault everything in. */
  seconds: number;
  /** Bytes of PTE tables of the faulted process (4 bytes per PTE, 512 per table). */
  pgtable_bytes: number;
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of nothing');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Timed runs per size: many for small buffers (timer noise), few for 1 GiB (each takes a while). */
export function runsFor(bytes: number): number {
  if (bytes >= GiB) return 3;
  if (bytes >= 64 * MiB) return 5;
  return 15;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`gupsim bench: model check failed: ${what}`);
}

/** A process with `bytes` of private anon memory, written (so fully faulted in), and its address. */
function faultedBuffer(m: Machine, backing: Backing, bytes: number): { addr: number; mapped: number } {
  const p = m.spawn('bench');
  // A THP buffer smaller than a PMD is the start of one 2 MiB folio (a sub-PMD mapping would get base
  // pages, with mTHP at its default of never): map whole PMDs, pin only `bytes` of them.
  const mapped = backing === 'thp' ? Math.ceil(bytes / PMD_SIZE) * PMD_SIZE : bytes;
  const addr = do_mmap(m, p, { size: mapped, type: 'anon', align: backing === 'thp' ? PMD_SIZE : PAGE_SIZE });
  check(addr >= 0, `mmap of ${mapped} bytes returned ${addr}`);
  const adv = do_madvise(m, p, addr, mapped, backing === 'thp' ? 'hugepage' : 'nohugepage');
  check(adv === 0, `madvise returned ${adv}`);
  const r = userAccess(m, p, addr, mapped, true);
  check(r === 0, `faulting in ${mapped} bytes returned ${r}`);
  const pt = p.mm.pt;
  if (backing === 'thp') check(pt.pmdLeaf(addr) !== 0, 'THP buffer is not PMD-mapped');
  else check(pt.pte(addr) !== 0, 'base-page buffer is not PTE-mapped');
  return { addr, mapped };
}

/**
 * Untimed warm-up runs: enough to push about 1 Mi pages through pin and unpin (at least one run), so
 * the JIT has optimised the paths being measured; a 1 MiB buffer would otherwise be timed in the
 * interpreter and report ten times the steady-state cost.
 */
export function warmupFor(bytes: number): number {
  return Math.max(1, Math.ceil((1 << 20) / (callsPerRun(bytes) * (bytes / PAGE_SIZE))));
}

/** Pages each timed sample covers at least: a 1 MiB buffer (256 pages, ~10 us) is pinned 64 times
 *  back to back per sample, so one timer read or one preemption does not decide a run. */
const MIN_SAMPLE_PAGES = 16384;

/** pin_user_pages_fast calls per timed sample for a buffer of `bytes` (then as many unpins). */
export function callsPerRun(bytes: number): number {
  return Math.max(1, Math.ceil(MIN_SAMPLE_PAGES / (bytes / PAGE_SIZE)));
}

/**
 * pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM) — what io_uring buffer registration calls — then
 * unpin_user_pages() on a pre-faulted private anon buffer; each timed separately, medians over
 * `runs` timed runs after `warmup` untimed ones. A run pins the whole buffer callsPerRun() times
 * (each pin into its own pages[]; small buffers only) and then unpins each. Every run checks the
 * return values, the pin counters and the refcount it restores.
 */
export function benchPin(backing: Backing, bytes: number, runs = runsFor(bytes), warmup = warmupFor(bytes)): PinRow {
  check(bytes > 0 && bytes % PAGE_SIZE === 0, `size ${bytes} is not a positive multiple of PAGE_SIZE`);
  const m = new Machine({ memory: 2 * bytes + 512 * MiB, thp: 'madvise' });
  const { addr } = faultedBuffer(m, backing, bytes);
  const p = m.process('bench')!;
  const nr = bytes / PAGE_SIZE;
  const calls = callsPerRun(bytes);
  const pages = Array.from({ length: calls }, () => new Int32Array(nr));
  const ret = new Int32Array(calls);
  const flags = FOLL_WRITE | FOLL_LONGTERM;
  const firstFolio = m.mem.page_folio(pte_pfn(p.mm.pt.pmdLeaf(addr) || p.mm.pt.pte(addr)));
  if (backing === 'thp') check(m.mem.folio_order(firstFolio) === PMD_ORDER, 'THP buffer is not made of 2 MiB folios');
  const refBefore = m.mem.refcount[firstFolio]!;
  const pinT: number[] = [];
  const unpinT: number[] = [];
  for (let r = 0; r < warmup + runs; r++) {
    const acq0 = m.vmstat.get('nr_foll_pin_acquired');
    const rel0 = m.vmstat.get('nr_foll_pin_released');
    for (const pg of pages) pg.fill(NO_PFN);
    const t0 = performance.now();
    for (let c = 0; c < calls; c++) ret[c] = pin_user_pages_fast(m, p, addr, nr, flags, pages[c]!);
    const t1 = performance.now();
    for (let c = 0; c < calls; c++) unpin_user_pages(m, pages[c]!, ret[c]! > 0 ? ret[c]! : 0);
    const t2 = performance.now();
    for (let c = 0; c < calls; c++) {
      check(
        ret[c] === nr,
        `pin_user_pages_fast returned ${ret[c]}, expected ${nr}${m.why ? ` (${m.why.fn}: ${m.why.rule})` : ''}`,
      );
      check(pages[c]![0] === firstFolio && pages[c]![nr - 1]! >= 0, "pages[] does not hold the buffer's pages");
    }
    const acq = m.vmstat.get('nr_foll_pin_acquired') - acq0;
    const rel = m.vmstat.get('nr_foll_pin_released') - rel0;
    check(
      acq === calls * nr && rel === calls * nr,
      `nr_foll_pin_acquired +${acq}, nr_foll_pin_released +${rel}, expected +${calls * nr} each`,
    );
    check(
      m.mem.refcount[firstFolio] === refBefore,
      `refcount ${m.mem.refcount[firstFolio]} after unpin, ${refBefore} before pin`,
    );
    check(m.warns.records.length === 0, `WARN: ${JSON.stringify(m.warns.records[0])}`);
    if (r >= warmup) {
      pinT.push(t1 - t0);
      unpinT.push(t2 - t1);
    }
  }
  check(m.vmstat.get('nr_foll_pin_acquired') === m.vmstat.get('nr_foll_pin_released'), 'pin counters unbalanced');
  const perPage = (ms: number[]) => round1((median(ms) * 1e6) / (calls * nr));
  return {
    backing,
    bytes,
    pin_ns_per_page: perPage(pinT),
    unpin_ns_per_page: perPage(unpinT),
    runs,
    calls_per_run: calls,
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * The model's struct page: bytes of per-page metadata, measured from the typed arrays of a MemMap
 * (every per-page field: flags, mapping, _refcount, _mapcount, index; folio-wide fields such as
 * _pincount live in tail pages' slots, and the buddy allocator's free lists thread through the same
 * arrays, so nothing else grows with RAM). Comparable with the kernel's 64-byte struct page. Page
 * tables are not counted here: they grow with mapped memory, not RAM (see pgtableBytesPerPage).
 */
export function metadataBytesPerPage(withData = false): number {
  const nr = 4096;
  const mem = new MemMap(nr);
  // Page contents: an optional array, allocated on first use (a run that stores no value has none).
  if (withData) void mem.data;
  // Each memory once: the per-page arrays are views of one pool, and MemMap keeps a second view of
  // the whole pool (8-byte words, for clearing).
  const buffers = new Set<ArrayBufferLike>();
  for (const v of Object.values(mem)) if (ArrayBuffer.isView(v)) buffers.add(v.buffer);
  for (const a of mem.extras.values()) buffers.add(a.buffer);
  let bytes = 0;
  for (const b of buffers) bytes += b.byteLength;
  const perPage = bytes / nr;
  const want = MemMap.BYTES_PER_PAGE + (withData ? MemMap.DATA_BYTES_PER_PAGE : 0);
  check(perPage === want, `MemMap arrays hold ${perPage} bytes per page, expected ${want}`);
  return perPage;
}

/**
 * Page-table bytes per mapped base page, measured on a faulted process: PTE tables (Uint32Array(512))
 * divided by the pages they map. The kernel spends 8 bytes per PTE.
 */
export function pgtableBytesPerPage(bytes = 64 * MiB): number {
  const m = new Machine({ memory: bytes + 512 * MiB });
  faultedBuffer(m, 'base', bytes);
  return pteTableBytes(m.process('bench')!.mm.pt.pmds) / (bytes / PAGE_SIZE);
}

function pteTableBytes(pmds: Map<number, Uint32Array | number>): number {
  let n = 0;
  for (const v of pmds.values()) if (typeof v !== 'number') n += v.byteLength;
  return n;
}

export interface BigOptions {
  /** RAM of the machine (default 64 GiB). */
  memory?: number;
  /** Bytes of base-page anon memory to fault in (default 16 GiB). */
  faulted?: number;
  /** Bytes of JS heap + ArrayBuffers in use right now (Node: heapUsed + arrayBuffers). */
  heap?: () => number;
  /** A full garbage collection, if the host offers one. */
  gc?: () => void;
}

/**
 * The stress case: a 64 GiB machine (16 Mi simulated pages), one process that mmaps 16 GiB of private
 * anon memory with MADV_NOHUGEPAGE (4 Mi PTEs, 4 Mi order-0 folios) and writes every page.
 */
export function benchBig(opts: BigOptions = {}): BigResult {
  const memory = opts.memory ?? 64 * GiB;
  const faulted = opts.faulted ?? 16 * GiB;
  opts.gc?.();
  const h0 = opts.heap?.() ?? 0;
  const t0 = performance.now();
  const m = new Machine({ memory });
  const free0 = m.vmstat.get('nr_free_pages');
  faultedBuffer(m, 'base', faulted);
  const seconds = (performance.now() - t0) / 1000;
  const mm = m.process('bench')!.mm;
  const nr = faulted / PAGE_SIZE;
  check(mm.rss_anon === nr, `rss_anon ${mm.rss_anon}, expected ${nr}`);
  check(free0 - m.vmstat.get('nr_free_pages') === nr, 'nr_free_pages did not drop by the faulted pages');
  check(m.warns.records.length === 0, `WARN: ${JSON.stringify(m.warns.records[0])}`);
  const pgtable_bytes = pteTableBytes(mm.pt.pmds);
  opts.gc?.();
  const h1 = opts.heap?.() ?? 0;
  // Keep the machine reachable until the heap has been read.
  check(m.mem.nr === memory / PAGE_SIZE, 'machine size');
  return {
    machine_bytes: memory,
    faulted_bytes: faulted,
    heap_bytes: opts.heap ? h1 - h0 : null,
    heap_after_gc: !!(opts.heap && opts.gc),
    seconds: Math.round(seconds * 100) / 100,
    pgtable_bytes,
  };
}
