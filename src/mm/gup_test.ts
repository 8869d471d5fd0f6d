// Models mm/gup_test.c (CONFIG_GUP_TEST): the debugfs file /sys/kernel/debug/gup_test and its ioctls.
// Commands 1-6 (__gup_test_ioctl) walk a user range in chunks of nr_pages_per_call with one GUP entry
// point, time the walk and the release, verify FOLL_PIN results and dump chosen pages; commands 7-9
// keep a FOLL_LONGTERM pin across calls. Kernel log output (pr_warn, pr_info, WARN, dump_page) is
// collected in the device's `dmesg`, in the order the kernel would print it.
//
// Timing uses the host clock (performance.now(), a global in Node and browsers): the deltas measure
// the model's own speed, not a kernel's.

import type { Machine } from './machine.js';
import type { Process } from './task.js';
import { EFAULT, EINTR, EINVAL, ENOMEM } from '../uapi/errno.js';
import {
  get_user_pages,
  get_user_pages_fast,
  pin_user_pages,
  pin_user_pages_fast,
  unpin_user_pages,
  put_page,
  folio_maybe_dma_pinned,
  folio_is_longterm_pinnable,
} from './gup.js';
import { FOLL_LONGTERM, FOLL_WRITE, follFromRelease } from './foll_flags.js';
import { NO_PFN, PAGE_SIZE } from './memmap.js';
import { dump_page } from './debug.js';
import { formatWarn } from './warn.js';
import { userAccess } from './user_access.js';

// mm/gup_test.h: _IOWR('g', n, struct gup_test) with sizeof(struct gup_test) == 80 (asm-generic).
export const GUP_FAST_BENCHMARK = 0xc0506701;
export const PIN_FAST_BENCHMARK = 0xc0506702;
export const PIN_LONGTERM_BENCHMARK = 0xc0506703;
export const GUP_BASIC_TEST = 0xc0506704;
export const PIN_BASIC_TEST = 0xc0506705;
export const DUMP_USER_PAGES_TEST = 0xc0506706;
export const PIN_LONGTERM_TEST_START = 0x40186707; // _IOW('g', 7, struct pin_longterm_test)
export const PIN_LONGTERM_TEST_STOP = 0x6708; // _IO('g', 8)
export const PIN_LONGTERM_TEST_READ = 0x40086709; // _IOW('g', 9, __u64)

export const GUP_TEST_MAX_PAGES_TO_DUMP = 8;
export const GUP_TEST_FLAG_DUMP_PAGES_USE_PIN = 0x1;
export const PIN_LONGTERM_TEST_FLAG_USE_WRITE = 1;
export const PIN_LONGTERM_TEST_FLAG_USE_FAST = 2;

/** The selftest's cmd_to_str(). */
export function cmd_to_str(cmd: number): string {
  switch (cmd) {
    case GUP_FAST_BENCHMARK:
      return 'GUP_FAST_BENCHMARK';
    case PIN_FAST_BENCHMARK:
      return 'PIN_FAST_BENCHMARK';
    case PIN_LONGTERM_BENCHMARK:
      return 'PIN_LONGTERM_BENCHMARK';
    case GUP_BASIC_TEST:
      return 'GUP_BASIC_TEST';
    case PIN_BASIC_TEST:
      return 'PIN_BASIC_TEST';
    case DUMP_USER_PAGES_TEST:
      return 'DUMP_USER_PAGES_TEST';
  }
  return 'Unknown command';
}

/** struct gup_test (mm/gup_test.h). u64 fields are numbers: model addresses stay below 2^47. */
export interface GupTest {
  get_delta_usec: number;
  put_delta_usec: number;
  addr: number;
  /** in: bytes to walk; out: bytes of requested chunks walked (addr reached - addr). */
  size: number;
  nr_pages_per_call: number;
  gup_flags: number;
  test_flags: number;
  /** 1-based page numbers to dump, 0 = unused; GUP_TEST_MAX_PAGES_TO_DUMP entries. */
  which_pages: number[];
}

