import { describe, expect, it } from 'vitest';
import { Machine } from './machine.js';
import { type Process } from './task.js';
import {
  GupTestFile,
  gupTestStruct,
  cmd_to_str,
  GUP_FAST_BENCHMARK,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
  GUP_BASIC_TEST,
  PIN_BASIC_TEST,
  DUMP_USER_PAGES_TEST,
  PIN_LONGTERM_TEST_START,
  PIN_LONGTERM_TEST_STOP,
  PIN_LONGTERM_TEST_READ,
  GUP_TEST_FLAG_DUMP_PAGES_USE_PIN,
  PIN_LONGTERM_TEST_FLAG_USE_WRITE,
  PIN_LONGTERM_TEST_FLAG_USE_FAST,
} from './gup_test.js';
import { EFAULT, EINTR, EINVAL } from '../uapi/errno.js';
import { do_mmap } from './mmap.js';
import { userAccess } from './user_access.js';
import { pin_user_pages, unpin_user_page, folio_is_longterm_pinnable } from './gup.js';
import { FOLL_WRITE } from './foll_flags.js';
import { PAGE_SIZE } from './memmap.js';

const MiB = 1 << 20;

function setup(pagesMapped: number, cfg: ConstructorParameters<typeof Machine>[0] = {}) {
  const m = new Machine({ memory: 64 * MiB, ...cfg });
  const p = m.spawn('gup_test');
  const addr = do_mmap(m, p, { size: pagesMapped * PAGE_SIZE, type: 'anon', shared: false });
  expect(addr).toBeGreaterThan(0);
  // The selftest faults every page in from user space first.
  expect(userAccess(m, p, addr, pagesMapped * PAGE_SIZE, true)).toBe(0);
  return { m, p, addr };
}

const pinsHeld = (m: Machine) => {
  const s = m.vmstat.snapshot();
  return s.nr_foll_pin_acquired! - s.nr_foll_pin_released!;
};

function run(m: Machine, p: Process, cmd: number, init: Parameters<typeof gupTestStruct>[0], hooks = {}) {
  const f = new GupTestFile(m, p, hooks);
  const gup = gupTestStruct(init);
  const ret = f.ioctl(cmd, gup);
  return { ret, gup, dmesg: f.drainDmesg(), f };
}

