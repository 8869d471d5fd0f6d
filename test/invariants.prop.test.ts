// Property tests: random sequences of memory syscalls, user accesses, fork, GUP/PUP with random
// flags, unpin/put, munmap/madvise/mprotect and exit keep the model's structural invariants
// (src/tools/invariants.ts), keep nr_foll_pin_acquired - nr_foll_pin_released equal to what the kernel
// counts for the pins the test took and released, never WARN, and give every page back once every
// handle is dropped and every process has exited.
//
// The op mix includes misuse (a double unpin, a double put_page, put_page on pinned pages, an unpin of
// FOLL_GET pages). The kernel applies its arithmetic to those; the machine is then tainted
// (m.misuse) and the checks that misuse can break are relaxed for the folios it touched only: the
// counters must still match the kernel's arithmetic exactly, the only WARNs allowed are
// try_grab_folio()'s and try_get_folio()'s on a folio misuse broke, and at the end every page comes
// back except those of folios misuse leaked.

import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Machine, type MachineConfig } from '../src/mm/machine.js';
import { ZERO_PFN, PAGE_SIZE, PMD_ORDER, PMD_SIZE, PUD_SIZE } from '../src/mm/memmap.js';
import type { Process } from '../src/mm/task.js';
import { checkInvariants } from '../src/tools/invariants.js';
import { kernel_clone } from '../src/kernel/fork.js';
import { do_exit } from '../src/kernel/exit.js';
import { do_mmap, do_munmap, type MmapArgs } from '../src/mm/mmap.js';
import { do_madvise } from '../src/mm/madvise.js';
import { do_mprotect_pkey } from '../src/mm/mprotect.js';
import { userAccess } from '../src/mm/user_access.js';
import {
  pin_user_pages,
  pin_user_pages_fast,
  pin_user_pages_remote,
  get_user_pages,
  get_user_pages_fast,
  get_user_pages_remote,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
  unpin_user_page,
  put_page,
  folio_is_longterm_pinnable,
} from '../src/mm/gup.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../src/mm/foll_flags.js';
import { is_cow_mapping, type Vma } from '../src/mm/mm_types.js';
import { pte_pfn, pte_present, pte_write } from '../src/mm/pgtable.js';

// ---------------------------------------------------------------------------------------------
// Operations

const pick = fc.nat({ max: 1 << 16 });
const rare = fc.integer({ min: 0, max: 4 }).map((x) => x === 0);

type Op =
  | {
      k: 'mmap';
      p: number;
      type: MapType;
      pages: number;
      ro: boolean;
      thp: 'none' | 'hugepage' | 'nohugepage';
      populate: boolean;
    }
  | { k: 'access'; p: number; v: number; off: number; len: number; write: boolean; whole: boolean }
  | { k: 'fork'; p: number }
  | {
      k: 'gup';
      p: number;
      v: number;
      off: number;
      n: number;
      api: GupApi;
      write: boolean;
      longterm: boolean;
      cross: boolean;
    }
  | { k: 'unpin'; h: number; how: 'pages' | 'dirty' | 'one' }
  | { k: 'misuse'; h: number; how: Misuse }
  | { k: 'munmap'; p: number; v: number; off: number; len: number; whole: boolean }
  | { k: 'dontneed'; p: number; v: number; off: number; len: number }
  | { k: 'mprotect'; p: number; v: number; off: number; len: number; rw: boolean }
  | {
      k: 'advise';
      p: number;
      v: number;
      off: number;
      len: number;
      advice: 'populate_read' | 'populate_write' | 'collapse' | 'dontfork' | 'dofork';
    }
  | { k: 'exit'; p: number };

/** MAP_PRIVATE|MAP_ANONYMOUS, MAP_SHARED|MAP_ANONYMOUS, memfd (shared or private), MAP_HUGETLB 2M,
 *  a MAP_SHARED file on fsdax pmem (ZONE_DEVICE: FOLL_LONGTERM is refused). */
