// Experiment 5's workload, run on the model: a file on a disk (ext4-like: shared writable mappings
// are dirty-tracked) mapped MAP_SHARED by one process, written by the process (CPU stores: write
// faults dirty the page), by devices through short-term pins or references taken by drivers
// (pin_user_pages(FOLL_WRITE) or get_user_pages(FOLL_WRITE)), by an RDMA NIC through a long-term
// MR (ib_umem_get(): FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE), with a zero-copy sender holding bursts
// of plain references (get_user_pages_fast(), FOLL_GET) on pages just written, background writeback (the
// flusher, WB_SYNC_NONE), fsync (WB_SYNC_ALL) at random times and reclaim (the process drops its
// view of the buffer with MADV_DONTNEED, then drop_caches). The plan is drawn once from the seed,
// then run on one fresh machine per setup (writeback policy, long-term refusal), so every setup sees
// the same events; a ledger follows every value written into the file's pages to the disk.

import { Machine } from '../../mm/machine.js';
import { LINUX_6_18, type KernelProfile } from '../../mm/profile.js';
import type { AddressSpace } from '../../mm/fs.js';
import type { Process } from '../../mm/task.js';
import { do_mmap, do_munmap } from '../../mm/mmap.js';
import { do_madvise } from '../../mm/madvise.js';
import { userAccess } from '../../mm/user_access.js';
import {
  folio_maybe_dma_pinned,
  get_user_pages,
  get_user_pages_fast,
  pin_user_pages,
  put_page,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
} from '../../mm/gup.js';
import { FOLL_WRITE } from '../../mm/foll_flags.js';
import { NO_PFN, PAGE_SIZE } from '../../mm/memmap.js';
import { memcpy_to_page } from '../../mm/highmem.js';
import { diskBlock } from '../../mm/bdev.js';
import { writebackRange, type WritebackReport } from '../../mm/page-writeback.js';
import { dropPagecache } from '../../mm/truncate.js';
import { WB_SYNC_ALL, WB_SYNC_NONE, type WbSyncMode, type WritebackPolicy } from '../../mm/writeback_pinned.js';
import { ib_umem_get, ib_umem_release, type IbMr } from '../../consumers/rdma.js';
import { mrFrames } from './frames.js';
import { Rng } from './rng.js';

/**
 * How the short-term drivers take and release the pages their device writes into:
 * 'unpin-dirty': pin_user_pages(FOLL_WRITE), then unpin_user_pages_dirty_lock(make_dirty = true) (right);
 * 'unpin': pin_user_pages(FOLL_WRITE), then unpin_user_pages(), nothing marked dirty (Case 5's
 *   "Correct" pattern taken literally);
 * 'put_page': get_user_pages(FOLL_WRITE), then put_page() (Case 5's INCORRECT pattern).
 */
export type Release = 'unpin-dirty' | 'unpin' | 'put_page';
export const RELEASES: readonly Release[] = ['unpin-dirty', 'unpin', 'put_page'];

/** One row of the comparison: the machine's writeback policy, and whether 6.18's long-term refusal applies. */
export interface Setup {
  id: string;
  policy: WritebackPolicy;
  /** check_vma_flags() -> writable_file_mapping_allowed(): FOLL_LONGTERM write pins of the file refused. */
  refuseLongterm: boolean;
}

/** The workload's shape (the same in both modes but for its size). */
export const WORKLOAD = {
  /** Short-term drivers, each pinning a run of pages, letting its device write, releasing, resting. */
  drivers: 4,
  maxPinPages: 8,
  maxHoldTicks: 12,
  maxIdleTicks: 8,
  /** Chance per tick that a driver's device writes one page of its run. */
  dmaChance: 0.5,
  /** The long-term MR covers this fraction of the file, from the end, registered 10%-90% of the run. */
  longtermShare: 1 / 8,
  longtermDmaChance: 0.3,
  /** Chance per tick of a CPU store into a random page. */
  cpuChance: 0.2,
  /**
   * Chance that a zero-copy sender ships the page a CPU store just wrote (vmsplice into pipes, say):
   * a burst of plain FOLL_GET references on it, held 1 to burstMaxTicks ticks.
   */
  sendChance: 0.15,
  /** A burst holds between burstRefsMin and burstRefsMin + burstRefsSpan references. */
  burstRefsMin: 512,
  burstRefsSpan: 1024,
  burstMaxTicks: 20,
  /** Background writeback every flushEvery ticks (dirty_writeback_centisecs, a tick taken as a second). */
  flushEvery: 5,
  fsyncChance: 0.1,
  reclaimEvery: 25,
};