describe('gup_test ioctl: the chunked walk', () => {
  it('PIN_FAST_BENCHMARK pins every page and releases them all', () => {
    const { m, p, addr } = setup(1024);
    const { ret, gup, dmesg } = run(m, p, PIN_FAST_BENCHMARK, {
      addr,
      size: 4 * MiB,
      nr_pages_per_call: 64,
      gup_flags: FOLL_WRITE,
    });
    expect(ret).toBe(0);
    expect(gup.size).toBe(4 * MiB);
    expect(m.vmstat.snapshot().nr_foll_pin_acquired).toBe(1024);
    expect(pinsHeld(m)).toBe(0);
    expect(dmesg).toEqual([]);
    expect(m.warns.records).toEqual([]);
  });

  it('truncates the last chunk to the end of the range', () => {
    const { m, p, addr } = setup(10);
    const { gup } = run(m, p, PIN_BASIC_TEST, { addr, size: 10 * PAGE_SIZE, nr_pages_per_call: 4 });
    expect(gup.size).toBe(10 * PAGE_SIZE);
    expect(m.vmstat.snapshot().nr_foll_pin_acquired).toBe(10);
  });

  it('stops after a short chunk, reporting the whole requested chunk as walked', () => {
    // 10 mapped pages, nothing above them: chunks [0,4) [4,8) then [8,12) pins only 8 and 9.
    const { m, p, addr } = setup(10);
    const { ret, gup } = run(m, p, PIN_FAST_BENCHMARK, { addr, size: 16 * PAGE_SIZE, nr_pages_per_call: 4 });
    expect(ret).toBe(0); // GUP errors are not ioctl errors
    expect(m.vmstat.snapshot().nr_foll_pin_acquired).toBe(10);
    expect(gup.size).toBe(12 * PAGE_SIZE); // more than the 10 pages pinned
    expect(pinsHeld(m)).toBe(0);
  });

  it('stops at once when the first call fails: size 0', () => {
    const { m, p, addr } = setup(4);
    const { ret, gup } = run(m, p, GUP_BASIC_TEST, {
      addr: addr + 64 * MiB,
      size: 4 * PAGE_SIZE,
      nr_pages_per_call: 1,
    });
    expect(ret).toBe(0);
    expect(gup.size).toBe(0);
  });

  it('nr_pages_per_call 0 walks nothing', () => {
    const { m, p, addr } = setup(4);
    const { gup } = run(m, p, PIN_FAST_BENCHMARK, { addr, size: 4 * PAGE_SIZE, nr_pages_per_call: 0 });
    expect(gup.size).toBe(0);
    expect(m.vmstat.snapshot().nr_foll_pin_acquired).toBe(0);
  });

  it('GUP commands take and drop FOLL_GET references (no pins)', () => {
    const { m, p, addr } = setup(8);
    for (const cmd of [GUP_FAST_BENCHMARK, GUP_BASIC_TEST]) {
      const { gup } = run(m, p, cmd, { addr, size: 8 * PAGE_SIZE, nr_pages_per_call: 3 });
      expect(gup.size).toBe(8 * PAGE_SIZE);
    }
    expect(m.vmstat.snapshot().nr_foll_pin_acquired).toBe(0);
    expect(m.warns.records).toEqual([]);
  });

  it('PIN_LONGTERM_BENCHMARK migrates movable pages first; nothing to warn about', () => {
    const { m, p, addr } = setup(16, { movable: 32 * MiB });
    expect(folio_is_longterm_pinnable(m, m.mem.page_folio(pfnAt(m, p, addr)))).toBe(false);
    const { gup, dmesg } = run(m, p, PIN_LONGTERM_BENCHMARK, {
      addr,
      size: 16 * PAGE_SIZE,
      nr_pages_per_call: 16,
      gup_flags: FOLL_WRITE,
    });
    expect(gup.size).toBe(16 * PAGE_SIZE);
    expect(dmesg).toEqual([]);
    expect(folio_is_longterm_pinnable(m, m.mem.page_folio(pfnAt(m, p, addr)))).toBe(true);
    expect(pinsHeld(m)).toBe(0);
  });

  it('measures get/put in whole microseconds and leaves progress-callback time out', () => {
    const { m, p, addr } = setup(64);
    let t = 0;
    const hooks = {
      now: () => (t += 1), // every ktime_get() advances 1 ms
      onProgress: () => {
        t += 500;
      },
    };
    const { gup } = run(m, p, PIN_FAST_BENCHMARK, { addr, size: 64 * PAGE_SIZE, nr_pages_per_call: 1 }, hooks);
    // 64 chunks, a progress call after each (< 200 chunks): 65 clock steps of 1 ms are counted (one
    // per progress call, one for end_time), none of the 64 x 500 ms spent inside the callback.
    expect(gup.get_delta_usec).toBe(65_000);
    expect(gup.put_delta_usec).toBe(1000);
  });
});

/** The PFN mapped at addr (via a short-lived FOLL_PIN, released again). */
function pfnAt(m: Machine, p: Process, addr: number): number {
  const pages = new Int32Array(1);
  expect(pin_user_pages(m, p, addr, 1, 0, pages)).toBe(1);
  unpin_user_page(m, pages[0]!);
  return pages[0]!;
}

