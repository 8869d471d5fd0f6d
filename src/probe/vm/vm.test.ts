// Live VM tests: boot Debian's 6.1 and 6.12 kernels under qemu (one boot per release serves every
// scenario here), run raw GUP and io_uring scenarios through gupsim's module and the helper, and
// assert the release differences measured in ../shared/vm/README.md. They need qemu, a C compiler
// and make, and the kernel packages (cached, or Debian's apt lists to download them from); without
// those they are skipped with the reason printed, and they fail when those are there but broken.
// GUPSIM_SKIP_VM=1 skips them.

import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenario } from '../../scenario/load.js';
import type { Scenario } from '../../scenario/schema.js';
import type { KernelRunResult, ProbeOptions } from '../engine.js';
import { agrees, diffScenario, formatDiff } from '../diff.js';
import { ProbeError } from '../errors.js';
import { Helper } from '../helper.js';
import { bootConfig } from './cmdline.js';
import { writeCpio } from './cpio.js';
import { cachedKernels } from './packages.js';
import { vmUnavailableReason } from './availability.js';
import { probeScenarioInVm, VmSession } from './probe.js';
import { Vm } from './qemu.js';
import type { VmRelease } from './releases.js';
import { VmTransport } from './transport.js';
import { main } from '../../cli/main.js';
import { step, delta } from '../../../test/step_results.js';

const skipReason = vmUnavailableReason;

const sc = (yaml: string): Scenario => loadScenario(yaml, 'vm.test.yaml');

/** Every scenario here runs in one VM: the same machine, and a disk for the ext4 cases. */
const MACHINE = 'machine: { memory: 1GiB, thp: madvise }';

const RAW_GUP = sc(`${MACHINE}
steps:
  - { op: mmap, proc: app, as: buf, size: 1MiB, type: anon }
  - { op: madvise, proc: app, region: buf, advice: nohugepage }
  - { op: write, proc: app, region: buf }
  - { op: pin_user_pages_fast, proc: app, region: buf, flags: [FOLL_WRITE, FOLL_LONGTERM], as: pin, label: pin }
  - { op: inspect, proc: app, region: buf, page: 0, label: pinned }
  - { op: dump_page, proc: app, region: buf, page: 0, label: dump }
  - { op: unpin_user_pages, pins: pin, label: unpin }
  - { op: get_user_pages_fast, proc: app, region: buf, flags: [FOLL_WRITE], as: get, label: get }
  - { op: inspect, proc: app, region: buf, page: 0, label: got }
  - { op: put_page, pins: get }
  - { op: get_user_pages, proc: app, region: buf, flags: [FOLL_LONGTERM], as: bad, label: bad }
  - { op: expect, step: bad, errno: EINVAL, warnings: 1 }
  - { op: mmap, proc: app, as: thp, size: 2MiB, type: anon, align: 2MiB }
  - { op: madvise, proc: app, region: thp, advice: hugepage }
  - { op: write, proc: app, region: thp }
  - { op: pin_user_pages_fast, proc: app, region: thp, flags: [FOLL_WRITE], as: tpin }
  - { op: unpin_user_page, pins: tpin, index: 0 }
  - { op: unpin_user_page, pins: tpin, index: 1 }
  - { op: inspect, proc: app, region: thp, page: 100, label: thp_held }
  - { op: unpin_user_pages, pins: tpin, index: 2, label: thp_unpin }
  - { op: expect, vmstat: { nr_foll_pin_acquired: 768, nr_foll_pin_released: 768 }, pins: 0 }
`);

// The README's measurement: a fresh buffer, one page looked up with get_user_pages_fast, then a
// long-term remote pin of the whole buffer: 6.1 holds one more reference on page 0 (an LRU batch).
const REMOTE = sc(`${MACHINE}
steps:
  - { op: mmap, proc: app, as: buf, size: 1MiB, type: anon, align: 2MiB }
  - { op: madvise, proc: app, region: buf, advice: nohugepage }
  - { op: write, proc: app, region: buf }
  - { op: get_user_pages_fast, proc: app, region: buf, pages: 1, as: probe }
  - { op: put_page, pins: probe }
  - { op: pin_user_pages_remote, proc: app, target: app, region: buf,
      flags: [FOLL_WRITE, FOLL_LONGTERM], as: rpin, label: remote }
  - { op: inspect, proc: app, region: buf, page: 0, label: held }
  - { op: unpin_user_pages, pins: rpin }
`);