/** The size of a run: file pages and ticks. */
export interface WorkloadSize {
  pages: number;
  ticks: number;
}

export type Ev =
  | { k: 'pin'; d: number; first: number; n: number }
  | { k: 'dma'; d: number; off: number; v: number }
  | { k: 'release'; d: number }
  | { k: 'lt-register' }
  | { k: 'lt-dma'; off: number; v: number }
  | { k: 'lt-release' }
  | { k: 'cpu'; page: number; v: number }
  | { k: 'refs-get'; id: number; page: number; refs: number }
  | { k: 'refs-put'; id: number }
  | { k: 'flush' }
  | { k: 'fsync' }
  | { k: 'reclaim' };

export interface Plan {
  size: WorkloadSize;
  /** The long-term MR's pages: [ltFirst, size.pages). */
  ltFirst: number;
  /** Events by tick, in the order they happen within the tick. */
  ticks: Ev[][];
}

/**
 * The events of one run, drawn from `seed`: every write carries a value never used before (values
 * grow with time, and the disk starts with 1..pages), so a value names its write.
 */
export function makePlan(size: WorkloadSize, seed: number): Plan {
  const W = WORKLOAD;
  const rng = new Rng(seed);
  const ltFirst = size.pages - Math.max(1, Math.round(size.pages * W.longtermShare));
  const ltStart = Math.floor(size.ticks / 10);
  const ltEnd = size.ticks - ltStart;
  let v = size.pages + 1;
  const drivers = Array.from({ length: W.drivers }, () => ({ active: false, from: 0, until: 0, rest: 0, n: 0 }));
  const bursts: Array<{ id: number; until: number }> = [];
  let burstId = 0;
  const ticks: Ev[][] = [];
  for (let t = 0; t < size.ticks; t++) {
    const evs: Ev[] = [];
    // Releases first: what ends this tick.
    drivers.forEach((d, i) => {
      if (d.active && t === d.until) {
        evs.push({ k: 'release', d: i });
        d.active = false;
        d.rest = t + 1 + rng.int(W.maxIdleTicks);
      }
    });
    for (let j = bursts.length - 1; j >= 0; j--)
      if (bursts[j]!.until === t) evs.push({ k: 'refs-put', id: bursts.splice(j, 1)[0]!.id });
    if (t === ltEnd) evs.push({ k: 'lt-release' });
    // Then what starts: registrations, pins, bursts of references.
    if (t === ltStart) evs.push({ k: 'lt-register' });
    drivers.forEach((d, i) => {
      const hold = 1 + rng.int(W.maxHoldTicks);
      if (d.active || t < d.rest || t + hold >= size.ticks) return;
      d.n = 1 + rng.int(W.maxPinPages);
      evs.push({ k: 'pin', d: i, first: rng.int(size.pages - d.n + 1), n: d.n });
      Object.assign(d, { active: true, from: t, until: t + hold });
    });
    // Then the writes: devices through what their drivers hold, the process's stores.
    drivers.forEach((d, i) => {
      if (d.active && t > d.from && rng.next() < W.dmaChance) evs.push({ k: 'dma', d: i, off: rng.int(d.n), v: v++ });
    });
    if (t > ltStart && t < ltEnd && rng.next() < W.longtermDmaChance)
      evs.push({ k: 'lt-dma', off: rng.int(size.pages - ltFirst), v: v++ });
    if (rng.next() < W.cpuChance) {
      const page = rng.int(size.pages);
      evs.push({ k: 'cpu', page, v: v++ });
      // A zero-copy sender ships what the process just wrote (a replication stream, say).
      const until = t + 1 + rng.int(W.burstMaxTicks);
      if (rng.next() < W.sendChance && until < size.ticks) {
        evs.push({ k: 'refs-get', id: burstId, page, refs: W.burstRefsMin + rng.int(W.burstRefsSpan + 1) });
        bursts.push({ id: burstId++, until });
      }
    }
    // Last, writeback and reclaim.
    if (t % W.flushEvery === W.flushEvery - 1) evs.push({ k: 'flush' });
    if (rng.next() < W.fsyncChance) evs.push({ k: 'fsync' });
    if (t % W.reclaimEvery === W.reclaimEvery - 1) evs.push({ k: 'reclaim' });
    ticks.push(evs);
  }
  return { size, ltFirst, ticks };
}