export function gupTestStruct(init: Partial<GupTest> = {}): GupTest {
  return {
    get_delta_usec: 0,
    put_delta_usec: 0,
    addr: 0,
    size: 0,
    nr_pages_per_call: 0,
    gup_flags: 0,
    test_flags: 0,
    ...init,
    which_pages: [...(init.which_pages ?? []), 0, 0, 0, 0, 0, 0, 0, 0].slice(0, GUP_TEST_MAX_PAGES_TO_DUMP),
  };
}

/** struct pin_longterm_test. */
export interface PinLongtermTest {
  addr: number;
  size: number;
  flags: number;
}

export interface GupTestHooks {
  /** ktime_get() in milliseconds; performance.now() by default. */
  now?: () => number;
  /**
   * Called every few chunks of the timed loop with the bytes walked so far (a progress bar). Time spent
   * in it is subtracted from get_delta_usec.
   */
  onProgress?: (done: number, total: number) => void;
  /**
   * Fault injection for tests: runs after the timed loop, before verify_dma_pinned(), with the pages
   * array and the number pinned. Something a buggy GUP or a stray unpin could have done.
   */
  afterGup?: (pages: Int32Array, nr_pages: number) => void;
}

const U64_MAX = (1n << 64n) - 1n;
/** kvmalloc() refuses sizes above INT_MAX (WARN_ONCE and NULL). */
const KVMALLOC_MAX = 0x7fffffff;

/**
 * An open /sys/kernel/debug/gup_test (nonseekable_open): ioctl() and release() on behalf of `cur`.
 * `dmesg` collects the kernel log lines the calls printed.
 */
export class GupTestFile {
  readonly dmesg: string[] = [];
  /** pin_longterm_test_pages / pin_longterm_test_nr_pages (module globals in the kernel). */
  private longtermPages: Int32Array | null = null;
  private longtermNr = 0;
  private readonly now: () => number;

  constructor(
    readonly m: Machine,
    readonly cur: Process,
    readonly hooks: GupTestHooks = {},
  ) {
    this.now = hooks.now ?? (() => performance.now());
  }

  /** Take the collected kernel log lines. */
  drainDmesg(): string[] {
    return this.dmesg.splice(0, this.dmesg.length);
  }

  private printk(text: string): void {
    for (const line of text.replace(/\n$/, '').split('\n')) this.dmesg.push(line);
  }

  /** WARN(cond, fmt): the splat (registers and call trace omitted), recorded in m.warns too. */
  private WARN(fn: string, msg: string): void {
    this.m.warns.warn(fn, msg);
    this.printk('------------[ cut here ]------------');
    this.printk(msg);
    this.printk(`WARNING: CPU: 0 PID: ${this.cur.pid} at mm/gup_test.c ${fn}`);
    this.printk('---[ end trace 0000000000000000 ]---');
  }

  /** WARN_ON_ONCE splats that GUP itself raised since record `from` (repeats are not printed). */
  private printGupWarns(from: number): void {
    const recs = this.m.warns.records;
    for (let i = from; i < recs.length; i++) {
      const w = recs[i]!;
      if (w.once) this.printk(formatWarn(w));
    }
  }

  /**
   * gup_test_ioctl(): commands 1-6 take a struct gup_test (copied in, and back out only on success);
   * 7-9 the longterm test. Returns 0 or -errno (-EINVAL for an unknown command).
   */
  ioctl(cmd: number, arg?: GupTest | PinLongtermTest | number): number {
    switch (cmd) {
      case GUP_FAST_BENCHMARK:
      case PIN_FAST_BENCHMARK:
      case PIN_LONGTERM_BENCHMARK:
      case GUP_BASIC_TEST:
      case PIN_BASIC_TEST:
      case DUMP_USER_PAGES_TEST:
        break;
      case PIN_LONGTERM_TEST_START:
      case PIN_LONGTERM_TEST_STOP:
      case PIN_LONGTERM_TEST_READ:
        // 6.1's gup_test_ioctl() has no such commands: its default case (profile.gupTestPinLongtermTest).
        if (!this.m.profile.gupTestPinLongtermTest) return -EINVAL;
        return this.pin_longterm_test_ioctl(cmd, arg);
      default:
        return -EINVAL;
    }
    // copy_from_user(): a missing struct is a bad user pointer.
    if (!arg || typeof arg !== 'object' || !('which_pages' in arg)) return -EFAULT;
    const gup: GupTest = { ...arg, which_pages: [...arg.which_pages] };
    const ret = this.__gup_test_ioctl(cmd, gup);
    if (ret) return ret;
    Object.assign(arg, gup); // copy_to_user()
    return 0;
  }

