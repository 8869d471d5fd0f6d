// The release profiles (src/mm/profile.ts): one test per field, each asserting what the model answers
// on 6.1, 6.12 and 6.18, and the differences measured on Debian's 6.1 and 6.12 under qemu
// (../shared/vm/README.md, "Measured differences between the releases").
import { describe, it, expect } from 'vitest';
import {
  LINUX_6_1,
  LINUX_6_12,
  LINUX_6_18,
  PROFILES,
  profileByName,
  profileDifferences,
  type KernelProfile,
} from '../src/mm/profile.js';
import { loadScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';
import type { RunResult, StepResult } from '../src/scenario/result.js';
import { FOLL_LONGTERM, FOLL_WRITE, follFromRelease, follToRelease, parseFollFlags } from '../src/mm/foll_flags.js';
import { Machine } from '../src/mm/machine.js';
import { do_mmap } from '../src/mm/mmap.js';
import { userAccess } from '../src/mm/user_access.js';
import { get_user_pages, get_user_pages_fast, pin_user_pages_remote } from '../src/mm/gup.js';
import { io_uring_setup, io_sqe_buffers_register, type IoRing } from '../src/consumers/io_uring.js';
import { lru_add_drain } from '../src/mm/swap.js';
import { memfd_pin_folios } from '../src/mm/gup_memfd.js';
import { GupTestFile, PIN_LONGTERM_TEST_START } from '../src/mm/gup_test.js';
import { EINVAL, EOVERFLOW } from '../src/uapi/errno.js';
import { step, delta } from './step_results.js';

type Release = '6.1' | '6.12' | '6.18';
const ON: Record<Release, KernelProfile> = { '6.1': LINUX_6_1, '6.12': LINUX_6_12, '6.18': LINUX_6_18 };

/** Run the YAML on each release; `pick` what to compare. */
function each<T>(yaml: string, pick: (r: RunResult) => T): Record<Release, T> {
  const sc = loadScenario(yaml, 'profiles.test.yaml');
  const out = {} as Record<Release, T>;
  for (const rel of Object.keys(ON) as Release[]) out[rel] = pick(runScenario(sc, { profile: ON[rel] }));
  return out;
}

/** The same with a machine built directly (for model APIs the scenario format does not reach). */
function eachMachine<T>(fn: (p: KernelProfile) => T): Record<Release, T> {
  const out = {} as Record<Release, T>;
  for (const rel of Object.keys(ON) as Release[]) out[rel] = fn(ON[rel]);
  return out;
}

function page(r: RunResult, label: string, i = 0): Record<string, unknown> {
  return (step(r, label).pages as Array<Record<string, unknown>>)[i]!;
}

const outcome = (s: StepResult) => ({ ret: s.ret, errno: s.errno });

// The qemu measurements' scenarios (the VM engine's live tests run the same ones on the kernels).
const MACHINE = 'machine: { memory: 1GiB, thp: madvise }';
const EXT4_SHARED = `${MACHINE}
steps:
  - { op: create_file, as: f, size: 1MiB, fs: disk }
  - { op: mmap, proc: app, as: fmap, size: 1MiB, type: file, file: f, shared: true }
  - { op: write, proc: app, region: fmap }
  - { op: pin_user_pages_fast, proc: app, region: fmap, flags: [FOLL_WRITE, FOLL_LONGTERM], as: fpin, label: fast }
  - { op: pin_user_pages_remote, proc: app, target: app, region: fmap, flags: [FOLL_WRITE, FOLL_LONGTERM], as: rp,
      label: remote }
  - { op: io_uring_register_buffers, proc: app, region: fmap, as: ring, label: reg }
`;
const IO_URING_THP = `${MACHINE}
steps:
  - { op: mmap, proc: app, as: thp, size: 2MiB, type: anon, align: 2MiB }
  - { op: madvise, proc: app, region: thp, advice: hugepage }
  - { op: write, proc: app, region: thp }
  - { op: io_uring_register_buffers, proc: app, region: thp, as: ring, label: reg }
  - { op: inspect, proc: app, region: thp, page: 1, label: held }
  - { op: io_uring_unregister_buffers, ring: ring, label: unreg }
`;
const REMOTE = `${MACHINE}
steps:
  - { op: mmap, proc: app, as: buf, size: 1MiB, type: anon, align: 2MiB }
  - { op: madvise, proc: app, region: buf, advice: nohugepage }
  - { op: write, proc: app, region: buf }
  - { op: get_user_pages_fast, proc: app, region: buf, pages: 1, as: probe }
  - { op: put_page, pins: probe }
  - { op: pin_user_pages_remote, proc: app, target: app, region: buf, flags: [FOLL_WRITE, FOLL_LONGTERM], as: rp,
      label: remote }
  - { op: inspect, proc: app, region: buf, page: 0, label: held }
  - { op: unpin_user_pages, pins: rp }
`;

describe('the measured differences between the releases (../shared/vm/README.md)', () => {
  it('io_uring register of a 2 MiB THP: 6.1 +512/+0 and +512 at unregister; 6.12 and 6.18 +512/+511, then +1', () => {
    expect(each(IO_URING_THP, (r) => [delta(r, 'reg'), delta(r, 'unreg')])).toEqual({
      '6.1': [
        [512, 0],
        [0, 512],
      ],
      '6.12': [
        [512, 511],
        [0, 1],
      ],
      '6.18': [
        [512, 511],
        [0, 1],
      ],
    });
  });

  it('ext4 MAP_SHARED, long-term write pins: 6.1 pins (io_uring: EOPNOTSUPP, +256/+256); 6.12, 6.18 EFAULT', () => {
    const got = each(EXT4_SHARED, (r) => ({
      fast: { ...outcome(step(r, 'fast')), d: delta(r, 'fast') },
      remote: { ...outcome(step(r, 'remote')), d: delta(r, 'remote') },
      reg: { errno: step(r, 'reg').errno, d: delta(r, 'reg') },
    }));
    expect(got['6.1']).toEqual({
      fast: { ret: 256, errno: null, d: [256, 0] },
      remote: { ret: 256, errno: null, d: [256, 0] },
      reg: { errno: 'EOPNOTSUPP', d: [256, 256] },
    });
    const refused = {
      fast: { ret: -14, errno: 'EFAULT', d: [1, 1] },
      remote: { ret: -14, errno: 'EFAULT', d: [0, 0] },
      reg: { errno: 'EFAULT', d: [1, 1] },
    };
    expect(got['6.12']).toEqual(refused);
    expect(got['6.18']).toEqual(refused);
  });

  it('pin_user_pages_remote long-term on a fresh 1 MiB buffer: page 0 held at 1026 on 6.1, 1025 on 6.12', () => {
    expect(each(REMOTE, (r) => [step(r, 'remote').ret, page(r, 'held').refcount])).toEqual({
      '6.1': [256, 1026],
      '6.12': [256, 1025],
      '6.18': [256, 1026],
    });
  });
});

describe('every profile field, on 6.1 / 6.12 / 6.18', () => {
  const tested = new Set<keyof KernelProfile>();
  const field = (f: keyof KernelProfile, title: string, fn: () => void) => {
    tested.add(f);
    it(`${f}: ${title}`, fn);
  };

  field('release', 'names the profile; profileByName() finds it by 6.1, linux-6.1 or v6.1', () => {
    expect(PROFILES.map((p) => p.release)).toEqual(['6.1', '6.12', '6.18']);
    expect(profileByName('6.1')).toBe(LINUX_6_1);
    expect(profileByName('linux-6.12')).toBe(LINUX_6_12);
    expect(profileByName('v6.18')).toBe(LINUX_6_18);
    expect(profileByName('6.6')).toBeUndefined();
    expect(runScenario(loadScenario(`${MACHINE}\nsteps: []`, 'x'), { profile: LINUX_6_12 }).kernel).toBe(
      'model of Linux 6.12',
    );
  });

  field(
    'follFlags',
    'FOLL_WRITE|FOLL_LONGTERM is 0x10001 on 6.1 and 0x101 since; names a release lacks are refused',
    () => {
      expect(eachMachine((p) => follToRelease(p, parseFollFlags(['FOLL_WRITE', 'FOLL_LONGTERM'], p)))).toEqual({
        '6.1': 0x10001,
        '6.12': 0x101,
        '6.18': 0x101,
      });
      expect(follFromRelease(LINUX_6_1, 0x10000)).toBe(FOLL_LONGTERM);
      expect(follFromRelease(LINUX_6_12, 0x101)).toBe(FOLL_LONGTERM | FOLL_WRITE);
      expect(() => parseFollFlags(['FOLL_PCI_P2PDMA'], LINUX_6_1)).toThrow(/does not exist in Linux 6.1/);
      expect(() => parseFollFlags(['FOLL_MIGRATION'], LINUX_6_12)).toThrow(/does not exist in Linux 6.12/);
      // A raw GUP step reports the caller's flags as the release numbers them.
      const yaml = `${MACHINE}
steps:
  - { op: mmap, proc: app, as: b, size: 4KiB, type: anon }
  - { op: pin_user_pages_fast, proc: app, region: b, flags: [FOLL_WRITE, FOLL_LONGTERM], as: p, label: pin }
  - { op: pin_user_pages_fast, proc: app, region: b, flags: [FOLL_PCI_P2PDMA], as: q, label: p2p }`;
      expect(each(yaml, (r) => [step(r, 'pin').gup_flags, step(r, 'p2p').errno])).toEqual({
        '6.1': ['0x10001', 'EINVAL'],
        '6.12': ['0x101', null],
        '6.18': ['0x101', null],
      });
    },
  );

  field('gupEntryChecks', "6.1's is_valid_gup_flags(): other WARNs, errors and flags than is_valid_gup_args()", () => {
    const yaml = `${MACHINE}
steps:
  - { op: mmap, proc: app, as: b, size: 16KiB, type: anon }
  - { op: write, proc: app, region: b }
  - { op: get_user_pages, proc: app, region: b, flags: [FOLL_LONGTERM], as: g1, label: get_lt }
  - { op: pin_user_pages, proc: app, region: b, flags: [FOLL_GET], as: p1, label: pin_get }
  - { op: pin_user_pages_unlocked, proc: app, region: b, flags: [FOLL_WRITE, FOLL_LONGTERM], as: p2, label: unl_lt }
  - { op: get_user_pages, proc: app, region: b, flags: [FOLL_TOUCH], as: g2, label: get_touch }`;
    const got = each(yaml, (r) => ({
      get_lt: [outcome(step(r, 'get_lt')), step(r, 'get_lt').why?.fn],
      pin_get: outcome(step(r, 'pin_get')),
      unl_lt: outcome(step(r, 'unl_lt')),
      get_touch: outcome(step(r, 'get_touch')),
      warns: r.warnings.map((w) => w.fn),
    }));
    expect(got['6.1']).toEqual({
      get_lt: [{ ret: -EINVAL, errno: 'EINVAL' }, 'is_valid_gup_flags'],
      pin_get: { ret: -EINVAL, errno: 'EINVAL' }, // 6.1: WARN_ON_ONCE(gup_flags & FOLL_GET) -> -EINVAL
      unl_lt: { ret: -EINVAL, errno: 'EINVAL' }, // get_user_pages_unlocked(): FOLL_LONGTERM refused
      get_touch: { ret: 4, errno: null }, // FOLL_TOUCH is a public flag in 6.1
      warns: ['is_valid_gup_flags', 'pin_user_pages', 'get_user_pages_unlocked'],
    });
    const later = {
      get_lt: [{ ret: -EINVAL, errno: 'EINVAL' }, 'is_valid_gup_args'],
      pin_get: { ret: 0, errno: null }, // pin_user_pages() returns 0 on bad arguments
      unl_lt: { ret: 4, errno: null },
      get_touch: { ret: -EINVAL, errno: 'EINVAL' }, // an internal flag
      warns: ['is_valid_gup_args', 'is_valid_gup_args', 'is_valid_gup_args'],
    };
    expect(got['6.12']).toEqual(later);
    expect(got['6.18']).toEqual(later);
    // FOLL_LONGTERM with a locked pointer (6.1 __get_user_pages_remote()), and a GUP-fast range that
    // overflows (6.1 returns 0, later -EOVERFLOW).
    expect(
      eachMachine((prof) => {
        const m = new Machine({ memory: 64 << 20 }, prof);
        const p = m.spawn('app');
        const a = do_mmap(m, p, { size: 4096, type: 'anon' });
        userAccess(m, p, a, 4096, true);
        const pages = new Int32Array(1);
        return [
          pin_user_pages_remote(m, p, a, 1, FOLL_WRITE | FOLL_LONGTERM, pages, { value: 1 }, p),
          get_user_pages_fast(m, p, a, -1, 0, pages),
        ];
      }),
    ).toEqual({ '6.1': [-EINVAL, 0], '6.12': [1, -EOVERFLOW], '6.18': [1, -EOVERFLOW] });
  });

  field('longtermWriteFileRefused', 'long-term write pins of ext4 MAP_SHARED: pinned on 6.1, EFAULT later', () => {
    expect(each(EXT4_SHARED, (r) => step(r, 'fast').errno)).toEqual({
      '6.1': null,
      '6.12': 'EFAULT',
      '6.18': 'EFAULT',
    });
  });

  field(
    'longtermRoUnshareFileCow',
    'a R/O long-term pin in a private file mapping: page cache on 6.1, a copy later',
    () => {
      const yaml = `${MACHINE}
steps:
  - { op: create_file, as: f, size: 64KiB, fs: disk }
  - { op: mmap, proc: app, as: fm, size: 64KiB, type: file, file: f, shared: false }
  - { op: read, proc: app, region: fm }
  - { op: pin_user_pages, proc: app, region: fm, pages: 1, flags: [FOLL_LONGTERM], as: p, label: pin }
  - { op: inspect, proc: app, region: fm, page: 0, label: pinned }`;
      expect(each(yaml, (r) => [page(r, 'pinned').refcount, page(r, 'pinned').anon_exclusive])).toEqual({
        '6.1': [1027, false], // mapping + page cache + buffer heads (written by create_file) + pin
        '6.12': [1026, true], // the unshare's anon copy: mapping + pin + the lru_add batch (a new folio)
        '6.18': [1026, true],
      });
    },
  );

  field('hugetlbForceWriteRefused', 'FOLL_FORCE|FOLL_WRITE on a read-only private hugetlb mapping', () => {
    const yaml = `machine: { memory: 1GiB, hugetlb: { 2M: 2 } }
steps:
  - { op: mmap, proc: app, as: h, size: 2MiB, type: hugetlb, prot: r, shared: false }
  - { op: read, proc: app, region: h }
  - { op: get_user_pages, proc: app, region: h, pages: 1, flags: [FOLL_WRITE, FOLL_FORCE], as: g, label: force }`;
    expect(each(yaml, (r) => [step(r, 'force').errno, step(r, 'force').why?.rule ?? null])).toEqual({
      '6.1': ['EFAULT', 'hugetlb does not support FOLL_FORCE|FOLL_WRITE'],
      '6.12': ['EFAULT', 'hugetlb does not support FOLL_FORCE|FOLL_WRITE'],
      '6.18': [null, null],
    });
  });

  field('hugetlbUnmapRestoresReserve', "the owner's unmap of a private hugetlb page gives its reservation back", () => {
    // MADV_DONTNEED by the owner (restored on 6.12 and 6.18), then a page a fork child still maps
    // unmapped by the owner (only 6.18 restores it, so HugePages_Rsvd wraps below zero).
    const yaml = `machine: { memory: 1GiB, hugetlb: { 2M: 2 } }
steps:
  - { op: mmap, proc: app, as: a, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: write, proc: app, region: a }
  - { op: madvise, proc: app, region: a, advice: dontneed, label: dontneed }
  - { op: munmap, proc: app, region: a }
  - { op: mmap, proc: app, as: b, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false }
  - { op: write, proc: app, region: b }
  - { op: fork, proc: app, child: kid }
  - { op: munmap, proc: app, region: b, label: owner_unmap }`;
    const resv = (r: RunResult, label: string) =>
      (step(r, label).hugetlb as Record<string, Record<string, number>>)['2M']!.resv_hugepages;
    expect(each(yaml, (r) => [resv(r, 'dontneed'), resv(r, 'owner_unmap')])).toEqual({
      '6.1': [0, 0],
      '6.12': [1, 0],
      '6.18': [1, -1],
    });
  });

  field('lruGenEnabled', 'the classic LRU parks a twice-touched page in the activate batch (+1 reference)', () => {
    expect(each(REMOTE, (r) => page(r, 'held').refcount)).toEqual({ '6.1': 1026, '6.12': 1025, '6.18': 1026 });
  });

  field('lruBatchSize', 'the LRU batches move after 15 folios on 6.1, 31 on 6.12 and 6.18 (PAGEVEC_SIZE)', () => {
    // 16 new pages: the lru_add batch moves at the 15th on 6.1 (one left), holds all 16 later on.
    expect(
      eachMachine((prof) => {
        const m = new Machine({ memory: 64 << 20 }, prof);
        const p = m.spawn('app');
        const a = do_mmap(m, p, { size: 16 * 4096, type: 'anon' });
        userAccess(m, p, a, 16 * 4096, true);
        const added = m.lruAddBatch.length;
        lru_add_drain(m);
        get_user_pages(m, p, a, 16, 0, null); // PG_referenced
        get_user_pages(m, p, a, 16, 0, null); // activate (the classic LRU: 6.12's MGLRU has no activate batch)
        return [added, m.lruActivateBatch.length];
      }),
    ).toEqual({ '6.1': [1, 1], '6.12': [16, 0], '6.18': [16, 16] });
  });

  // Measured in the VMs (src/probe/vm/vm.test.ts): a ZONE_MOVABLE page a FOLL_LONGTERM pin migrated.
  const MIGRATED = `machine: { memory: 1GiB, movable: 512MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 4KiB, type: anon }
  - { op: madvise, proc: app, region: buf, advice: populate_write }
  - { op: pin_user_pages, proc: app, region: buf, flags: [FOLL_WRITE, FOLL_LONGTERM], as: p, label: pin }
  - { op: inspect, proc: app, region: buf, page: 0, label: pinned }`;

  field('migrateDrainsMapped', '6.1 drains the LRU batch the migrated folio joined; later releases leave it', () => {
    expect(each(MIGRATED, (r) => [page(r, 'pinned').refcount, page(r, 'pinned').lru])).toEqual({
      '6.1': [1025, true],
      '6.12': [1026, false], // + the lru_add batch's reference, off the LRU until the batch moves
      '6.18': [1026, false],
    });
    const sc = loadScenario(MIGRATED, 'x');
    expect(page(runScenario(sc, { profile: { ...LINUX_6_18, migrateDrainsMapped: true } }), 'pinned').refcount).toBe(
      1025,
    );
  });

  field('longtermCollectPinRefs', "6.1's collect drains the LRU batches for every small folio it finds", () => {
    // Page `b` waits in the lru_add batch; a long-term pin of the settled page `a` (ZONE_MOVABLE)
    // drains the batch on 6.1 only: 6.12 and 6.18 see no extra reference on `a`.
    const yaml = `machine: { memory: 1GiB, movable: 512MiB }
steps:
  - { op: mmap, proc: app, as: a, size: 4KiB, type: anon }
  - { op: madvise, proc: app, region: a, advice: populate_write }
  - { op: mmap, proc: app, as: b, size: 4KiB, type: anon }
  - { op: write, proc: app, region: b }
  - { op: pin_user_pages, proc: app, region: a, flags: [FOLL_WRITE, FOLL_LONGTERM], as: p, label: pin }
  - { op: inspect, proc: app, region: b, page: 0, label: other }`;
    const flags = { ...LINUX_6_18, migrateDrainsMapped: LINUX_6_1.migrateDrainsMapped };
    const sc = loadScenario(yaml, 'x');
    const other = (prof: KernelProfile) => page(runScenario(sc, { profile: prof }), 'other').refcount;
    expect(other(LINUX_6_18)).toBe(2); // the mapping's and the lru_add batch's
    expect(other({ ...LINUX_6_18, longtermCollectPinRefs: 'one' })).toBe(1);
    expect(each(yaml, (r) => page(r, 'other').refcount)).toEqual({ '6.1': 1, '6.12': 2, '6.18': 2 });
    expect(other({ ...flags, longtermCollectPinRefs: 'pin_refs' })).toBe(1); // 6.1's migration drains too
  });

  field('ioUringPin', '6.1 pins with pin_user_pages() and refuses file-backed VMAs afterwards (io_pin_pages())', () => {
    const yaml = `${MACHINE}
steps:
  - { op: create_file, as: f, size: 64KiB, fs: disk }
  - { op: mmap, proc: app, as: fm, size: 64KiB, type: file, file: f, shared: false }
  - { op: io_uring_register_buffers, proc: app, region: fm, as: ring, label: reg }`;
    expect(each(yaml, (r) => [step(r, 'reg').errno, delta(r, 'reg')])).toEqual({
      '6.1': ['EOPNOTSUPP', [16, 16]], // the COW copies were pinned, then the VMA's vm_file refused
      '6.12': [null, [16, 0]],
      '6.18': [null, [16, 0]],
    });
  });

  field('ioUringCoalesce', 'one pin per THP (6.12, 6.18) or one per page (6.1)', () => {
    expect(each(IO_URING_THP, (r) => [page(r, 'held').pincount, page(r, 'held').refcount])).toEqual({
      '6.1': [512, 513],
      '6.12': [1, 2],
      '6.18': [1, 2],
    });
  });

  /** root's ring: pinned_vm after registering [thp A, thp B, thp A] in one call. */
  const acctAcross = (prof: KernelProfile) => {
    const m = new Machine({ memory: 256 << 20, thp: 'always' }, prof);
    const p = m.spawn('app');
    const A = do_mmap(m, p, { size: 2 << 20, type: 'anon', align: 2 << 20 });
    const B = do_mmap(m, p, { size: 2 << 20, type: 'anon', align: 2 << 20 });
    userAccess(m, p, A, 2 << 20, true);
    userAccess(m, p, B, 2 << 20, true);
    const ring = io_uring_setup(m, 'r', p) as IoRing;
    const iov = (base: number) => ({ base, len: 2 << 20 });
    expect(io_sqe_buffers_register(m, ring, [iov(A), iov(B), iov(A)])).toBe(0);
    return p.mm.pinned_vm;
  };
  field('ioUringAcctSeesEarlierBuffers', 'a THP registered twice in one call is charged once on 6.1/6.12', () => {
    expect(eachMachine(acctAcross)).toEqual({ '6.1': 1024, '6.12': 1024, '6.18': 1536 });
  });

  field('ioUringRingCharged', "an unprivileged ring's SQ/CQ memory is charged to locked_vm only on 6.18", () => {
    expect(
      eachMachine((prof) => {
        const m = new Machine({ memory: 64 << 20 }, prof);
        const p = m.spawn('app');
        p.capIpcLock = false;
        return (io_uring_setup(m, 'r', p) as IoRing).ringPages > 0;
      }),
    ).toEqual({ '6.1': false, '6.12': false, '6.18': true });
  });

  const DIO = `${MACHINE}
steps:
  - { op: create_file, as: f, size: 64KiB, fs: disk }
  - { op: create_file, as: t, size: 64KiB, fs: tmpfs }
  - { op: mmap, proc: app, as: b, size: 64KiB, type: anon }
  - { op: odirect_read, proc: app, region: b, file: f, label: rd }
  - { op: odirect_read, proc: app, region: b, file: f, offset: 100, length: 4096, label: misaligned }
  - { op: odirect_read, proc: app, region: b, file: t, label: tmpfs }`;
  field('directIoPins', 'O_DIRECT takes FOLL_GET references on 6.1, pins later', () => {
    expect(each(DIO, (r) => [step(r, 'rd').ret, delta(r, 'rd')])).toEqual({
      '6.1': [65536, [0, 0]],
      '6.12': [65536, [16, 16]],
      '6.18': [65536, [16, 16]],
    });
  });

  field('directIoAlignAfterPin', 'a misaligned buffer: EINVAL everywhere, after pinning only on 6.18', () => {
    expect(each(DIO, (r) => [step(r, 'misaligned').errno, delta(r, 'misaligned')])).toEqual({
      '6.1': ['EINVAL', [0, 0]],
      '6.12': ['EINVAL', [0, 0]],
      '6.18': ['EINVAL', [2, 2]],
    });
  });

  field('shmemDirectIo', 'O_DIRECT on tmpfs: EINVAL on 6.1, a copy later', () => {
    expect(each(DIO, (r) => outcome(step(r, 'tmpfs')))).toEqual({
      '6.1': { ret: -EINVAL, errno: 'EINVAL' },
      '6.12': { ret: 65536, errno: null },
      '6.18': { ret: 65536, errno: null },
    });
  });

  field(
    'rdmaReadOnlyForceWrite',
    'a read-only MR on a read-only shared mapping: EFAULT on 6.1 (FOLL_FORCE|FOLL_WRITE)',
    () => {
      const yaml = `${MACHINE}
steps:
  - { op: mmap, proc: app, as: sh, size: 64KiB, type: shmem, shared: true }
  - { op: write, proc: app, region: sh }
  - { op: mprotect, proc: app, region: sh, prot: r }
  - { op: rdma_reg_mr, proc: app, region: sh, as: mr, writable: false, label: mr }`;
      expect(each(yaml, (r) => step(r, 'mr').errno)).toEqual({ '6.1': 'EFAULT', '6.12': null, '6.18': null });
    },
  );

  field('hugetlbCacheRefPerPage', 'a hugetlb folio in the page cache: 1 reference on 6.1, 512 since', () => {
    const yaml = `machine: { memory: 1GiB, hugetlb: { 2M: 2 } }
steps:
  - { op: mmap, proc: app, as: h, size: 2MiB, type: hugetlb }
  - { op: write, proc: app, region: h }
  - { op: inspect, proc: app, region: h, page: 1, label: p }
  - { op: munmap, proc: app, region: h }`;
    // A shared hugetlb mapping's folio: one mapping + the page cache's references.
    expect(each(yaml, (r) => [page(r, 'p').refcount, r.warnings.length])).toEqual({
      '6.1': [2, 0],
      '6.12': [513, 0],
      '6.18': [513, 0],
    });
  });

  field('mthp', 'per-size mTHP: none on 6.1 (a scenario naming it cannot run there; write faults are order 0)', () => {
    const yaml = `machine: { memory: 1GiB, mthp: { 64K: always } }
steps:
  - { op: mmap, proc: app, as: b, size: 64KiB, type: anon, align: 64KiB }
  - { op: write, proc: app, region: b }
  - { op: inspect, proc: app, region: b, page: 0, label: p }`;
    const sc = loadScenario(yaml, 'mthp.yaml');
    expect(() => runScenario(sc, { profile: LINUX_6_1 })).toThrow(
      /machine.mthp \(64K\): Linux 6.1 has no per-size mTHP/,
    );
    expect(page(runScenario(sc, { profile: LINUX_6_12 }), 'p').order).toBe(4);
    expect(page(runScenario(sc, { profile: LINUX_6_18 }), 'p').order).toBe(4);
    // A machine made directly with the setting: 6.1's fault allocates small pages.
    const m = new Machine({ memory: 64 << 20, mthp: { '64K': 'always' } }, LINUX_6_1);
    const p = m.spawn('app');
    const a = do_mmap(m, p, { size: 64 << 10, type: 'anon', align: 64 << 10 });
    userAccess(m, p, a, 4096, true);
    expect(m.vmstat.get('nr_free_pages')).toBe(new Machine({ memory: 64 << 20 }).vmstat.get('nr_free_pages') - 1);
  });

  field('anonThpAlign', 'a 2 MiB anon mmap after a 4 KiB one: THP-aligned (a PMD) except on 6.1', () => {
    const yaml = `machine: { memory: 1GiB, thp: always }
steps:
  - { op: mmap, proc: app, as: small, size: 4KiB, type: anon }
  - { op: mmap, proc: app, as: buf, size: 2MiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: inspect, proc: app, region: buf, page: 0, label: p }`;
    expect(each(yaml, (r) => page(r, 'p').mapped_by)).toEqual({ '6.1': 'pte', '6.12': 'pmd', '6.18': 'pmd' });
  });

  const PAGECACHE = `${MACHINE}
steps:
  - { op: create_file, as: f, size: 1MiB, fs: disk }
  - { op: mmap, proc: app, as: fm, size: 1MiB, type: file, file: f, shared: false }
  - { op: read, proc: app, region: fm, offset: 512KiB, length: 4KiB }
  - { op: inspect, proc: app, region: fm, page: 128, label: faulted }
  - { op: inspect, proc: app, region: fm, page: 0, label: far }`;
  field('ext4LargeFolios', 'ext4 page cache in large folios only on 6.18', () => {
    expect(each(PAGECACHE, (r) => page(r, 'faulted').order)).toEqual({ '6.1': 0, '6.12': 0, '6.18': 8 });
  });

  field('faultAroundWholeFolio', 'fault-around maps a large folio whole on 6.18 (off: only the 64 KiB window)', () => {
    expect(each(PAGECACHE, (r) => page(r, 'far').present)).toEqual({ '6.1': false, '6.12': false, '6.18': true });
    const off = { ...LINUX_6_18, faultAroundWholeFolio: false };
    expect(page(runScenario(loadScenario(PAGECACHE, 'x'), { profile: off }), 'far').present).toBe(false);
  });

  field('wpReuseAnon', 'a write fault on a shared-then-exclusive PTE-mapped THP: reuse or copy', () => {
    const tail = `
  - { op: fork, proc: app, child: kid }
  - { op: exit, proc: kid }
  - { op: write, proc: app, region: buf, length: 4KiB }
  - { op: inspect, proc: app, region: buf, page: 0, label: after }`;
    const head = `machine: { memory: 1GiB, thp: always }
steps:
  - { op: mmap, proc: app, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: write, proc: app, region: buf }`;
    // Only page 0 left mapped: refcount 1 -> 6.1 reuses (page_count() == 1); 6.12 never reuses a large
    // folio; 6.18 frees a large folio mapped by a single page rather than reuse it.
    const one = `${head}\n  - { op: munmap, proc: app, region: buf, offset: 4KiB, length: 2044KiB }${tail}`;
    expect(each(one, (r) => page(r, 'after').order)).toEqual({ '6.1': 9, '6.12': 0, '6.18': 0 });
    // 511 pages mapped, all by this mm: only 6.18 reuses.
    const many = `${head}\n  - { op: munmap, proc: app, region: buf, offset: 2044KiB, length: 4KiB }${tail}`;
    expect(each(many, (r) => page(r, 'after').order)).toEqual({ '6.1': 0, '6.12': 0, '6.18': 9 });
  });

  field(
    'hugeZeroWpAllocatesThp',
    'a write to the huge zero PMD: a new THP on 6.18, a split and a small page before',
    () => {
      const yaml = `machine: { memory: 1GiB, thp: always }
steps:
  - { op: mmap, proc: app, as: buf, size: 2MiB, type: anon, align: 2MiB }
  - { op: read, proc: app, region: buf }
  - { op: write, proc: app, region: buf, length: 4KiB }
  - { op: inspect, proc: app, region: buf, page: 0, label: after }`;
      expect(each(yaml, (r) => [page(r, 'after').mapped_by, page(r, 'after').order])).toEqual({
        '6.1': ['pte', 0],
        '6.12': ['pte', 0],
        '6.18': ['pmd', 9],
      });
    },
  );

  field('dumpPageFormat', "6.1's __dump_page() lines (page:<ptr>, compound_mapcount, compound_pincount)", () => {
    const yaml = `${MACHINE}
steps:
  - { op: mmap, proc: app, as: thp, size: 2MiB, type: anon, align: 2MiB }
  - { op: madvise, proc: app, region: thp, advice: hugepage }
  - { op: write, proc: app, region: thp }
  - { op: pin_user_pages_fast, proc: app, region: thp, pages: 2, flags: [FOLL_WRITE], as: p }
  - { op: dump_page, proc: app, region: thp, page: 1, label: d }`;
    const got = each(yaml, (r) => (step(r, 'd').text as string).split('\n').slice(0, 3));
    expect(got['6.1'][0]).toMatch(
      /^page:[0-9a-f]{16} refcount:3 mapcount:1 mapping:[0-9a-f]{16} index:0x\w+ pfn:0x\w+$/,
    );
    expect(got['6.1'][1]).toMatch(/^head:[0-9a-f]{16} order:9 compound_mapcount:1 compound_pincount:2$/);
    expect(got['6.1'][2]).toMatch(/^anon flags: 0x[0-9a-f]+\(referenced\|uptodate\|lru\|head\|swapbacked\|/);
    for (const rel of ['6.12', '6.18'] as const) {
      expect(got[rel][0]).toMatch(/^page: refcount:3 mapcount:0 mapping:[0-9a-f]{16} index:0x\w+ pfn:0x\w+$/);
      expect(got[rel][1]).toBe('head: order:9 mapcount:1 entire_mapcount:1 nr_pages_mapped:0 pincount:2');
    }
    // The flag bits are each release's enum pageflags: head is bit 16 on 6.1, bit 6 since.
    const value = (line: string) => BigInt(line.match(/flags: (0x[0-9a-f]+)/)![1]!);
    expect((value(got['6.1'][2]!) >> 16n) & 1n).toBe(1n);
    expect((value(got['6.18'][2]!) >> 6n) & 1n).toBe(1n);
  });

  field('memfdPinFolios', 'memfd_pin_folios() exists from 6.11: calling it on 6.1 is a gupsim bug', () => {
    const pin = (prof: KernelProfile) => {
      const m = new Machine({ memory: 64 << 20 }, prof);
      return memfd_pin_folios(m, m.newFile('tmpfs', 'memfd:x', 4), 0, 4095, new Int32Array(1), 1, { value: 0 });
    };
    expect(() => pin(LINUX_6_1)).toThrow(/does not exist in Linux 6.1/);
    expect(pin(LINUX_6_12)).toBe(1);
    expect(pin(LINUX_6_18)).toBe(1);
  });

  field('gupTestPinLongtermTest', "gup_test's PIN_LONGTERM_TEST_START: -EINVAL on 6.1 (no such ioctl)", () => {
    expect(
      eachMachine((prof) => {
        const m = new Machine({ memory: 64 << 20 }, prof);
        const p = m.spawn('app');
        const addr = do_mmap(m, p, { size: 8192, type: 'anon' });
        userAccess(m, p, addr, 8192, true);
        const f = new GupTestFile(m, p);
        const r = f.ioctl(PIN_LONGTERM_TEST_START, { addr, size: 8192, flags: 0 });
        f.release();
        return r;
      }),
    ).toEqual({ '6.1': -EINVAL, '6.12': 0, '6.18': 0 });
  });

  field('vfioUnpinRuns', 'unpinning a VFIO mapping by runs (6.18) or page by page: the same answers', () => {
    const yaml = `${MACHINE}
steps:
  - { op: mmap, proc: app, as: b, size: 64KiB, type: anon }
  - { op: madvise, proc: app, region: b, advice: populate_write }
  - { op: vfio_map_dma, proc: app, region: b, as: dma, write: true, label: map }
  - { op: vfio_unmap_dma, dma: dma, label: unmap }
  - { op: inspect, proc: app, region: b, page: 0, label: after }`;
    const got = each(yaml, (r) => [delta(r, 'map'), delta(r, 'unmap'), page(r, 'after').refcount, r.warnings]);
    expect(got['6.1']).toEqual([[16, 0], [0, 16], 1, []]);
    expect(got['6.12']).toEqual(got['6.1']);
    // The pin's FOLL_TOUCH was the pages' second access: on 6.18's classic LRU each waits in the
    // activate batch (31 long; 6.1's of 15 has moved page 0 on, 6.12's MGLRU has none).
    expect(got['6.18']).toEqual([[16, 0], [0, 16], 2, []]);
    const byPage = { ...LINUX_6_18, vfioUnpinRuns: false };
    const r = runScenario(loadScenario(yaml, 'x'), { profile: byPage });
    expect([delta(r, 'map'), delta(r, 'unmap'), page(r, 'after').refcount]).toEqual([[16, 0], [0, 16], 2]);
  });

  for (const f of [
    'is64bit',
    'defaultMemlock',
    'pvmMaxUserPages',
    'ioUringMaxBuffer',
    'largeFolioPinAccounting',
  ] as const)
    field(f, 'the same in every release the model has', () => {
      expect(new Set(PROFILES.map((p) => p[f])).size).toBe(1);
    });

  it('every field of the profile has its test here', () => {
    expect([...tested].sort()).toEqual(Object.keys(LINUX_6_18).sort());
    // and the fields that differ are the ones documented to differ
    expect(profileDifferences(LINUX_6_12, LINUX_6_18).sort()).toEqual(
      [
        'hugetlbForceWriteRefused',
        'lruGenEnabled',
        'ioUringAcctSeesEarlierBuffers',
        'ioUringRingCharged',
        'directIoAlignAfterPin',
        'ext4LargeFolios',
        'faultAroundWholeFolio',
        'wpReuseAnon',
        'vfioUnpinRuns',
        'hugeZeroWpAllocatesThp',
        'hugetlbUnmapRestoresReserve',
      ].sort(),
    );
  });
});