/** What one setup did with the plan: every count summed over the run. */
export interface Outcomes {
  deviceWrites: number;
  cpuWrites: number;
  /** Writes whose value never reached the disk although nothing newer replaced it in memory first. */
  lostDevice: number;
  lostCpu: number;
  /** Device writes whose value reached the disk, and the ticks that took (sum and longest). */
  reached: number;
  latencySum: number;
  latencyMax: number;
  /** Page-ticks at which the disk held an older value than the page's last write; of pageTicks. */
  stalePageTicks: number;
  pageTicks: number;
  /** The longest stretch one page's disk block stayed behind its last write, in ticks. */
  longestStale: number;
  fsyncs: number;
  /** fsync calls that returned with a page written before the call not on the disk. */
  fsyncsShort: number;
  /** fsync calls not made because the process's syncing thread was still blocked in an earlier one. */
  fsyncsMissed: number;
  /** fsync calls that waited for a pin to drop ('wait'), the ticks they waited, and the longest wait. */
  fsyncsBlocked: number;
  blockedTicks: number;
  blockedMax: number;
  /** Pages writeback wrote through a bounce copy. */
  bounces: number;
  /** Copies the application made because its long-term registration was refused. */
  appCopies: number;
  /** Long-term registrations refused (-EFAULT: writable_file_mapping_allowed()). */
  refusals: number;
  /** Folios writeback treated as pinned (skipped, bounced, waited for), and those with no pin held. */
  pinnedDecisions: number;
  falsePositiveDecisions: number;
  /** Pages bounced although no pin was held (folio_maybe_dma_pinned() true from plain references). */
  falsePositiveBounces: number;
  /** Page-ticks at which a cached page read "maybe pinned" with no pin held (plain references only). */
  falsePositivePageTicks: number;
  /** Folios reclaim dropped. */
  dropped: number;
}

function fail(what: string): never {
  throw new Error(`gupsim experiment 5: ${what}`);
}

/**
 * The file's pages as writeback, reclaim and the disk leave them, against every value written. A
 * short-term driver's device write is in flight until the driver releases its pages (the I/O's
 * completion): until then nothing promises it to the process, so it counts neither as stale nor as
 * data an fsync must have written. CPU stores and the long-term NIC's writes (an RDMA write is
 * complete when it lands) count at once.
 */
class Ledger {
  readonly logical: Float64Array;
  readonly writtenAt: Int32Array;
  readonly byDevice: Uint8Array;
  /** 1 while the page's last write is in memory and not yet on the disk. */
  readonly unresolved: Uint8Array;
  /** The short-term driver (its index + 1) whose device's write, not yet completed, is the page's last; 0: none. */
  readonly inFlight: Int8Array;
  /** The tick since which the disk is behind the page's last completed write; -1 when it is not. */
  readonly staleSince: Int32Array;

  constructor(
    readonly pages: number,
    readonly o: Outcomes,
  ) {
    this.logical = Float64Array.from({ length: pages }, (_, i) => i + 1);
    this.writtenAt = new Int32Array(pages);
    this.byDevice = new Uint8Array(pages);
    this.unresolved = new Uint8Array(pages);
    this.inFlight = new Int8Array(pages);
    this.staleSince = new Int32Array(pages).fill(-1);
  }

  /**
   * A value stored into the file's page (a write still unresolved is replaced: superseded, not lost);
   * `driver`: the short-term driver whose device wrote it (in flight until that driver's release).
   */
  write(page: number, v: number, t: number, device: boolean, driver?: number): void {
    this.logical[page] = v;
    this.writtenAt[page] = t;
    this.byDevice[page] = device ? 1 : 0;
    this.unresolved[page] = 1;
    this.inFlight[page] = driver === undefined ? 0 : driver + 1;
    if (driver === undefined && this.staleSince[page]! < 0) this.staleSince[page] = t;
  }