  /** gup_test_release(): closing the file stops any longterm test. */
  release(): void {
    this.pin_longterm_test_stop();
  }

  /**
   * __gup_test_ioctl(): -EINVAL if addr + size overflows, -ENOMEM if the pages array is too big for
   * kvcalloc(), -EINTR if mmap_read_lock_killable() is interrupted. GUP failures are not errors: the
   * walk stops and `size` says how far it got.
   */
  private __gup_test_ioctl(cmd: number, gup: GupTest): number {
    const m = this.m;
    const cur = this.cur;
    const needs_mmap_lock = cmd !== GUP_FAST_BENCHMARK && cmd !== PIN_FAST_BENCHMARK;
    // check_add_overflow((unsigned long)gup->addr, (unsigned long)gup->size, &end)
    if (BigInt(gup.addr) + BigInt(gup.size) > U64_MAX) return -EINVAL;
    const end = gup.addr + gup.size;
    let nr_pages = Math.floor(gup.size / PAGE_SIZE);
    if (nr_pages * 8 > KVMALLOC_MAX) return -ENOMEM; // kvcalloc(nr_pages, sizeof(void *))
    const pages = new Int32Array(nr_pages).fill(NO_PFN);
    if (needs_mmap_lock && cur.fatalSignalPending) return -EINTR; // mmap_read_lock_killable()

    const warns0 = m.warns.records.length;
    // gup->gup_flags comes from user space in this release's FOLL_* values.
    const gup_flags = follFromRelease(m.profile, gup.gup_flags);
    const nr_chunks = gup.nr_pages_per_call > 0 ? Math.ceil(nr_pages / gup.nr_pages_per_call) : 1;
    const every = Math.max(1, Math.ceil(nr_chunks / 200));
    let paused = 0;
    let chunk = 0;
    let i = 0;
    let nr = gup.nr_pages_per_call;
    let addr = gup.addr;
    let next = addr;
    let start_time = this.now();
    for (; addr < end; addr = next) {
      // A short return ends the walk, but only here: addr has already advanced by the whole
      // requested chunk, so gup->size can exceed what was pinned.
      if (nr !== gup.nr_pages_per_call) break;
      next = addr + nr * PAGE_SIZE;
      if (next > end) {
        next = end;
        nr = Math.floor((next - addr) / PAGE_SIZE);
      }
      const at = pages.subarray(i);
      switch (cmd) {
        case GUP_FAST_BENCHMARK:
          nr = get_user_pages_fast(m, cur, addr, nr, gup_flags, at);
          break;
        case GUP_BASIC_TEST:
          nr = get_user_pages(m, cur, addr, nr, gup_flags, at);
          break;
        case PIN_FAST_BENCHMARK:
          nr = pin_user_pages_fast(m, cur, addr, nr, gup_flags, at);
          break;
        case PIN_BASIC_TEST:
          nr = pin_user_pages(m, cur, addr, nr, gup_flags, at);
          break;
        case PIN_LONGTERM_BENCHMARK:
          nr = pin_user_pages(m, cur, addr, nr, gup_flags | FOLL_LONGTERM, at);
          break;
        case DUMP_USER_PAGES_TEST:
          if (gup.test_flags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN) nr = pin_user_pages(m, cur, addr, nr, gup_flags, at);
          else nr = get_user_pages(m, cur, addr, nr, gup_flags, at);
          break;
      }
      if (nr <= 0) break;
      i += nr;
      if (this.hooks.onProgress && ++chunk % every === 0) {
        const t = this.now();
        this.hooks.onProgress(next - gup.addr, gup.size);
        paused += this.now() - t;
      }
    }
    let end_time = this.now();

    // Shifting the meaning of nr_pages: now it is the actual number pinned.
    nr_pages = i;
    gup.get_delta_usec = ktime_us_delta(end_time - paused, start_time);
    gup.size = addr - gup.addr;
    this.printGupWarns(warns0);

    this.hooks.afterGup?.(pages, nr_pages);
    // Un-timed: verify the DMA-pinned state, then the dump test.
    this.verify_dma_pinned(cmd, pages, nr_pages);
    if (cmd === DUMP_USER_PAGES_TEST) this.dump_pages_test(gup, pages, nr_pages);

    const warns1 = m.warns.records.length;
    start_time = this.now();
    this.put_back_pages(cmd, pages, nr_pages, gup.test_flags);
    end_time = this.now();
    gup.put_delta_usec = ktime_us_delta(end_time, start_time);
    this.printGupWarns(warns1);
    return 0;
  }

