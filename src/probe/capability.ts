// What this host lets the live-kernel probe compare, found from the host itself: Linux and a C
// compiler (build.ts), root, io_uring (one io_uring_setup(2) through the helper), the THP / mTHP /
// hugetlb setting files a scenario needs (host.ts settingUnavailable), a disk file system for
// `fs: disk` files, and the steps only a device or CONFIG_GUP_TEST could run (engine.ts). A test that
// needs the host skips, with the reason, exactly what this says the host cannot do, and demands a
// result for everything else: a regression that makes steps unsupported then fails instead of skipping.

import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Scenario } from '../scenario/schema.js';
import { probeUnsupportedReason } from './build.js';
import { scenarioUnsupportedReason } from './engine.js';
import { ProbeError } from './errors.js';
import { Helper } from './helper.js';
import { isRoot, planSettings, settingUnavailable } from './host.js';
import { packageRoot } from './package.js';
import { HostSystem } from './system.js';
import { PAGE_SIZE } from '../mm/memmap.js';

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;
/** io_uring_disabled (6.6+): 0 all may create rings, 1 only CAP_SYS_ADMIN or io_uring_group, 2 none. */
const IO_URING_DISABLED = '/proc/sys/kernel/io_uring_disabled';
const IO_URING_OPS = new Set([
  'io_uring_register_buffers',
  'io_uring_unregister_buffers',
  'io_uring_read_fixed',
  'io_uring_write_fixed',
]);

export interface HostCapabilities {
  /** Why the probe cannot run here at all (not Linux, no compiler, the helper does not build or start). */
  probe?: string;
  root: boolean;
  /** Why io_uring cannot be used here (io_uring_setup failed), or undefined when a ring was created. */
  ioUring?: string;
  /** /proc/sys/kernel/io_uring_disabled (0 when the kernel has no such knob). */
  ioUringDisabled: number;
  /** Whether /sys/kernel/debug/gup_test exists (the probe still does not drive raw GUP calls). */
  gupTest: boolean;
  /** Why `read_disk` cannot read a disk file's blocks past the page cache here (the block device). */
  readDisk?: string;
}

/** Find out what this host can do (starts the probe helper once, for io_uring_setup). */
export async function hostCapabilities(): Promise<HostCapabilities> {
  const root = isRoot();
  let ioUringDisabled = 0;
  try {
    ioUringDisabled = Number(readFileSync(IO_URING_DISABLED, 'utf8').trim()) || 0;
  } catch {
    /* older than 6.6, or not Linux */
  }
  const probe = probeUnsupportedReason();
  if (probe) return { probe, root, ioUring: probe, ioUringDisabled, gupTest: false };
  const helper = new Helper();
  try {
    await helper.start();
    const p = await helper.spawn('capabilities');
    const r = await helper.send(p, 'uring_setup');
    const readDisk = await readDiskReason(helper);
    return {
      root,
      ioUringDisabled,
      gupTest: helper.gupTest,
      ...(r.ret < 0 ? { ioUring: `io_uring_setup(2) failed with ${r.errno ?? r.ret} on this host` } : {}),
      ...(readDisk ? { readDisk } : {}),
    };
  } catch (e) {
    if (!(e instanceof ProbeError)) throw e;
    return { probe: e.message, root, ioUring: e.message, ioUringDisabled, gupTest: false };
  } finally {
    helper.kill();
    await helper.close();
  }
}

/** Why the helper cannot read a disk file's blocks from its block device here (read_disk), if so. */
async function readDiskReason(helper: Helper): Promise<string | undefined> {
  const sys = new HostSystem(0);
  try {
    const path = await sys.createFile('readdisk-check', PAGE_SIZE, 'disk', { step: 0 });
    const r = await helper.supervisorCommand(`readdisk path=${path} off=0 len=${PAGE_SIZE}`);
    if (r.ret < 0)
      return (
        `read_disk: ${typeof r.error === 'string' ? r.error : 'the disk cannot be read'}` +
        `${typeof r.device === 'string' ? ` (${r.device}: ${r.errno})` : ` (${r.errno})`}`
      );
    return undefined;
  } catch (e) {
    if (!(e instanceof ProbeError)) throw e;
    return `read_disk: ${e.message}`;
  } finally {
    sys.removeFiles();
  }
}

/** Whether `fs: disk` files have a home (the candidates of the engine's Runner.diskDirectory). */
function diskFileSystem(): boolean {
  for (const dir of ['/var/tmp', join(packageRoot(), '.cache')]) {
    try {
      const type = statfsSync(dir).type;
      if (type !== TMPFS_MAGIC && type !== RAMFS_MAGIC) return true;
    } catch {
      /* next */
    }
  }
  return false;
}

/**
 * Why this host cannot compare this scenario with the model, or undefined when it can and a diff
 * must compare every step but the expect checks of values the kernel does not expose.
 */
export function hostCannotCompare(sc: Scenario, caps: HostCapabilities): string | undefined {
  if (caps.probe) return caps.probe;
  if (!caps.root) return 'not root: the probe needs root for stat_refresh, pagemap PFNs and THP/hugetlb settings';
  const step = scenarioUnsupportedReason(sc, { gupTest: caps.gupTest, root: caps.root });
  if (step) return step;
  if (sc.steps.some((s) => IO_URING_OPS.has(s.op))) {
    if (caps.ioUring) return caps.ioUring;
    const unprivileged = Object.values(sc.processes ?? {}).some(
      (p) => p.root === false || (p.user !== undefined && p.user !== 'root'),
    );
    if (unprivileged && caps.ioUringDisabled === 1)
      return `${IO_URING_DISABLED} is 1: a process without CAP_SYS_ADMIN cannot create a ring`;
  }
  if (sc.steps.some((s) => s.op === 'create_file' && (s.fs ?? 'disk') === 'disk') && !diskFileSystem())
    return 'no disk file system for fs: disk files (/var/tmp and .cache are tmpfs or missing)';
  if (caps.readDisk && sc.steps.some((s) => s.op === 'read_disk')) return caps.readDisk;
  if (!existsSync('/proc/kpageflags') && sc.steps.some((s) => s.op === 'inspect'))
    return 'inspect: /proc/kpageflags does not exist on this kernel';
  for (const s of planSettings(sc).settings) {
    const why = settingUnavailable(s, caps.root);
    if (why) return `host setting: ${why}`;
  }
  return undefined;
}