type MapType = 'anon' | 'shared' | 'memfd' | 'memfd_private' | 'hugetlb' | 'hugetlb_private' | 'fsdax';
type GupApi = 'pin' | 'pin_fast' | 'pin_remote' | 'get' | 'get_fast' | 'get_remote';
/** Release bugs a driver makes: again on a released handle, or with the wrong API on a live one. */
type Misuse = 'double_unpin' | 'double_put' | 'put_pinned' | 'unpin_got';

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('mmap' as const),
      p: pick,
      type: fc.constantFrom<MapType>(
        'anon',
        'anon',
        'anon',
        'shared',
        'memfd',
        'memfd_private',
        'hugetlb',
        'hugetlb_private',
        'fsdax',
      ),
      // Whole PMDs often: THPs, their splits and hugetlb pages are where the accounting is subtle.
      pages: fc.oneof(
        fc.integer({ min: 1, max: 16 }),
        { weight: 2, arbitrary: fc.constantFrom(512, 1024) },
        fc.integer({ min: 1, max: 1024 }),
      ),
      ro: rare,
      thp: fc.constantFrom('none' as const, 'hugepage' as const, 'nohugepage' as const),
      populate: fc.boolean(),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('access' as const),
      p: pick,
      v: pick,
      off: pick,
      len: pick,
      write: fc.boolean(),
      whole: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fork' as const), p: pick }) },
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('gup' as const),
      p: pick,
      v: pick,
      off: pick,
      n: fc.integer({ min: 1, max: 600 }),
      api: fc.constantFrom<GupApi>('pin', 'pin_fast', 'pin_remote', 'get', 'get_fast', 'get_remote'),
      write: fc.boolean(),
      longterm: fc.boolean(),
      cross: rare,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('unpin' as const),
      h: pick,
      how: fc.constantFrom('pages' as const, 'dirty' as const, 'one' as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('misuse' as const),
      h: pick,
      how: fc.constantFrom<Misuse>('double_unpin', 'double_put', 'put_pinned', 'unpin_got'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('munmap' as const),
      p: pick,
      v: pick,
      off: pick,
      len: pick,
      whole: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dontneed' as const), p: pick, v: pick, off: pick, len: pick }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('mprotect' as const),
      p: pick,
      v: pick,
      off: pick,
      len: pick,
      rw: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('advise' as const),
      p: pick,
      v: pick,
      off: pick,
      len: pick,
      advice: fc.constantFrom(
        'populate_read' as const,
        'populate_write' as const,
        'collapse' as const,
        'dontfork' as const,
        'dofork' as const,
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const), p: pick }) },
);

const configArb = fc.record({
  thp: fc.constantFrom('always' as const, 'always' as const, 'madvise' as const, 'never' as const),
  mthpSize: fc.constantFrom('16K', '64K', '512K'),
  mthp: fc.constantFrom('never' as const, 'always' as const, 'madvise' as const),
  shmem_thp: fc.constantFrom('never' as const, 'always' as const, 'advise' as const),
  use_zero_page: fc.boolean(),
  cma: fc.boolean(),
});
type Cfg = typeof configArb extends fc.Arbitrary<infer T> ? T : never;

// ---------------------------------------------------------------------------------------------
// The world: a machine plus what the test holds

interface Handle {
  kind: 'pin' | 'get';
  pages: Int32Array;
}

class World {
  readonly m: Machine;
  readonly initialFree: number;
  readonly handles: Handle[] = [];
  /** Pins held per folio head (zero page excluded: the kernel does not count those). */
  readonly pins = new Map<number, number>();
  /** FOLL_GET references held per folio head (the zero page included). */
  readonly gets = new Map<number, number>();
  /** Released handles (the driver's stale pages[] arrays), for double releases; the latest few. */
  readonly stale: Handle[] = [];
  /**
   * What nr_foll_pin_acquired - released must equal: pinned pages held (zero page excluded), less
   * the pages a misuse unpinned again or unpinned without a pin.
   */
  outstanding = 0;
  private nextName = 0;
  readonly log: string[] = [];

  /** Count an outcome for the coverage summary (GUPSIM_PROP_STATS=1). */
  note(what: string): void {
    if (STATS) STATS.set(what, (STATS.get(what) ?? 0) + 1);
  }

  constructor(cfg: Cfg) {
    const config: Partial<MachineConfig> = {
      memory: 96 << 20,
      movable: 32 << 20,
      cma: cfg.cma ? 8 << 20 : 0,
      thp: cfg.thp,
      mthp: { [cfg.mthpSize]: cfg.mthp },
      shmem_thp: cfg.shmem_thp,
      use_zero_page: cfg.use_zero_page,
      hugetlb: { '2M': 3 },
      pmem: 16 << 20,
    };
    this.m = new Machine(config);
    this.initialFree = this.m.alloc.nr_free_pages();
    this.spawn();
  }

