// gupsim's model side of the per-path benchmark: anon faults, fork (plain and with io_uring-pinned
// pages), munmap, exit and io_uring buffer register/unregister, on base pages, PMD THPs and 64 KiB
// mTHPs, in the order the host helper (host_ops.c) runs the same syscalls. Medians of ns per 4 KiB page
// after untimed warm-up runs.
//
// Times are CPU time where the runtime can tell (Node's process.cpuUsage(), as the host helper reads its
// thread's CPU clock), so other load on a shared machine does not count; elsewhere wall time
// (performance.now()). Pure: no Node imports. A wrong answer from the model (a short fault,
// a leaked page, a WARN) throws: a benchmark of a broken model is worthless.

import { Machine, MTHP_SIZES, type MachineConfig } from '../mm/machine.js';
import { HPAGE_PMD_NR, PAGE_SIZE, PMD_SIZE } from '../mm/memmap.js';
import { do_mmap, do_munmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { io_uring_setup, io_sqe_buffers_register, io_sqe_buffers_unregister } from '../consumers/io_uring.js';
import type { Process } from '../mm/task.js';
import { median } from './pin.js';

/** How the buffer is backed: base pages (MADV_NOHUGEPAGE), PMD THPs (MADV_HUGEPAGE), 64 KiB mTHPs. */
export type OpBacking = 'base' | 'thp' | 'mthp';
export const OP_BACKINGS: readonly OpBacking[] = ['base', 'thp', 'mthp'];

/** The timed paths, in the order of the JSON. */
export const OPS = ['fault', 'fork', 'fork_pinned', 'munmap', 'exit', 'register', 'unregister'] as const;
export type OpName = (typeof OPS)[number];

/** The mTHP size the mthp backing enables ("always"; the PMD size stays at "madvise"). */
export const MTHP_BENCH_SIZE = '64K';
const MTHP_BENCH_ORDER = MTHP_SIZES[MTHP_BENCH_SIZE]!;

const MiB = 1 << 20;
const GiB = 1 << 30;
/** io_uring's limit for one fixed buffer: larger regions are registered as several iovecs. */
const IO_MAX_BUF = GiB;

/** ns per 4 KiB page of each path for one backing and size. */
export type OpTimes = Record<OpName, number>;

export interface ModelOpRow {
  backing: OpBacking;
  bytes: number;
  ns_per_page: OpTimes;
  /** Timed runs the medians are taken over. */
  runs: number;
  /** Whole cycles (map, fault, fork, ..., exit) per timed run: small buffers repeat to fill a sample. */
  cycles_per_run: number;
}

interface CpuUsage {
  user: number;
  system: number;
}

/** Milliseconds of CPU time this process has used, or wall time where that cannot be read. */
export const benchClock: () => number = (() => {
  const proc = (globalThis as { process?: { cpuUsage?: () => CpuUsage } }).process;
  const cpu = proc?.cpuUsage;
  if (typeof cpu !== 'function') return () => performance.now();
  return () => {
    const u = cpu.call(proc);
    return (u.user + u.system) / 1000;
  };
})();

/**
 * What reading the clock twice costs with nothing between (process.cpuUsage() is a system call, about
 * a microsecond): taken off every timed interval, so a 1 MiB path (tens of microseconds) is not
 * charged for the clock. Measured once, as the mean of many empty intervals (the clock ticks in
 * microseconds, so most read 0 or 1).
 */
let overhead: number | undefined;
function clockOverhead(): number {
  if (overhead === undefined) {
    const n = 2000;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const t0 = benchClock();
      sum += benchClock() - t0;
    }
    overhead = sum / n;
  }
  return overhead;
}

/** Milliseconds of the clock since t0, less the clock's own cost. */
function since(t0: number): number {
  return Math.max(0, benchClock() - t0 - clockOverhead());
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`gupsim bench: model check failed: ${what}`);
}

/**
 * The machine of every backing, as the host is set for the benchmark (thp madvise, 2M inherit, 64K
 * always): base pages by MADV_NOHUGEPAGE, THPs by MADV_HUGEPAGE (a THP buffer smaller than a PMD gets
 * 64 KiB mTHPs, as on the host), mTHPs by no madvise. Room for the buffer, fork_pinned's copy of it, and
 * the rest.
 */
