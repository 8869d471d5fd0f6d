// `gupsim probe --kernel 6.1|6.12`: a scenario on Debian's kernel of that release, in a throwaway
// qemu VM. The kernel comes from the cache (packages.ts: downloaded once), gupsim's GUP module and
// the static helper are built once per source (kbuild.ts), the initramfs is made per run
// (initramfs.ts), the machine follows the scenario (cmdline.ts: memory, movable zone, hugetlb
// pools, THP policy; an ext4 disk when it creates disk files). Then the same engine as on the host
// (engine.ts runSteps) drives the helper in the VM, with raw GUP steps through the module.

import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Scenario } from '../../scenario/schema.js';
import { ProbeError } from '../errors.js';
import { Helper } from '../helper.js';
import { planSettings } from '../host.js';
import { Runner, runSteps, type KernelRunResult, type ProbeOptions } from '../engine.js';
import { bootConfig, type BootConfig } from './cmdline.js';
import { buildInitramfs } from './initramfs.js';
import { ensureModule, ensureStaticHelper } from './kbuild.js';
import { ensureBusybox, ensureKernel, type KernelTree } from './packages.js';
import { SILENT, type VmProgress } from './progress.js';
import { registerCleanup, unregisterCleanup, Vm } from './qemu.js';
import type { VmRelease } from './releases.js';
import { applyGuestSettings } from './settings.js';
import { VmSystem } from './system.js';
import { requireProgram, runOk } from './tools.js';
import { VmTransport } from './transport.js';

/** Helper commands in a VM run under emulation: a longer default limit than on the host. */
export const VM_COMMAND_TIMEOUT_MS = 30_000;

/** A booted VM for one machine layout (it may serve several scenarios with the same one). */
export class VmSession {
  private constructor(
    readonly release: VmRelease,
    readonly tree: KernelTree,
    readonly boot: BootConfig,
    readonly vm: Vm,
    private readonly removeDir: () => void,
    readonly booted: 'vmlinux' | 'bzImage',
  ) {}

  /** Get the kernel, build what is needed, boot (one retry: a rare emulation failure). */
  static async open(
    release: VmRelease,
    boot: BootConfig,
    o: { progress?: VmProgress; bootTimeoutMs?: number } = {},
  ): Promise<VmSession> {
    const progress = o.progress ?? SILENT;
    requireProgram('qemu-system-x86_64', `to boot Linux ${release}`);
    const tree = await ensureKernel(release, progress);
    const module = await ensureModule(tree, progress);
    const helper = await ensureStaticHelper(progress);
    const busybox = await ensureBusybox(progress);
    if (boot.diskBytes && !tree.diskModules)
      throw new ProbeError(
        'ERR_PROBE_UNSUPPORTED',
        `the scenario creates disk files, but the Linux ${release} VM has no ext4 disk: ` +
          (tree.diskWhy ?? 'no disk modules'),
      );
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-vmrun-'));
    const removeDir = () => rmSync(dir, { recursive: true, force: true });
    registerCleanup(removeDir);
    try {
      const initrd = join(dir, 'initrd.cpio');
      writeFileSync(
        initrd,
        buildInitramfs({ busybox, helper, module, diskModules: boot.diskBytes ? tree.diskModules : [] }),
      );
      let disk: string | undefined;
      if (boot.diskBytes) {
        const mkfs = requireProgram('mkfs.ext4', "to make the VM's ext4 disk");
        disk = join(dir, 'disk.img');
        const fd = openSync(disk, 'w');
        ftruncateSync(fd, boot.diskBytes);
        closeSync(fd);
        // No journal: jbd2's commits (every 5 s after a metadata change, in a kernel thread on the
        // VM's one CPU) would add journal blocks to the page cache, and so to the per-CPU LRU batch
        // the scenario's pages are in, whenever they came. Inode tables initialised now, not by a
        // kernel thread later (lazy_itable_init).
        await runOk(
          'mkfs.ext4 of the VM disk',
          mkfs,
          ['-F', '-q', '-O', '^has_journal', '-E', 'lazy_itable_init=0,lazy_journal_init=0', disk],
          { timeoutMs: 120_000 },
        );
      }
      const kernel = tree.vmlinux ?? tree.vmlinuz;
      const name = `Linux ${release}`;
      let vm: Vm | undefined;
      for (let attempt = 1; !vm; attempt++) {
        progress.phase(`booting ${name} (${tree.kver}) in qemu${attempt > 1 ? ', second try' : ''}`);
        try {
          vm = await Vm.boot({
            kernel,
            initrd,
            cmdline: boot.cmdline,
            memoryMiB: boot.memoryMiB,
            disk,
            bootTimeoutMs: o.bootTimeoutMs,
            name,
          });
        } catch (e) {
          if (attempt >= 2 || !(e instanceof ProbeError)) throw e;
        } finally {
          progress.end();
        }
      }
      return new VmSession(release, tree, boot, vm, removeDir, tree.vmlinux ? 'vmlinux' : 'bzImage');
    } catch (e) {
      removeDir();
      unregisterCleanup(removeDir);
      throw e;
    }
  }