  spawn(): Process {
    const p = this.m.spawn(`p${this.nextName++}`);
    p.capIpcLock = true;
    return p;
  }

  live(): Process[] {
    return [...this.m.processes.values()].filter((p) => p.alive);
  }

  proc(i: number): Process | undefined {
    const l = this.live();
    return l.length ? l[i % l.length] : undefined;
  }

  /** A page range inside one VMA of p: [start, start + pages * PAGE_SIZE). Hugetlb ranges whole. */
  range(p: Process, vi: number, off: number, len: number): { vma: Vma; start: number; pages: number } | undefined {
    const vmas = p.mm.vmas;
    if (!vmas.length) return undefined;
    const vma = vmas[vi % vmas.length]!;
    const unit = vma.kind === 'hugetlb' ? 1 << vma.hugeOrder : 1;
    const total = vma.pages / unit;
    const o = off % total;
    const l = len < 0 ? total - o : 1 + (len % (total - o)); // len -1: to the end of the VMA
    return { vma, start: vma.start + o * unit * PAGE_SIZE, pages: l * unit };
  }

  hold(kind: 'pin' | 'get', pages: Int32Array): void {
    const mem = this.m.mem;
    for (const pfn of pages) {
      const folio = mem.page_folio(pfn);
      if (kind === 'get') {
        this.gets.set(folio, (this.gets.get(folio) ?? 0) + 1);
      } else if (pfn !== ZERO_PFN) {
        this.pins.set(folio, (this.pins.get(folio) ?? 0) + 1);
        this.outstanding++;
      }
    }
    this.handles.push({ kind, pages });
  }

  /** Release handle i with the API its kind needs; `forget`: only the bookkeeping, no kernel call. */
  release(i: number, how: 'pages' | 'dirty' | 'one', forget = false): void {
    const [h] = this.handles.splice(i, 1);
    const { m } = this;
    const mem = m.mem;
    // Folios do not move or split while referenced: account with the folios as they are now.
    for (const pfn of h!.pages) {
      const folio = mem.page_folio(pfn);
      const map = h!.kind === 'get' ? this.gets : this.pins;
      if (h!.kind === 'pin' && pfn === ZERO_PFN) continue;
      const n = map.get(folio)! - 1;
      if (n) map.set(folio, n);
      else map.delete(folio);
      if (h!.kind === 'pin') this.outstanding--;
    }
    this.stale.push(h!);
    if (this.stale.length > STALE_KEPT) this.stale.shift();
    if (forget) return;
    if (h!.kind === 'get') {
      for (const pfn of h!.pages) put_page(m, pfn);
    } else if (how === 'pages') {
      unpin_user_pages(m, h!.pages, h!.pages.length);
    } else if (how === 'dirty') {
      unpin_user_pages_dirty_lock(m, h!.pages, h!.pages.length, true);
    } else {
      for (const pfn of h!.pages) unpin_user_page(m, pfn);
    }
  }

  /**
   * A release bug, done as a driver would (gupsim's diagnosis attached to the call, as the scenario
   * runner does). Returns false when there is no handle to misuse.
   */
  misuse(i: number, how: Misuse): boolean {
    const { m } = this;
    const stale = how === 'double_unpin' || how === 'double_put';
    const kind = how === 'double_unpin' || how === 'put_pinned' ? 'pin' : 'get';
    const list = (stale ? this.stale : this.handles).filter((h) => h.kind === kind);
    if (!list.length) return false;
    const h = list[i % list.length]!;
    const unpin = how === 'double_unpin' || how === 'unpin_got';
    const folios = [...new Set(Array.from(h.pages, (pfn) => m.mem.page_folio(pfn)))].map(
      (f) => [f, m.mem.folio_order(f)] as [number, number],
    );
    if (how === 'unpin_got') {
      // The driver thinks it released them: the test stops counting the references as held.
      this.release(this.handles.indexOf(h), 'pages', true);
    }
    m.misuse.attribute({ what: `property test: ${how}`, folios, kernel: () => how }, () => {
      if (unpin) unpin_user_pages(m, h.pages, h.pages.length);
      else for (const pfn of h.pages) put_page(m, pfn);
    });
    // gup_put_folio() counts NR_FOLL_PIN_RELEASED for every unpinned page but the zero page.
    if (unpin) for (const pfn of h.pages) if (pfn !== ZERO_PFN) this.outstanding--;
    this.note(`misuse ${how}`);
    const freed = m.misuse.freedInUse.size;
    if (freed) this.note(`misuse: ${freed} folio(s) freed while in use`);
    return true;
  }