describe('gup_test ioctl: verify_dma_pinned', () => {
  it('WARNs and dumps the first page that is not dma-pinned, then stops', () => {
    const { m, p, addr } = setup(8);
    const { ret, dmesg } = run(
      m,
      p,
      PIN_BASIC_TEST,
      { addr, size: 8 * PAGE_SIZE, nr_pages_per_call: 8 },
      {
        // Break two pins behind gup_test's back.
        afterGup: (pages: Int32Array) => {
          unpin_user_page(m, pages[3]!);
          unpin_user_page(m, pages[5]!);
        },
      },
    );
    expect(ret).toBe(0);
    expect(dmesg).toContain('pages[3] is NOT dma-pinned');
    expect(dmesg.join('\n')).not.toContain('pages[5]');
    expect(dmesg).toContain('page dumped because: gup_test failure');
    // The broken page: its mapping's reference and the lru_add batch's (the selftest's faults just now).
    expect(dmesg.find((l) => l.startsWith('page: refcount:2 '))).toBeDefined();
    const verify = m.warns.records.filter((w) => w.fn === 'verify_dma_pinned');
    expect(verify).toEqual([expect.objectContaining({ condition: 'pages[3] is NOT dma-pinned' })]);
    // unpin_user_pages() then unpins the two pages again: the kernel subtracts another pin's worth (no
    // check, no WARN of its own) and counts them released; gupsim records the misuse.
    expect(m.warns.records.filter((w) => w.fn !== 'verify_dma_pinned')).toEqual([]);
    expect(m.misuse.records).toHaveLength(2); // one per folio: gupsim's caller here names no handle
    expect(m.misuse.records[0]!.what).toMatch(/small folio that does not hold that many pins/);
    expect(m.misuse.records.map((r) => r.kernel.match(/_refcount \S+ -> \S+/)?.[0])).toEqual([
      '_refcount 2 -> -1022', // the mapping's and the lru_add batch's
      '_refcount 2 -> -1022',
    ]);
    expect(pinsHeld(m)).toBe(-2);
  });

  it('WARNs "NOT pinnable but pinned" for PIN_LONGTERM_BENCHMARK on a ZONE_MOVABLE page', () => {
    const { m, p, addr } = setup(4, { movable: 32 * MiB });
    const other = do_mmap(m, p, { size: PAGE_SIZE, type: 'anon', shared: false });
    expect(userAccess(m, p, other, PAGE_SIZE, true)).toBe(0);
    const { dmesg } = run(
      m,
      p,
      PIN_LONGTERM_BENCHMARK,
      { addr, size: 4 * PAGE_SIZE, nr_pages_per_call: 4 },
      {
        // A buggy migration: pages[1] swapped for a (short-term) pinned movable page.
        afterGup: (pages: Int32Array) => {
          const swap = new Int32Array(1);
          expect(pin_user_pages(m, p, other, 1, 0, swap)).toBe(1);
          expect(folio_is_longterm_pinnable(m, m.mem.page_folio(swap[0]!))).toBe(false);
          unpin_user_page(m, pages[1]!);
          pages[1] = swap[0]!;
        },
      },
    );
    expect(dmesg).toContain('pages[1] is NOT pinnable but pinned');
    expect(dmesg).toContain('page dumped because: gup_test failure');
    expect(pinsHeld(m)).toBe(0);
  });

  it('does not verify FOLL_GET commands', () => {
    const { m, p, addr } = setup(4);
    const { dmesg } = run(m, p, GUP_BASIC_TEST, { addr, size: 4 * PAGE_SIZE, nr_pages_per_call: 1 });
    expect(dmesg).toEqual([]);
  });
});

describe('gup_test ioctl: DUMP_USER_PAGES_TEST', () => {
  it('zeroes out-of-range which_pages and dumps the others after a header', () => {
    const { m, p, addr } = setup(4);
    const { gup, dmesg } = run(m, p, DUMP_USER_PAGES_TEST, {
      addr,
      size: 4 * PAGE_SIZE,
      nr_pages_per_call: 1,
      which_pages: [1, 5000, 3],
    });
    expect(dmesg[0]).toBe('ZEROING due to out of range: .which_pages[1]: 5000');
    expect(gup.which_pages).toEqual([1, 0, 3, 0, 0, 0, 0, 0]);
    const headers = dmesg.filter((l) => l.startsWith('---- page #'));
    expect(headers).toEqual([
      `---- page #0, starting from user virt addr: 0x${addr.toString(16)}`,
      `---- page #2, starting from user virt addr: 0x${addr.toString(16)}`,
    ]);
    // FOLL_GET: mapped once + the GUP reference while dumped + the lru_add batch's (just faulted).
    expect(dmesg.filter((l) => l.startsWith('page: refcount:3 mapcount:1 '))).toHaveLength(2);
    expect(dmesg.filter((l) => l === 'page dumped because: gup_test: dump_pages() test')).toHaveLength(2);
    expect(dmesg.some((l) => l.startsWith('anon flags: '))).toBe(true);
  });

  it('with USE_PIN the dump shows the pin bias and pins are released', () => {
    const { m, p, addr } = setup(4);
    const { dmesg } = run(m, p, DUMP_USER_PAGES_TEST, {
      addr,
      size: 4 * PAGE_SIZE,
      nr_pages_per_call: 1,
      which_pages: [2],
      test_flags: GUP_TEST_FLAG_DUMP_PAGES_USE_PIN,
    });
    expect(dmesg.filter((l) => l.startsWith('page: refcount:1026 '))).toHaveLength(1); // + the LRU batch's
    expect(m.vmstat.snapshot().nr_foll_pin_acquired).toBe(4);
    expect(pinsHeld(m)).toBe(0);
  });
});