  /** Whether this VM has the machine `boot` asks for (a disk it does not need is fine). */
  fits(boot: BootConfig): boolean {
    const layout = (b: BootConfig) => b.cmdline.replace(/ gupsim\.disk=1/, '');
    return (
      this.vm.running &&
      layout(boot) === layout(this.boot) &&
      boot.memoryMiB === this.boot.memoryMiB &&
      boot.diskBytes <= this.boot.diskBytes
    );
  }

  async close(): Promise<void> {
    await this.vm.stop();
    this.removeDir();
    unregisterCleanup(this.removeDir);
  }
}

export interface VmProbeOptions extends ProbeOptions {
  /** A booted VM to use (and leave running), e.g. for several scenarios in one boot. */
  session?: VmSession;
}

/** Run a scenario in a VM of `release`. Throws ProbeError when the VM cannot be had. */
export async function probeScenarioInVm(
  sc: Scenario,
  release: VmRelease,
  opts: VmProbeOptions = {},
): Promise<KernelRunResult> {
  const boot = bootConfig(sc);
  if (opts.session && !opts.session.fits(boot))
    throw new ProbeError('ERR_PROBE_UNSUPPORTED', 'the given VM was booted for another machine layout');
  const session =
    opts.session ??
    (await VmSession.open(release, boot, { progress: opts.progress, bootTimeoutMs: opts.bootTimeoutMs }));
  const helper = new Helper(new VmTransport(session.vm));
  try {
    await helper.start();
    if (opts.session) {
      // A boot shared with earlier scenarios: re-arm every WARN_ONCE / WARN_ON_ONCE (debugfs
      // clear_warn_once), so a WARN the model records fires in the kernel too, as on a fresh boot.
      const w = await helper.supervisorCommand('writefile path=/sys/kernel/debug/clear_warn_once value=1');
      if (w.ret < 0)
        throw new ProbeError(
          'ERR_PROBE_HELPER',
          `the shared VM cannot re-arm its WARN_ONCEs (/sys/kernel/debug/clear_warn_once: ${w.errno})`,
        );
    }
    const kernel = `${String(helper.hello?.release ?? session.tree.kver)} (qemu)`;
    const notes = [...boot.notes];
    if (!helper.gupModule) {
      const init = session.vm
        .consoleText()
        .split('\n')
        .filter((l) => l.includes('gupsim-init:') || /gupsim_gup/.test(l))
        .map((l) => l.trim());
      notes.push(
        `gupsim's GUP module is not loaded in the VM: raw GUP steps cannot run (${init.join(' | ') || 'no message'})`,
      );
    }
    const sys = new VmSystem(helper, kernel, session.boot.diskBytes > 0);
    await sys.init();
    const plan = planSettings(sc);
    const { changed, problems } = await applyGuestSettings(helper, plan.settings, release);
    const runner = new Runner(sc, helper, { ...opts, timeoutMs: opts.timeoutMs ?? VM_COMMAND_TIMEOUT_MS }, sys);
    // As on a host (engine.ts): a machine the VM could not be given is not compared at all.
    const notCompared = problems.length ? `VM settings could not be applied: ${problems.join('; ')}` : undefined;
    const res = await runSteps(sc, runner, helper, notCompared);
    if (notCompared) res.notCompared = notCompared;
    res.notes.unshift(...notes, ...problems.map((p) => `setting not applied: ${p}`));
    res.settings = changed;
    res.vm = {
      release,
      kver: session.tree.kver,
      package: session.tree.version,
      memory_mib: session.boot.memoryMiB,
      cmdline: session.boot.cmdline,
      boot_seconds: Math.round(session.vm.bootSeconds * 100) / 100,
      booted: session.booted,
    };
    await helper.close();
    return res;
  } finally {
    if (!opts.session) await session.close();
  }
}