export function opMachine(bytes: number): Machine {
  const cfg: Partial<MachineConfig> = {
    memory: 2 * bytes + 512 * MiB,
    thp: 'madvise',
    mthp: { [MTHP_BENCH_SIZE]: 'always' },
  };
  return new Machine(cfg);
}

/** mmap + madvise + write every page; returns the address and the fault loop's time in ms. */
function faulted(m: Machine, p: Process, backing: OpBacking, bytes: number): { addr: number; ms: number } {
  // The kernel THP-aligns anonymous mappings of whole PMDs; smaller THP buffers are aligned too, as
  // they would be after the helper's mmap of a PMD multiple (they get base pages either way).
  const addr = do_mmap(m, p, { size: bytes, type: 'anon', align: backing === 'thp' ? PMD_SIZE : PAGE_SIZE });
  check(addr >= 0, `mmap of ${bytes} bytes returned ${addr}`);
  if (backing !== 'mthp') {
    const adv = do_madvise(m, p, addr, bytes, backing === 'thp' ? 'hugepage' : 'nohugepage');
    check(adv === 0, `madvise returned ${adv}`);
  }
  const t0 = benchClock();
  const r = userAccess(m, p, addr, bytes, true);
  const ms = since(t0);
  check(r === 0, `faulting in ${bytes} bytes returned ${r}`);
  check(p.mm.rss_anon === bytes / PAGE_SIZE, `rss_anon ${p.mm.rss_anon} after faulting ${bytes / PAGE_SIZE} pages`);
  return { addr, ms };
}

function timedFork(m: Machine, p: Process): number {
  const t0 = benchClock();
  const c = kernel_clone(m, p, 'bench-child');
  const ms = since(t0);
  check(typeof c !== 'number', `fork returned ${String(c)}`);
  do_exit(m, c as Process);
  return ms;
}

/** One cycle of every path (the host helper's three workers), adding each path's ms to `acc`. */
function cycle(m: Machine, backing: OpBacking, bytes: number, acc: OpTimes): void {
  const free0 = m.vmstat.get('nr_free_pages');
  // Plain worker: fault, fork, munmap.
  const w = m.spawn('bench');
  const a = faulted(m, w, backing, bytes);
  acc.fault += a.ms;
  acc.fork += timedFork(m, w);
  let t0 = benchClock();
  const u = do_munmap(m, w, a.addr, bytes);
  acc.munmap += since(t0);
  check(u === 0, `munmap returned ${u}`);
  do_exit(m, w);
  // Exit worker.
  const x = m.spawn('bench');
  faulted(m, x, backing, bytes);
  t0 = benchClock();
  do_exit(m, x);
  acc.exit += since(t0);
  // Pin worker: register, fork with pinned pages, unregister.
  const pw = m.spawn('bench');
  const ring = io_uring_setup(m, 'bench-ring', pw);
  check(typeof ring !== 'number', `io_uring_setup returned ${String(ring)}`);
  if (typeof ring === 'number') return;
  const b = faulted(m, pw, backing, bytes);
  const iovecs: { base: number; len: number }[] = [];
  for (let off = 0; off < bytes; off += IO_MAX_BUF)
    iovecs.push({ base: b.addr + off, len: Math.min(IO_MAX_BUF, bytes - off) });
  t0 = benchClock();
  const reg = io_sqe_buffers_register(m, ring, iovecs);
  acc.register += since(t0);
  check(reg === 0, `IORING_REGISTER_BUFFERS returned ${reg}${m.why ? ` (${m.why.fn}: ${m.why.rule})` : ''}`);
  acc.fork_pinned += timedFork(m, pw);
  t0 = benchClock();
  const unreg = io_sqe_buffers_unregister(m, ring);
  acc.unregister += since(t0);
  check(unreg === 0, `IORING_UNREGISTER_BUFFERS returned ${unreg}`);
  do_exit(m, pw);
  check(m.vmstat.get('nr_free_pages') === free0, 'a cycle leaked pages');
  check(m.warns.records.length === 0, `WARN: ${JSON.stringify(m.warns.records[0])}`);
}