  /** put_back_pages(): put_page() per page for FOLL_GET commands, unpin_user_pages() for FOLL_PIN. */
  private put_back_pages(cmd: number, pages: Int32Array, nr_pages: number, test_flags: number): void {
    const m = this.m;
    switch (cmd) {
      case GUP_FAST_BENCHMARK:
      case GUP_BASIC_TEST:
        for (let i = 0; i < nr_pages; i++) put_page(m, pages[i]!);
        break;
      case PIN_FAST_BENCHMARK:
      case PIN_BASIC_TEST:
      case PIN_LONGTERM_BENCHMARK:
        unpin_user_pages(m, pages, nr_pages);
        break;
      case DUMP_USER_PAGES_TEST:
        if (test_flags & GUP_TEST_FLAG_DUMP_PAGES_USE_PIN) unpin_user_pages(m, pages, nr_pages);
        else for (let i = 0; i < nr_pages; i++) put_page(m, pages[i]!);
        break;
    }
  }

  /**
   * verify_dma_pinned(): for PIN_* commands every folio must read as maybe-DMA-pinned (and, for
   * PIN_LONGTERM_BENCHMARK, be longterm-pinnable); the first one that is not gets a WARN and a
   * dump_page() of its folio, and the check stops.
   */
  private verify_dma_pinned(cmd: number, pages: Int32Array, nr_pages: number): void {
    if (cmd !== PIN_FAST_BENCHMARK && cmd !== PIN_BASIC_TEST && cmd !== PIN_LONGTERM_BENCHMARK) return;
    const m = this.m;
    for (let i = 0; i < nr_pages; i++) {
      const folio = m.mem.page_folio(pages[i]!);
      if (!folio_maybe_dma_pinned(m, folio)) {
        this.WARN('verify_dma_pinned', `pages[${i}] is NOT dma-pinned`);
        this.printk(dump_page(m, folio, 'gup_test failure'));
        break;
      } else if (cmd === PIN_LONGTERM_BENCHMARK && !folio_is_longterm_pinnable(m, folio)) {
        this.WARN('verify_dma_pinned', `pages[${i}] is NOT pinnable but pinned`);
        this.printk(dump_page(m, folio, 'gup_test failure'));
        break;
      }
    }
  }

  /**
   * dump_pages_test(): zero every which_pages[] entry beyond the pages obtained (with a pr_warn), then
   * dump_page() each remaining one after a "---- page #N" header.
   */
  private dump_pages_test(gup: GupTest, pages: Int32Array, nr_pages: number): void {
    for (let i = 0; i < GUP_TEST_MAX_PAGES_TO_DUMP; i++) {
      if (gup.which_pages[i]! > nr_pages) {
        this.printk(`ZEROING due to out of range: .which_pages[${i}]: ${gup.which_pages[i]}`);
        gup.which_pages[i] = 0;
      }
    }
    for (let i = 0; i < GUP_TEST_MAX_PAGES_TO_DUMP; i++) {
      const index_to_dump = gup.which_pages[i]!;
      if (!index_to_dump) continue;
      this.printk(`---- page #${index_to_dump - 1}, starting from user virt addr: 0x${gup.addr.toString(16)}`);
      this.printk(dump_page(this.m, pages[index_to_dump - 1]!, 'gup_test: dump_pages() test'));
    }
  }

  // --- the longterm test (commands 7-9), serialized by pin_longterm_test_mutex in the kernel -------