const IO_URING_THP = sc(`${MACHINE}
steps:
  - { op: mmap, proc: app, as: thp, size: 2MiB, type: anon, align: 2MiB }
  - { op: madvise, proc: app, region: thp, advice: hugepage }
  - { op: write, proc: app, region: thp }
  - { op: io_uring_register_buffers, proc: app, region: thp, as: ring, label: reg }
  - { op: io_uring_unregister_buffers, ring: ring, label: unreg }
`);

const EXT4_SHARED = sc(`${MACHINE}
steps:
  - { op: create_file, as: f, size: 1MiB, fs: disk }
  - { op: mmap, proc: app, as: fmap, size: 1MiB, type: file, file: f, shared: true }
  - { op: write, proc: app, region: fmap }
  - { op: pin_user_pages_fast, proc: app, region: fmap, flags: [FOLL_WRITE, FOLL_LONGTERM], as: fpin, label: fast }
  - { op: pin_user_pages_remote, proc: app, target: app, region: fmap,
      flags: [FOLL_WRITE, FOLL_LONGTERM], as: rpin, label: remote }
  - { op: io_uring_register_buffers, proc: app, region: fmap, as: ring, label: reg }
`);

// hugetlb overcommit is a runtime setting (written in the guest, not on the kernel command line), so
// this scenario runs in the same VM; its pool counters are read inside the guest after every step.
const HUGETLB_SURPLUS = sc(`machine: { memory: 1GiB, thp: madvise, hugetlb_overcommit: { 2M: 1 } }
steps:
  - { op: mmap, proc: app, as: h, size: 2MiB, type: hugetlb, hugepage: 2M, shared: false, label: map }
  - { op: expect, hugetlb: { 2M: { nr_hugepages: 1, free_hugepages: 1, resv_hugepages: 1, surplus_hugepages: 1 } } }
  - { op: write, proc: app, region: h }
  - { op: expect, hugetlb: { 2M: { free_hugepages: 0, resv_hugepages: 0, surplus_hugepages: 1 } } }
  - { op: munmap, proc: app, region: h }
  - { op: expect, hugetlb: { 2M: { nr_hugepages: 0, free_hugepages: 0, surplus_hugepages: 0 } } }
`);

function page(r: KernelRunResult, label: string): Record<string, unknown> {
  return (step(r, label).pages as Array<Record<string, unknown>>)[0]!;
}

/** Measured in ../shared/vm/README.md, "Measured differences between the releases". */
const TABLE: Record<
  VmRelease,
  {
    longterm: string;
    uringThp: [[number, number], [number, number]];
    remoteRef: number;
    ext4Fast: { ret: number; errno: string | null; d: [number, number] };
    ext4Remote: { ret: number; errno: string | null };
    ext4Uring: { errno: string; d: [number, number] };
  }
> = {
  '6.1': {
    longterm: '0x10001',
    uringThp: [
      [512, 0],
      [0, 512],
    ],
    remoteRef: 1026,
    ext4Fast: { ret: 256, errno: null, d: [256, 0] },
    ext4Remote: { ret: 256, errno: null },
    ext4Uring: { errno: 'EOPNOTSUPP', d: [256, 256] },
  },
  '6.12': {
    longterm: '0x101',
    uringThp: [
      [512, 511],
      [0, 1],
    ],
    remoteRef: 1025,
    ext4Fast: { ret: -14, errno: 'EFAULT', d: [1, 1] },
    ext4Remote: { ret: -14, errno: 'EFAULT' },
    ext4Uring: { errno: 'EFAULT', d: [1, 1] },
  },
};

