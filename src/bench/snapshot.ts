// What a machine snapshot costs (src/mm/snapshot.ts): snapshot and restore of a big machine beside one
// TypedArray.set() of the same number of bytes (memcpy speed, the floor for a copy of all page state),
// and snapshot + restore pairs per second on a small machine (what a search over executions needs).
//
// Pure: no Node imports. Times are CPU time where the runtime can tell (benchClock()).

import { Machine } from '../mm/machine.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { io_uring_setup, io_sqe_buffers_register } from '../consumers/io_uring.js';
import { benchClock } from './ops.js';
import { median } from './pin.js';

const MiB = 1 << 20;
const GiB = 1 << 30;

/** The `snapshot` object of the benchmark JSON. */
export interface SnapshotResult {
  machine_bytes: number;
  faulted_bytes: number;
  /** Bytes the memcpy part copies: the page-state pool and the used PTE slab. */
  copied_bytes: number;
  /** ns per simulated 4 KiB page of the machine. */
  snapshot_ns_per_page: number;
  restore_ns_per_page: number;
  /** One Uint8Array.set() of copied_bytes, per simulated page. */
  memcpy_ns_per_page: number;
  /** snapshot / memcpy and restore / memcpy (the target: at most 2). */
  snapshot_ratio: number;
  restore_ratio: number;
  /** A small machine (64 MiB, a process with 8 MiB written and a registered io_uring buffer). */
  small: { machine_bytes: number; snapshot_us: number; restore_us: number; pairs_per_second: number };
  runs: number;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`gupsim bench: model check failed: ${what}`);
}

/** A machine with one process that has `faulted` bytes of base-page anon memory written. */
function loaded(memory: number, faulted: number): Machine {
  const m = new Machine({ memory });
  const p = m.spawn('bench');
  const addr = do_mmap(m, p, { size: faulted, type: 'anon' });
  check(addr >= 0, `mmap returned ${addr}`);
  check(do_madvise(m, p, addr, faulted, 'nohugepage') === 0, 'madvise failed');
  check(userAccess(m, p, addr, faulted, true) === 0, 'faulting in failed');
  const ring = io_uring_setup(m, 'ring', p);
  check(typeof ring !== 'number', 'io_uring_setup failed');
  if (typeof ring !== 'number')
    check(io_sqe_buffers_register(m, ring, [{ base: addr, len: Math.min(faulted, MiB) }]) === 0, 'register failed');
  return m;
}

function timed(fn: () => void): number {
  const t0 = benchClock();
  fn();
  return benchClock() - t0;
}

/** Snapshot/restore of a `memory` machine with `faulted` bytes written, and of a small one. */
export function benchSnapshot(opts: { memory?: number; faulted?: number; runs?: number } = {}): SnapshotResult {
  const memory = opts.memory ?? 64 * GiB;
  const faulted = opts.faulted ?? 16 * GiB;
  const runs = opts.runs ?? 5;
  const m = loaded(memory, faulted);
  const pages = m.mem.nr;
  const s = m.snapshot(); // the buffers every timed snapshot reuses
  const bytes = s.bytes;
  const src = new Uint8Array(bytes).fill(1);
  const dst = new Uint8Array(bytes);
  const snapT: number[] = [];
  const restT: number[] = [];
  const copyT: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const c = timed(() => dst.set(src));
    const a = timed(() => m.snapshot(s));
    const b = timed(() => m.restore(s));
    if (r > 0) {
      copyT.push(c);
      snapT.push(a);
      restT.push(b);
    }
  }
  check(m.process('bench')!.mm.rss_anon === faulted / PAGE_SIZE, 'restore changed the process');
  const per = (xs: number[]) => (median(xs) * 1e6) / pages;
  const copy = per(copyT);
  const round = (x: number, d = 100) => Math.round(x * d) / d;
  return {
    machine_bytes: memory,
    faulted_bytes: faulted,
    copied_bytes: bytes,
    snapshot_ns_per_page: round(per(snapT), 1000),
    restore_ns_per_page: round(per(restT), 1000),
    memcpy_ns_per_page: round(copy, 1000),
    snapshot_ratio: round(per(snapT) / copy),
    restore_ratio: round(per(restT) / copy),
    small: benchSmall(),
    runs,
  };
}

/** Snapshot + restore pairs per second on a 64 MiB machine (snapshots reused, as an explorer would). */
function benchSmall(): SnapshotResult['small'] {
  const memory = 64 * MiB;
  const m = loaded(memory, 8 * MiB);
  const s = m.snapshot();
  const n = 2000;
  for (let i = 0; i < n / 4; i++) m.restore(m.snapshot(s)); // warm-up
  // Whole loops are timed (one op is tens of microseconds, near the clock's resolution); a snapshot
  // can be restored any number of times, so the restores need no snapshots between them.
  const snap = timed(() => {
    for (let i = 0; i < n; i++) m.snapshot(s);
  });
  const rest = timed(() => {
    for (let i = 0; i < n; i++) m.restore(s);
  });
  const pair = snap + rest;
  return {
    machine_bytes: memory,
    snapshot_us: Math.round((snap * 1e4) / n) / 10,
    restore_us: Math.round((rest * 1e4) / n) / 10,
    pairs_per_second: Math.round((n * 1e3) / pair),
  };
}