/** Pages one timed sample covers at least: small buffers repeat whole cycles (a 1 MiB fault is ~10 us). */
const MIN_SAMPLE_PAGES = 16384;
/** Pages the warm-up pushes through every path, so the JIT has optimised what is timed. */
export const WARMUP_PAGES = 1 << 19;
/**
 * Warm-up cycles at least, whatever their pages: a path's outer loop (one register walks the 512 PMDs of
 * a 1 GiB THP buffer once) must run often enough on this machine for V8 to optimise it, or the first
 * timed runs of a large buffer time unoptimised code (a fresh machine also drops code specialised on
 * the last one).
 */
const MIN_WARMUP_CYCLES = 8;

/**
 * Large folios the warm-up pushes through every path at least (scaled with the warm-up's pages): on a
 * THP buffer the paths loop once per folio, not per page (a 64 MiB register crosses 32 folios), so a
 * warm-up counted in pages alone left them to V8's interpreter and baseline code: with 32 cycles of
 * 64 MiB, --trace-opt shows io_check_coalesce_buffer(), io_coalesce_buffer(), gup_fast(),
 * try_grab_folio_fast() and unpinPinnedHeadRun() not yet optimised when the timing starts, and the model
 * was timed cold beside the kernel's compiled code.
 */
export const WARMUP_FOLIOS = 4096;

/** Pages per folio of a backing's buffer (a THP buffer below a PMD gets 64 KiB mTHPs). */
function folioPages(backing: OpBacking, bytes: number): number {
  if (backing === 'base') return 1;
  return backing === 'thp' && bytes >= PMD_SIZE ? HPAGE_PMD_NR : 1 << MTHP_BENCH_ORDER;
}

export function opRunsFor(bytes: number): number {
  if (bytes >= GiB) return 3;
  if (bytes >= 64 * MiB) return 5;
  return 9;
}

/** Time every path for one backing and size. */
export function benchOps(
  backing: OpBacking,
  bytes: number,
  runs = opRunsFor(bytes),
  warmPages = WARMUP_PAGES,
): ModelOpRow {
  check(bytes > 0 && bytes % PAGE_SIZE === 0, `size ${bytes} is not a positive multiple of PAGE_SIZE`);
  return timeOps(backing, bytes, runs, warmPages);
}

function timeOps(backing: OpBacking, bytes: number, runs: number, warmPages: number): ModelOpRow {
  const m = opMachine(bytes);
  const pages = bytes / PAGE_SIZE;
  const cycles = Math.max(1, Math.ceil(MIN_SAMPLE_PAGES / pages));
  const folios = Math.ceil(pages / folioPages(backing, bytes));
  const warmFolios = (WARMUP_FOLIOS * warmPages) / WARMUP_PAGES;
  const warm = Math.max(
    Math.ceil(warmPages / (pages * cycles)),
    Math.ceil(MIN_WARMUP_CYCLES / cycles),
    Math.ceil(warmFolios / (folios * cycles)),
  );
  const samples: Record<OpName, number[]> = Object.fromEntries(OPS.map((o) => [o, []])) as never;
  for (let r = 0; r < warm + runs; r++) {
    const acc = Object.fromEntries(OPS.map((o) => [o, 0])) as OpTimes;
    for (let c = 0; c < cycles; c++) cycle(m, backing, bytes, acc);
    if (r >= warm) for (const o of OPS) samples[o].push(acc[o]);
  }
  if (backing === 'thp' && bytes >= PMD_SIZE) check(m.vmstat.get('thp_fault_alloc') > 0, 'no THP was allocated');
  if (backing === 'mthp')
    check((m.vmstat.mthp.get(MTHP_BENCH_ORDER)?.anon_fault_alloc ?? 0) > 0, 'no 64 KiB mTHP was allocated');
  const ns = {} as OpTimes;
  for (const o of OPS) ns[o] = Math.round(((median(samples[o]) * 1e6) / (cycles * pages)) * 100) / 100;
  const row: ModelOpRow = { backing, bytes, ns_per_page: ns, runs, cycles_per_run: cycles };
  return row;
}