  apply(op: Op): void {
    const { m } = this;
    switch (op.k) {
      case 'mmap': {
        const p = this.proc(op.p) ?? this.spawn();
        const type =
          op.type === 'shared'
            ? 'anon'
            : op.type === 'memfd_private'
              ? 'memfd'
              : op.type === 'hugetlb_private'
                ? 'hugetlb'
                : op.type;
        const a: MmapArgs = { size: op.pages * PAGE_SIZE, type, prot: op.ro ? 'r' : 'rw', populate: op.populate };
        if (op.type === 'shared') a.shared = true;
        if (op.type === 'memfd_private' || op.type === 'hugetlb_private') a.shared = false;
        if (type === 'hugetlb') a.hugeOrder = PMD_ORDER;
        const addr = do_mmap(m, p, a);
        this.log.push(`  -> ${addr < 0 ? addr : '0x' + addr.toString(16)}`);
        this.note(`mmap ${op.type} ${addr < 0 ? addr : 'ok'}`);
        if (addr >= 0 && type !== 'hugetlb' && op.thp !== 'none') do_madvise(m, p, addr, op.pages * PAGE_SIZE, op.thp);
        return;
      }
      case 'access': {
        const p = this.proc(op.p);
        const r = p && (op.whole ? this.range(p, op.v, 0, -1) : this.range(p, op.v, op.off, op.len));
        if (!r) return;
        this.log.push(
          `  -> ${userAccess(m, p, r.start, r.pages * PAGE_SIZE, op.write)} at 0x${r.start.toString(16)} +${r.pages}`,
        );
        return;
      }
      case 'fork': {
        const p = this.proc(op.p);
        if (!p || this.live().length >= 6) return;
        const c = kernel_clone(m, p, `p${this.nextName++}`);
        this.log.push(`  -> ${typeof c === 'number' ? c : c.name}`);
        this.note(`fork ${typeof c === 'number' ? c : p.mm.has_pinned ? 'ok (parent has pinned)' : 'ok'}`);
        return;
      }
      case 'gup': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, 0);
        if (!r) return;
        const left = (r.vma.end - r.start) / PAGE_SIZE;
        const n = op.cross ? op.n : Math.min(op.n, left);
        const pages = new Int32Array(n).fill(-1);
        const pin = op.api.startsWith('pin');
        const flags = (op.write ? FOLL_WRITE : 0) | (pin && op.longterm ? FOLL_LONGTERM : 0);
        let got: number;
        switch (op.api) {
          case 'pin':
            got = pin_user_pages(m, p, r.start, n, flags, pages);
            break;
          case 'pin_fast':
            got = pin_user_pages_fast(m, p, r.start, n, flags, pages);
            break;
          case 'get':
            got = get_user_pages(m, p, r.start, n, flags, pages);
            break;
          case 'get_fast':
            got = get_user_pages_fast(m, p, r.start, n, flags, pages);
            break;
          // A driver pinning on behalf of the target (no current process).
          case 'pin_remote':
            got = pin_user_pages_remote(m, p, r.start, n, flags, pages);
            break;
          case 'get_remote':
            got = get_user_pages_remote(m, p, r.start, n, flags, pages);
            break;
        }
        this.log.push(
          `  -> ${got} of ${n} at 0x${r.start.toString(16)} ` +
            `(${r.vma.kind})${got <= 0 && m.why ? ' ' + m.why.fn + ': ' + m.why.rule : ''}`,
        );
        if (got > n) throw new Error(`GUP returned ${got} > ${n}`);
        this.note(
          `gup ${op.api}${flags & FOLL_LONGTERM ? ' longterm' : ''} ${r.vma.kind} ` +
            `${got <= 0 ? got : got < n ? 'partial' : 'ok'}`,
        );
        if (got > 0) {
          this.checkGupResult(p, r.start, pages.subarray(0, got), pin, flags);
          this.hold(pin ? 'pin' : 'get', pages.slice(0, got));
        }
        return;
      }
      case 'unpin':
        if (this.handles.length) this.release(op.h % this.handles.length, op.how);
        return;
      case 'misuse':
        this.log.push(`  -> ${this.misuse(op.h, op.how) ? 'done' : 'no handle'}`);
        return;
      case 'munmap': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        const [s, len] = op.whole ? [r.vma.start, r.vma.end - r.vma.start] : [r.start, r.pages * PAGE_SIZE];
        this.log.push(`  -> ${do_munmap(m, p, s, len)} [0x${s.toString(16)}, +${len / PAGE_SIZE})`);
        return;
      }
      case 'dontneed': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        this.log.push(
          `  -> ${do_madvise(m, p, r.start, r.pages * PAGE_SIZE, 'dontneed')} at 0x${r.start.toString(16)} +${r.pages}`,
        );
        return;
      }
      case 'mprotect': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        this.log.push(`  -> ${do_mprotect_pkey(m, p, r.start, r.pages * PAGE_SIZE, op.rw ? 'rw' : 'r')}`);
        return;
      }
      case 'advise': {
        const p = this.proc(op.p);
        const r = p && this.range(p, op.v, op.off, op.len);
        if (!r) return;
        const ret = do_madvise(m, p, r.start, r.pages * PAGE_SIZE, op.advice);
        this.log.push(`  -> ${ret} at 0x${r.start.toString(16)} +${r.pages}`);
        this.note(`madvise ${op.advice} ${r.vma.kind} ${ret}`);
        return;
      }
      case 'exit': {
        const p = this.proc(op.p);
        if (p) do_exit(m, p);
        if (p && this.handles.some((h) => h.kind === 'pin')) this.note('exit with pins held');
        return;
      }
    }
  }

  /**
   * What a successful GUP call returns: pages[i] is the page mapped at start + i pages right now
   * (single-threaded: nothing changed it since); FOLL_WRITE leaves a writable entry; FOLL_LONGTERM
   * pages are longterm-pinnable (folio_is_longterm_pinnable) and, in a COW mapping, anon
   * (gup_must_unshare() made a R/O longterm pin unshare page-cache and zero pages).
   */
  checkGupResult(p: Process, start: number, pages: Int32Array, pin: boolean, flags: number): void {
    const { m } = this;
    const mem = m.mem;
    const errs: string[] = [];
    pages.forEach((pfn, i) => {
      const addr = start + i * PAGE_SIZE;
      const [mapped, writable] = translate(p, addr);
      if (mapped !== pfn)
        errs.push(`pages[${i}] = 0x${pfn.toString(16)} but 0x${addr.toString(16)} maps 0x${mapped.toString(16)}`);
      if (flags & FOLL_WRITE && !writable)
        errs.push(`FOLL_WRITE returned 0x${addr.toString(16)} whose entry is read-only`);
      if (pin && flags & FOLL_LONGTERM) {
        const folio = mem.page_folio(pfn);
        if (!folio_is_longterm_pinnable(m, folio))
          errs.push(
            `FOLL_LONGTERM pinned 0x${pfn.toString(16)} in ` +
              `${m.alloc.zoneOf(folio)}${m.alloc.is_migrate_cma_page(folio) ? ' (CMA)' : ''}`,
          );
        const vma = p.mm.vma_lookup(addr)!;
        if (is_cow_mapping(vma.flags) && !mem.folio_test_anon(folio))
          errs.push(`FOLL_LONGTERM R/O pin in a COW mapping returned non-anon page 0x${pfn.toString(16)}`);
      }
    });
    if (errs.length)
      throw new Error(`GUP result:\n${errs.slice(0, 10).join('\n')}\n--- steps ---\n${this.log.join('\n')}`);
  }

  /** Everything that must hold between two steps. Throws with the step log on failure. */
  check(when: string): void {
    const { m } = this;
    const errs = checkInvariants(m, this.pins, this.gets);
    const acq = m.vmstat.get('nr_foll_pin_acquired');
    const rel = m.vmstat.get('nr_foll_pin_released');
    if (acq - rel !== this.outstanding)
      errs.push(`nr_foll_pin_acquired ${acq} - released ${rel} != ${this.outstanding} pinned pages held`);
    // The kernel WARNs only where it has a WARN: after misuse, when GUP meets a folio misuse broke.
    const warns = m.warns.records.filter(
      (w) => !(m.misuse.tainted && (w.fn === 'try_grab_folio' || w.fn === 'try_get_folio')),
    );
    if (warns.length) errs.push(`WARN: ${JSON.stringify(warns)}`);
    if (!m.misuse.tainted && m.misuse.records.length) errs.push(`misuse: ${JSON.stringify(m.misuse.records)}`);
    // mm/gup.c sanity_check_pinned_pages(): pinned anon pages stay PageAnonExclusive until freed.
    const mem = m.mem;
    for (const h of this.handles) {
      if (h.kind !== 'pin') continue;
      for (const pfn of h.pages) {
        if (pfn === ZERO_PFN) continue;
        const folio = mem.page_folio(pfn);
        if (!mem.folio_test_anon(folio) || m.misuse.touches(folio, 1)) continue;
        const ok =
          !mem.folio_test_large(folio) || mem.folio_test_hugetlb(folio)
            ? mem.PageAnonExclusive(folio)
            : mem.PageAnonExclusive(folio) || mem.PageAnonExclusive(pfn);
        if (!ok)
          errs.push(`pinned anon page 0x${pfn.toString(16)} (folio 0x${folio.toString(16)}) is not PageAnonExclusive`);
      }
    }
    if (errs.length)
      throw new Error(`${when}:\n${errs.slice(0, 20).join('\n')}\n--- steps ---\n${this.log.join('\n')}`);
  }

  /** Drop every pin (first) and every FOLL_GET reference. */
  dropAll(kind?: 'pin' | 'get'): void {
    for (let i = this.handles.length - 1; i >= 0; i--)
      if (!kind || this.handles[i]!.kind === kind) this.release(i, 'pages');
  }

  exitAll(): void {
    for (const p of this.live()) do_exit(this.m, p);
  }
}