  private pin_longterm_test_ioctl(cmd: number, arg: GupTest | PinLongtermTest | number | undefined): number {
    if (this.cur.fatalSignalPending) return -EINTR; // mutex_lock_killable()
    switch (cmd) {
      case PIN_LONGTERM_TEST_START:
        return this.pin_longterm_test_start(arg);
      case PIN_LONGTERM_TEST_STOP:
        this.pin_longterm_test_stop();
        return 0;
      case PIN_LONGTERM_TEST_READ:
        return this.pin_longterm_test_read(arg);
    }
    return -EINVAL;
  }

  /**
   * pin_longterm_test_start(): pin [addr, addr+size) with FOLL_LONGTERM (+FOLL_WRITE), fast or not,
   * until every page is pinned. -EINVAL if already started, for unknown flags, an unaligned or empty
   * range, or size > LONG_MAX; a GUP error unpins everything and is returned.
   */
  private pin_longterm_test_start(arg: unknown): number {
    if (this.longtermPages) return -EINVAL;
    if (!arg || typeof arg !== 'object' || !('flags' in arg)) return -EFAULT;
    const args = arg as PinLongtermTest;
    if (args.flags & ~(PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST)) return -EINVAL;
    if (args.addr % PAGE_SIZE || args.size % PAGE_SIZE) return -EINVAL;
    if (BigInt(args.size) > (1n << 63n) - 1n) return -EINVAL;
    const nr_pages = args.size / PAGE_SIZE;
    if (!nr_pages) return -EINVAL;
    if (nr_pages * 8 > KVMALLOC_MAX) return -ENOMEM;
    let gup_flags = FOLL_LONGTERM;
    if (args.flags & PIN_LONGTERM_TEST_FLAG_USE_WRITE) gup_flags |= FOLL_WRITE;
    const fast = (args.flags & PIN_LONGTERM_TEST_FLAG_USE_FAST) !== 0;
    const pages = new Int32Array(nr_pages).fill(NO_PFN);
    this.longtermPages = pages;
    this.longtermNr = 0;
    while (nr_pages - this.longtermNr) {
      const remaining = nr_pages - this.longtermNr;
      const addr = args.addr + this.longtermNr * PAGE_SIZE;
      const at = pages.subarray(this.longtermNr);
      const cur_pages = fast
        ? pin_user_pages_fast(this.m, this.cur, addr, remaining, gup_flags, at)
        : pin_user_pages(this.m, this.cur, addr, remaining, gup_flags, at);
      if (cur_pages < 0) {
        this.pin_longterm_test_stop();
        return cur_pages;
      }
      // A 0 return would spin forever in the kernel; the model stops instead (gupsim limit).
      if (cur_pages === 0)
        throw new Error('gupsim: pin_longterm_test_start: GUP returned 0 (the kernel would loop forever)');
      this.longtermNr += cur_pages;
    }
    return 0;
  }

  /** pin_longterm_test_stop(): unpin everything (also fine when not started). */
  private pin_longterm_test_stop(): void {
    if (!this.longtermPages) return;
    if (this.longtermNr) unpin_user_pages(this.m, this.longtermPages, this.longtermNr);
    this.longtermPages = null;
    this.longtermNr = 0;
  }

  /**
   * pin_longterm_test_read(): copy_to_user() each pinned page to consecutive PAGE_SIZE slots at the
   * user address (page contents are not modelled: only the user access is). -EINVAL if not started,
   * -EFAULT if the destination faults.
   */
  private pin_longterm_test_read(arg: unknown): number {
    if (!this.longtermPages) return -EINVAL;
    if (typeof arg !== 'number') return -EFAULT;
    let user_addr = arg;
    for (let i = 0; i < this.longtermNr; i++) {
      if (userAccess(this.m, this.cur, user_addr, PAGE_SIZE, true)) return -EFAULT;
      user_addr += PAGE_SIZE;
    }
    return 0;
  }

  /** Pages held by a started longterm test (for tests and the CLI's leak check). */
  get longtermPinned(): number {
    return this.longtermNr;
  }
}

/** ktime_us_delta(later, earlier) from millisecond timestamps: whole microseconds, truncated. */
function ktime_us_delta(later: number, earlier: number): number {
  return Math.max(0, Math.trunc((later - earlier) * 1000));
}