describe('gup_test ioctl: errors', () => {
  it('rejects an unknown command and an overflowing range; the struct is not copied back', () => {
    const { m, p, addr } = setup(1);
    const f = new GupTestFile(m, p);
    expect(f.ioctl(0xc0506799, gupTestStruct({ addr }))).toBe(-EINVAL);
    const gup = gupTestStruct({ addr: 2 ** 63, size: 2 ** 63, nr_pages_per_call: 1 });
    expect(f.ioctl(GUP_FAST_BENCHMARK, gup)).toBe(-EINVAL);
    expect(gup.size).toBe(2 ** 63);
    expect(f.ioctl(GUP_FAST_BENCHMARK)).toBe(-EFAULT);
  });

  it('is interrupted by a fatal signal only where it takes mmap_lock', () => {
    const { m, p, addr } = setup(2);
    p.fatalSignalPending = true;
    const f = new GupTestFile(m, p);
    expect(f.ioctl(PIN_BASIC_TEST, gupTestStruct({ addr, size: 2 * PAGE_SIZE, nr_pages_per_call: 1 }))).toBe(-EINTR);
    // GUP-fast commands do not take mmap_lock; the walk itself then runs (the fast path pins).
    expect(f.ioctl(PIN_FAST_BENCHMARK, gupTestStruct({ addr, size: 2 * PAGE_SIZE, nr_pages_per_call: 1 }))).toBe(0);
  });

  it('names the commands as the selftest does', () => {
    expect(cmd_to_str(PIN_FAST_BENCHMARK)).toBe('PIN_FAST_BENCHMARK');
    expect(cmd_to_str(DUMP_USER_PAGES_TEST)).toBe('DUMP_USER_PAGES_TEST');
    expect(cmd_to_str(42)).toBe('Unknown command');
  });
});

describe('gup_test ioctl: the longterm test (START / READ / STOP)', () => {
  it('keeps pins across calls until STOP or release', () => {
    const { m, p, addr } = setup(8);
    const f = new GupTestFile(m, p);
    const flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST;
    expect(f.ioctl(PIN_LONGTERM_TEST_READ, addr)).toBe(-EINVAL); // not started
    expect(f.ioctl(PIN_LONGTERM_TEST_START, { addr, size: 4 * PAGE_SIZE, flags })).toBe(0);
    expect(f.longtermPinned).toBe(4);
    expect(pinsHeld(m)).toBe(4);
    expect(f.ioctl(PIN_LONGTERM_TEST_START, { addr, size: 4 * PAGE_SIZE, flags })).toBe(-EINVAL); // already started
    expect(f.ioctl(PIN_LONGTERM_TEST_READ, addr + 4 * PAGE_SIZE)).toBe(0);
    expect(f.ioctl(PIN_LONGTERM_TEST_READ, addr + 6 * PAGE_SIZE)).toBe(-EFAULT); // runs past the mapping
    expect(f.ioctl(PIN_LONGTERM_TEST_STOP)).toBe(0);
    expect(pinsHeld(m)).toBe(0);
    expect(f.ioctl(PIN_LONGTERM_TEST_STOP)).toBe(0); // also fine when not started
    expect(f.ioctl(PIN_LONGTERM_TEST_START, { addr, size: 2 * PAGE_SIZE, flags: 0 })).toBe(0);
    f.release();
    expect(pinsHeld(m)).toBe(0);
  });

  it('validates its arguments and returns GUP errors with nothing pinned', () => {
    const { m, p, addr } = setup(2);
    const f = new GupTestFile(m, p);
    expect(f.ioctl(PIN_LONGTERM_TEST_START, { addr, size: PAGE_SIZE, flags: 4 })).toBe(-EINVAL);
    expect(f.ioctl(PIN_LONGTERM_TEST_START, { addr: addr + 1, size: PAGE_SIZE, flags: 0 })).toBe(-EINVAL);
    expect(f.ioctl(PIN_LONGTERM_TEST_START, { addr, size: 0, flags: 0 })).toBe(-EINVAL);
    // Pages 0-1 pinned, then the hole: the second round fails with -EFAULT and everything is unpinned.
    expect(f.ioctl(PIN_LONGTERM_TEST_START, { addr, size: 4 * PAGE_SIZE, flags: 0 })).toBe(-EFAULT);
    expect(f.longtermPinned).toBe(0);
    expect(pinsHeld(m)).toBe(0);
  });
});