  /** Driver `d` released pages [first, first + n): its device's writes there are complete now. */
  complete(d: number, first: number, n: number, t: number): void {
    for (let page = first; page < first + n; page++) {
      if (this.inFlight[page] !== d + 1) continue;
      this.inFlight[page] = 0;
      this.writtenAt[page] = t;
      if (this.unresolved[page] && this.staleSince[page]! < 0) this.staleSince[page] = t;
    }
  }

  /** A write into a frame that is no longer the file's page: nothing will ever read it back. */
  orphan(device: boolean): void {
    if (device) this.o.lostDevice++;
    else this.o.lostCpu++;
  }

  /**
   * At the end of tick t (`tick`: counted as a tick of the run): writes whose value is on the disk now
   * are resolved; a write whose page left the page cache while the disk had an older value is lost
   * (the next read brings the old value back).
   */
  observe(m: Machine, f: AddressSpace, t: number, tick = true): void {
    const o = this.o;
    for (let p = 0; p < this.pages; p++) {
      const onDisk = diskBlock(m, f, p) >= this.logical[p]!;
      if (this.unresolved[p]) {
        if (onDisk) {
          this.unresolved[p] = 0;
          if (this.byDevice[p]) {
            const took = Math.max(0, t - this.writtenAt[p]!);
            o.reached++;
            o.latencySum += took;
            o.latencyMax = Math.max(o.latencyMax, took);
          }
        } else if (f.lookup(p) === NO_PFN) {
          this.unresolved[p] = 0;
          this.orphan(this.byDevice[p] === 1);
        }
      }
      if (this.staleSince[p]! >= 0) {
        if (onDisk) {
          o.longestStale = Math.max(o.longestStale, t - this.staleSince[p]!);
          this.staleSince[p] = -1;
        } else if (tick) o.stalePageTicks++;
      }
    }
    if (tick) o.pageTicks += this.pages;
  }

  /**
   * The values an fsync called now must leave on the disk: each page's unresolved, completed last
   * write (0: nothing owed).
   */
  snapshot(): Float64Array {
    return this.logical.map((v, p) => (this.unresolved[p] && !this.inFlight[p] ? v : 0));
  }

  /** Whether the disk holds, for every page, at least what `snap` asked for. */
  durable(m: Machine, f: AddressSpace, snap: Float64Array): boolean {
    for (let p = 0; p < this.pages; p++) if (diskBlock(m, f, p) < snap[p]!) return false;
    return true;
  }
}

/** A driver's pages[] while its device may write into them. */
interface Held {
  first: number;
  pages: Int32Array;
}