/** The page a process maps at addr (-1 if none) and whether the entry is writable. */
function translate(p: Process, addr: number): [number, boolean] {
  const pt = p.mm.pt;
  const pud = pt.pudLeaf(addr);
  if (pud) return [pte_pfn(pud) + Math.floor((addr % PUD_SIZE) / PAGE_SIZE), pte_write(pud)];
  const pmd = pt.pmdLeaf(addr);
  if (pmd) return [pte_pfn(pmd) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE), pte_write(pmd)];
  const e = pt.pte(addr);
  return pte_present(e) ? [pte_pfn(e), pte_write(e)] : [-1, false];
}

function run(cfg: Cfg, ops: Op[], perStep: boolean): World {
  const w = new World(cfg);
  w.check('after boot');
  ops.forEach((op, i) => {
    w.log.push(`${i}: ${JSON.stringify(op)}`);
    w.apply(op);
    if (perStep) w.check(`after step ${i}`);
  });
  for (const item of VMSTAT_SEEN) if (w.m.vmstat.get(item) > 0) w.note(`vmstat ${item} > 0`);
  return w;
}

/** Released handles kept for double releases. */
const STALE_KEPT = 8;

/**
 * What misuse may keep from coming back at the end: pages of the folios misuse left allocated,
 * per hugetlb order (0: buddy pages).
 */