for (const release of ['6.1', '6.12'] as const) {
  const why = skipReason(release);
  if (why) console.log(`VM tests of Linux ${release} skipped: ${why}`);

  describe.skipIf(why !== undefined)(`Linux ${release} in a VM`, () => {
    let session: VmSession;
    const t = TABLE[release];

    beforeAll(async () => {
      // Downloads the kernel on first use (about 100 MB), builds the module and the helper.
      session = await VmSession.open(release, bootConfig(EXT4_SHARED), { bootTimeoutMs: 180_000 });
      console.log(
        `Linux ${release}: ${session.tree.kver} booted (${session.booted}) in ${session.vm.bootSeconds.toFixed(1)} s`,
      );
    }, 20 * 60_000);

    afterAll(async () => {
      await session?.close();
    });

    it('raw GUP calls through the module: bias pins, FOLL_GET references, THP pincount, WARN, dump_page', async () => {
      const r = await probeScenarioInVm(RAW_GUP, release, { session });
      expect(r.error).toBeUndefined();
      expect(r.kernel).toMatch(new RegExp(`^${release.replace('.', '\\.')}\\.\\S+ \\(qemu\\)$`));
      expect(step(r, 'pin').ret).toBe(256);
      expect(step(r, 'pin').gup_flags).toBe(t.longterm);
      expect(delta(r, 'pin')).toEqual([256, 0]);
      expect(page(r, 'pinned')).toMatchObject({
        refcount: 1025,
        // A small folio has no _pincount (folio_has_pincount()): null, as the model reports it.
        pincount: null,
        maybe_dma_pinned: true,
        mapped_by: 'pte',
        order: 0,
      });
      expect(String(step(r, 'dump').text)).toMatch(/refcount:1025[\s\S]*page dumped because: gupsim dump_page step/);
      expect(delta(r, 'unpin')).toEqual([0, 256]);
      expect(page(r, 'got')).toMatchObject({ refcount: 2, maybe_dma_pinned: false });
      expect(step(r, 'bad').errno).toBe('EINVAL');
      expect(r.warnings.some((w) => w.step === step(r, 'bad').index)).toBe(true);
      expect(page(r, 'thp_held')).toMatchObject({
        order: 9,
        pincount: 510,
        refcount: 511,
        mapped_by: 'pmd',
        maybe_dma_pinned: true,
      });
      expect(r.ok).toBe(true);
    });

    it('pin_user_pages_remote, long-term, anon: the refcount of page 0 while held', async () => {
      const r = await probeScenarioInVm(REMOTE, release, { session });
      expect(step(r, 'remote').ret).toBe(256);
      expect(page(r, 'held').refcount).toBe(t.remoteRef);
    });

    it('io_uring registration of a 2 MiB THP: pins per page, and whether they are coalesced', async () => {
      const r = await probeScenarioInVm(IO_URING_THP, release, { session });
      expect(step(r, 'reg').ret).toBe(0);
      expect([delta(r, 'reg'), delta(r, 'unreg')]).toEqual(t.uringThp);
    });

    it('long-term pins of an ext4 MAP_SHARED mapping', async () => {
      const r = await probeScenarioInVm(EXT4_SHARED, release, { session });
      expect(r.notes.join('\n')).not.toMatch(/disk/);
      expect({ ret: step(r, 'fast').ret, errno: step(r, 'fast').errno, d: delta(r, 'fast') }).toEqual(t.ext4Fast);
      expect({ ret: step(r, 'remote').ret, errno: step(r, 'remote').errno }).toEqual(t.ext4Remote);
      expect({ errno: step(r, 'reg').errno, d: delta(r, 'reg') }).toEqual(t.ext4Uring);
    });

    it('gupsim diff in the VM: hugetlb counters read in the guest, one summary decides agree', async () => {
      expect(session.fits(bootConfig(HUGETLB_SURPLUS))).toBe(true);
      const probe = (s: Scenario, o: ProbeOptions) => probeScenarioInVm(s, release, { ...o, session });
      const d = await diffScenario(HUGETLB_SURPLUS, { kernel: release, probe });
      expect(d.vm?.release).toBe(release);
      expect(d.notes).toContain('VM setting for the run: hugetlb 2M overcommit 0 -> 1');
      expect(d.summary).toEqual({ compared: 6, same: 6, differ: 0, flaky: 0, skipped: [], unverified: 0, noisy: 0 });
      expect(d.agree).toBe(agrees(d.summary));
      expect(d.agree).toBe(true);
      expect(formatDiff(d).trimEnd().split('\n').pop()).toMatch(
        /^summary: 6 step\(s\) compared: 6 same, .*1 kernel run\(s\): the model and the kernel agree$/,
      );
      // The kernel's counters themselves, as the guest's sysfs shows them.
      const r = await probeScenarioInVm(HUGETLB_SURPLUS, release, { session });
      expect(step(r, 'map').hugetlb).toMatchObject({
        '2M': {
          nr_hugepages: 1,
          free_hugepages: 1,
          resv_hugepages: 1,
          surplus_hugepages: 1,
          nr_overcommit_hugepages: 1,
        },
      });
    });

    it("a --kernel diff runs the model with that release's profile (6.1 coalesces no THP io_uring pins)", async () => {
      const probe = (s: Scenario, o: ProbeOptions) => probeScenarioInVm(s, release, { ...o, session });
      const d = await diffScenario(IO_URING_THP, { kernel: release, probe });
      expect(d.runs).toBe(1);
      expect(d.model).toBe(`model of Linux ${release}`);
      expect(d.summary.differ).toBe(0);
      expect(d.agree).toBe(true);
      expect(formatDiff(d)).toMatch(/agree\n$/);
    });

    it('the release profile answers as the kernel does on the measured scenarios (shared/vm/README.md)', async () => {
      const probe = (s: Scenario, o: ProbeOptions) => probeScenarioInVm(s, release, { ...o, session });
      // (RAW_GUP's WARN_ON_ONCE has fired earlier in this boot: the kernel would not print it again.)
      for (const sc of [REMOTE, EXT4_SHARED]) {
        const d = await diffScenario(sc, { kernel: release, probe });
        expect(d.summary.differ, formatDiff(d)).toBe(0);
        expect(d.agree, formatDiff(d)).toBe(true);
      }
    });

    it(
      'gupsim gup_test --kernel runs the selftest against the module',
      async () => {
        const out: string[] = [];
        vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
          out.push(String(s));
          return true;
        });
        vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
        try {
          expect(await main(['gup_test', '--kernel', release, '-L', '-m', '2', '-n', '16'])).toBe(0);
        } finally {
          vi.restoreAllMocks();
        }
        // The kernel log lines printed since the last ioctl come out as dmesg shows them: one the boot
        // left late (the TSC's refined calibration on a loaded machine) may land among the TAP lines.
        const text = out
          .join('')
          .split('\n')
          .filter((l) => /^(TAP version|1\.\.|#|ok |not ok )/.test(l))
          .join('\n');
        expect(text).toMatch(/^TAP version 13\n1\.\.1\n# PIN_LONGTERM_BENCHMARK: Time: get:\d+ put:\d+ us/);
        expect(text).toContain('ok 1 ioctl status 0');
      },
      5 * 60_000,
    );

    it('a kernel crash ends the run with what the console said', async () => {
      const helper = new Helper(new VmTransport(session.vm));
      await helper.start();
      // sysrq c: a NULL dereference in the kernel; oops=panic, panic=-1 and -no-reboot end qemu.
      helper.supervisorCommand('writefile path=/proc/sysrq-trigger value=c', 30_000).catch(() => undefined);
      const err = await helper.supervisorCommand('vmstat', 60_000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProbeError);
      expect((err as ProbeError).message).toMatch(/VM's kernel stopped: .*(sysrq|NULL pointer|Kernel panic|BUG|Oops)/i);
      await session.vm.gone();
      expect(session.vm.running).toBe(false);
    }, 120_000);
  });
}

describe.skipIf(skipReason('6.12') !== undefined)('a VM that cannot boot', () => {
  it('fails with what the console said, and qemu is gone', async () => {
    const tree = cachedKernels('6.12')[0];
    if (!tree) return; // the suite above downloads it; nothing to boot without it
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-vmtest-'));
    try {
      // An initramfs without /init: the kernel panics ("No working init found").
      writeFileSync(
        join(dir, 'initrd'),
        writeCpio([
          { type: 'dir', name: 'dev' },
          { type: 'chardev', name: 'dev/console', major: 5, minor: 1 },
        ]),
      );
      const err = await Vm.boot({
        kernel: tree.vmlinux ?? tree.vmlinuz,
        initrd: join(dir, 'initrd'),
        memoryMiB: 512,
        name: 'Linux 6.12',
        cmdline: 'console=ttyS0 loglevel=4 panic=-1 rdinit=/init',
        bootTimeoutMs: 120_000,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProbeError);
      expect((err as ProbeError).message).toMatch(/Linux 6\.12 VM did not boot: .*(Kernel panic|No working init|VFS)/);
      expect(existsSync(dir)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