/** One setup's run of the plan on a fresh machine. */
export function runSetup(plan: Plan, setup: Setup, release: Release, base: KernelProfile = LINUX_6_18): Outcomes {
  const { pages, ticks } = plan.size;
  const o: Outcomes = {
    deviceWrites: 0,
    cpuWrites: 0,
    lostDevice: 0,
    lostCpu: 0,
    reached: 0,
    latencySum: 0,
    latencyMax: 0,
    stalePageTicks: 0,
    pageTicks: 0,
    longestStale: 0,
    fsyncs: 0,
    fsyncsShort: 0,
    fsyncsMissed: 0,
    fsyncsBlocked: 0,
    blockedTicks: 0,
    blockedMax: 0,
    bounces: 0,
    appCopies: 0,
    refusals: 0,
    pinnedDecisions: 0,
    falsePositiveDecisions: 0,
    falsePositiveBounces: 0,
    falsePositivePageTicks: 0,
    dropped: 0,
  };
  // The run's release (6.18 unless --kernel), with the setup's long-term refusal on or off.
  const profile = { ...base, longtermWriteFileRefused: setup.refuseLongterm };
  const m = new Machine({ memory: 128 * 2 ** 20, writebackPolicy: setup.policy }, profile);
  const p: Process = m.spawn('app');
  const f = m.newFile('disk', 'data', pages);
  f.users++;
  f.disk = Uint32Array.from({ length: pages }, (_, i) => i + 1);
  const addr = do_mmap(m, p, { size: pages * PAGE_SIZE, type: 'file', file: f, shared: true });
  if (addr < 0) fail(`mmap returned ${addr}`);
  const ledger = new Ledger(pages, o);
  /** Pins held on each file page (FOLL_PIN only): the truth folio_maybe_dma_pinned() approximates. */
  const pinsHeld = new Int32Array(pages);
  const held: Array<Held | undefined> = [];
  const bursts = new Map<number, { pfn: number; refs: number }>();
  let lt: { mr: IbMr; frames: Int32Array; fallback: boolean } | undefined;
  let blocked: { since: number; waiting: Set<number>; snap: Float64Array } | undefined;
  const scratch = new Int32Array(1);

  const store = (page: number, v: number): void => {
    const r = userAccess(m, p, addr + page * PAGE_SIZE, PAGE_SIZE, true, (pfn) => memcpy_to_page(m, pfn, v));
    if (r !== 0) fail(`a store returned ${r}`);
  };
  /** A device write into `pfn`, meant for file page `page`; `driver`: a short-term driver's (in flight). */
  const deviceWrite = (pfn: number, page: number, v: number, t: number, driver?: number): void => {
    o.deviceWrites++;
    memcpy_to_page(m, pfn, v);
    if (f.lookup(page) === pfn) ledger.write(page, v, t, true, driver);
    else ledger.orphan(true);
  };
  const account = (r: WritebackReport): void => {
    o.bounces += r.bounced;
    for (const { folio, action } of r.pinned) {
      if (action === 'wait' && blocked) continue; // a retry: counted when the fsync first met it
      o.pinnedDecisions++;
      if (pinsHeld[m.mem.index[folio]!]! > 0) continue;
      o.falsePositiveDecisions++;
      if (action === 'bounce' || action === 'bounce-keep-dirty') o.falsePositiveBounces += m.mem.folio_nr_pages(folio);
    }
  };
  const writeback = (sync: WbSyncMode): WritebackReport => {
    const r = writebackRange(m, f, 0, pages - 1, sync);
    account(r);
    return r;
  };
  const fsyncDone = (snap: Float64Array): void => {
    if (!ledger.durable(m, f, snap)) o.fsyncsShort++;
  };

  const run = (e: Ev, t: number): void => {
    switch (e.k) {
      case 'pin': {
        const pg = new Int32Array(e.n).fill(NO_PFN);
        const start = addr + e.first * PAGE_SIZE;
        const r =
          release === 'put_page'
            ? get_user_pages(m, p, start, e.n, FOLL_WRITE, pg)
            : pin_user_pages(m, p, start, e.n, FOLL_WRITE, pg);
        if (r !== e.n) fail(`the driver's GUP returned ${r} for ${e.n} pages`);
        if (release !== 'put_page') for (let k = 0; k < e.n; k++) pinsHeld[e.first + k]!++;
        held[e.d] = { first: e.first, pages: pg };
        return;
      }
      case 'dma': {
        const h = held[e.d]!;
        deviceWrite(h.pages[e.off]!, h.first + e.off, e.v, t, e.d);
        return;
      }
      case 'release': {
        const h = held[e.d]!;
        if (release === 'unpin-dirty') unpin_user_pages_dirty_lock(m, h.pages, h.pages.length, true);
        else if (release === 'unpin') unpin_user_pages(m, h.pages, h.pages.length);
        else for (const pfn of h.pages) put_page(m, pfn);
        if (release !== 'put_page') for (let k = 0; k < h.pages.length; k++) pinsHeld[h.first + k]!--;
        ledger.complete(e.d, h.first, h.pages.length, t);
        held[e.d] = undefined;
        return;
      }
      case 'lt-register': {
        const bytes = (pages - plan.ltFirst) * PAGE_SIZE;
        const got = ib_umem_get(m, p, 'mr', addr + plan.ltFirst * PAGE_SIZE, bytes, true);
        if (typeof got !== 'number') {
          for (let k = plan.ltFirst; k < pages; k++) pinsHeld[k]!++;
          lt = { mr: got, frames: mrFrames(got), fallback: false };
          return;
        }
        // Refused: the application registers an anonymous buffer instead and copies what the NIC
        // writes there into the file mapping (a store: the write fault dirties the page).
        o.refusals++;
        const anon = do_mmap(m, p, { size: bytes, type: 'anon' });
        const mr = anon < 0 ? anon : ib_umem_get(m, p, 'bounce-mr', anon, bytes, true);
        if (typeof mr === 'number') fail(`the anonymous fallback MR returned ${mr}`);
        lt = { mr, frames: mrFrames(mr), fallback: true };
        return;
      }
      case 'lt-dma': {
        const page = plan.ltFirst + e.off;
        if (!lt!.fallback) return deviceWrite(lt!.frames[e.off]!, page, e.v, t);
        o.deviceWrites++;
        memcpy_to_page(m, lt!.frames[e.off]!, e.v);
        o.appCopies++;
        store(page, e.v);
        ledger.write(page, e.v, t, true);
        return;
      }
      case 'lt-release':
        ib_umem_release(m, lt!.mr);
        if (!lt!.fallback) for (let k = plan.ltFirst; k < pages; k++) pinsHeld[k]!--;
        lt = undefined;
        return;
      case 'cpu':
        o.cpuWrites++;
        store(e.page, e.v);
        ledger.write(e.page, e.v, t, false);
        return;
      case 'refs-get': {
        // A zero-copy sender (vmsplice of the page into pipes, say): plain FOLL_GET references.
        for (let k = 0; k < e.refs; k++)
          if (get_user_pages_fast(m, p, addr + e.page * PAGE_SIZE, 1, 0, scratch) !== 1)
            fail('get_user_pages_fast failed');
        bursts.set(e.id, { pfn: scratch[0]!, refs: e.refs });
        return;
      }
      case 'refs-put': {
        const b = bursts.get(e.id)!;
        for (let k = 0; k < b.refs; k++) put_page(m, b.pfn);
        bursts.delete(e.id);
        return;
      }
      case 'flush':
        writeback(WB_SYNC_NONE);
        return;
      case 'fsync': {
        if (blocked) {
          o.fsyncsMissed++;
          return;
        }
        o.fsyncs++;
        const snap = ledger.snapshot();
        const waiting = writeback(WB_SYNC_ALL)
          .pinned.filter((x) => x.action === 'wait')
          .map((x) => m.mem.index[x.folio]!);
        if (waiting.length) {
          o.fsyncsBlocked++;
          blocked = { since: t, waiting: new Set(waiting), snap };
        } else fsyncDone(snap);
        return;
      }
      case 'reclaim':
        if (do_madvise(m, p, addr, pages * PAGE_SIZE, 'dontneed') !== 0) fail('MADV_DONTNEED failed');
        o.dropped += dropPagecache(m);
        return;
    }
  };

  for (let t = 0; t < ticks; t++) {
    for (const e of plan.ticks[t]!) run(e, t);
    if (blocked) {
      // The fsync blocked in the wait for a pin retries the folios it waits for.
      for (const idx of [...blocked.waiting]) {
        const r = writebackRange(m, f, idx, idx, WB_SYNC_ALL);
        account(r);
        if (!r.pinned.some((x) => x.action === 'wait')) blocked.waiting.delete(idx);
      }
      if (blocked.waiting.size === 0) {
        const took = t - blocked.since;
        o.blockedTicks += took;
        o.blockedMax = Math.max(o.blockedMax, took);
        fsyncDone(blocked.snap);
        blocked = undefined;
      }
    }
    ledger.observe(m, f, t);
    for (let pg = 0; pg < pages; pg++) {
      const pfn = f.lookup(pg);
      if (pfn !== NO_PFN && pinsHeld[pg] === 0 && folio_maybe_dma_pinned(m, m.mem.page_folio(pfn)))
        o.falsePositivePageTicks++;
    }
  }
  if (blocked || held.some(Boolean) || bursts.size || lt) fail('something is still held at the end of the plan');
  // The end: everything released; a last fsync, the process unmaps, reclaim drops the cache. What the
  // disk does not hold now is lost.
  writebackRange(m, f, 0, pages - 1, WB_SYNC_ALL);
  if (do_munmap(m, p, addr, pages * PAGE_SIZE) !== 0) fail('munmap failed');
  o.dropped += dropPagecache(m);
  ledger.observe(m, f, ticks, false);
  for (let pg = 0; pg < pages; pg++) if (ledger.unresolved[pg]) ledger.orphan(ledger.byDevice[pg] === 1);
  return o;
}