function leftByMisuse(w: World): Map<number, number> {
  const { m } = w;
  const mem = m.mem;
  const folios = new Set<number>();
  for (const [pfn, order] of m.misuse.taintedFolios) {
    // The frames may hold another folio by now (freed and reused): look at what is there.
    for (let p = pfn; p < pfn + (1 << order); p++) {
      if (m.alloc.is_free_buddy_page(p)) continue;
      const folio = mem.page_folio(p);
      folios.add(folio);
      p = folio + mem.folio_nr_pages(folio) - 1;
    }
  }
  const out = new Map<number, number>();
  for (const folio of folios) {
    if (folio === ZERO_PFN || folio === m.huge_zero_folio || m.alloc.zoneOf(folio) === 'DEVICE') continue;
    const key = mem.folio_test_hugetlb(folio) ? mem.folio_order(folio) : 0;
    if (key && m.hugetlb.hstate(key).freelist.includes(folio)) continue; // back in its pool
    out.set(key, (out.get(key) ?? 0) + (key ? 1 : mem.folio_nr_pages(folio)));
  }
  return out;
}

const NUM_RUNS = Number(process.env.GUPSIM_PROP_RUNS ?? 100);
/** GUPSIM_PROP_SEED replays one fast-check seed; long hunts raise GUPSIM_PROP_RUNS (the timeout follows). */
const SEED = process.env.GUPSIM_PROP_SEED ? { seed: Number(process.env.GUPSIM_PROP_SEED) } : {};
const TIMEOUT = Math.max(60_000, NUM_RUNS * 100);
/** GUPSIM_PROP_STATS=1 prints how often each outcome occurred (to see what the generator reaches). */
const STATS = process.env.GUPSIM_PROP_STATS ? new Map<string, number>() : undefined;
const VMSTAT_SEEN = [
  'pgmigrate_success',
  'pgmigrate_fail',
  'thp_fault_alloc',
  'thp_split_pmd',
  'thp_zero_page_alloc',
] as const;

describe('model invariants under random sequences', () => {
  it(
    'hold after every step, and every page comes back at the end',
    () => {
      fc.assert(
        fc.property(configArb, fc.array(opArb, { maxLength: 40, size: 'max' }), (cfg, ops) => {
          const w = run(cfg, ops, true);
          const { m } = w;
          w.dropAll();
          w.check('after dropping every handle');
          expect(m.vmstat.get('nr_foll_pin_acquired') - m.vmstat.get('nr_foll_pin_released')).toBe(w.outstanding);
          w.exitAll();
          w.check('after every process exited');
          // Every page comes back but those of folios misuse leaked (a count below zero never reaches zero).
          const left = leftByMisuse(w);
          const hugeZero = m.huge_zero_folio >= 0 ? 1 << PMD_ORDER : 0;
          expect(m.alloc.nr_free_pages() + hugeZero + (left.get(0) ?? 0)).toBe(w.initialFree);
          for (const h of m.hugetlb.hstates.values()) {
            expect(h.free_huge_pages + (left.get(h.order) ?? 0)).toBe(h.nr_huge_pages);
            // A leaked folio may still owe its reservation back (checkInvariants() checks that it does).
            if (!left.get(h.order)) expect(h.resv_huge_pages).toBe(0);
          }
          const mem = m.mem;
          if (!m.misuse.touches(ZERO_PFN, 1)) expect(mem.refcount[ZERO_PFN]).toBe(1);
          if (m.huge_zero_folio >= 0 && !m.misuse.touches(m.huge_zero_folio, 1))
            expect(mem.refcount[m.huge_zero_folio]).toBe(1);
        }),
        { numRuns: NUM_RUNS, ...SEED },
      );
      if (STATS)
        console.log(
          [...STATS]
            .sort()
            .map(([k, n]) => `${String(n).padStart(6)}  ${k}`)
            .join('\n'),
        );
    },
    TIMEOUT,
  );

  it(
    'FOLL_PIN pins taken and then released leave nr_foll_pin_acquired == nr_foll_pin_released',
    () => {
      fc.assert(
        fc.property(configArb, fc.array(opArb, { maxLength: 40, size: 'max' }), fc.boolean(), (cfg, ops, exitFirst) => {
          const w = run(cfg, ops, false);
          const { m } = w;
          // Pins outlive their process: releasing them after exit balances the counters as well.
          if (exitFirst) w.exitAll();
          w.dropAll('pin');
          // Balanced unless misuse unpinned pages again (the kernel counts those releases too).
          expect(m.vmstat.get('nr_foll_pin_acquired') - m.vmstat.get('nr_foll_pin_released')).toBe(w.outstanding);
          if (!m.misuse.tainted) expect(w.outstanding).toBe(0);
          // No folio is left looking pinned: large folios exactly, small ones unless GET refs pile up.
          expect(checkInvariants(m, w.pins, w.gets)).toEqual([]);
          if (!m.misuse.tainted) expect(m.warns.records).toEqual([]);
        }),
        { numRuns: Math.max(1, Math.floor(NUM_RUNS / 2)), ...SEED },
      );
    },
    TIMEOUT,
  );
});
