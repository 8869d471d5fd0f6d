// The VM a scenario needs: memory size, kernel command line (movablecore=, hugepagesz=/hugepages=,
// transparent_hugepage=, oops=panic...), whether it needs an ext4 disk and how big, and the qemu
// arguments that boot it. The machine fields the VM cannot have are notes. Pure functions.

import type { Scenario } from '../../scenario/schema.js';

const MiB = 1 << 20;
/** Below 512 MiB the kernel turns THP off (hugepage_init()); the model does not. */
export const MIN_VM_MIB = 1024;
/** TCG initialises every struct page: more memory boots slower. */
export const MAX_VM_MIB = 16384;

export interface BootConfig {
  /** qemu -m, MiB. */
  memoryMiB: number;
  /** The kernel command line. */
  cmdline: string;
  /** An ext4 disk for `create_file` with fs: disk, in bytes (0: none). */
  diskBytes: number;
  /** Machine fields not applied as asked, in words. */
  notes: string[];
}

/** Bytes of the files the scenario creates on a disk file system. */
export function diskBytesNeeded(sc: Scenario): number {
  let total = 0;
  for (const s of sc.steps)
    if (s.op === 'create_file' && (s.fs ?? 'disk') === 'disk') total += s.size * (s.repeat ?? 1);
  if (total === 0) return 0;
  // ext4 metadata and journal, then whole MiB.
  return Math.ceil(Math.max(64 * MiB, 2 * total + 32 * MiB) / MiB) * MiB;
}

/** The VM for a scenario. */
export function bootConfig(sc: Scenario): BootConfig {
  const mc = sc.machine ?? {};
  const notes: string[] = [];
  // tsc=reliable: no clocksource watchdog or TSC refinement logging into the run's kernel log.
  const args = ['console=ttyS0', 'loglevel=4', 'panic=-1', 'oops=panic', 'tsc=reliable', 'rdinit=/init'];
  let mem = Math.max(MIN_VM_MIB, Math.ceil((mc.memory ?? 0) / MiB));
  if (mc.memory !== undefined && mc.memory < MIN_VM_MIB * MiB) {
    notes.push(
      `machine.memory ${mc.memory / MiB} MiB: the VM has ${MIN_VM_MIB} MiB (below 512 MiB the kernel turns THP off)`,
    );
  }
  // hugetlb pools are reserved at boot, on top of the memory the scenario names.
  const h2 = mc.hugetlb?.['2M'] ?? 0;
  const h1 = mc.hugetlb?.['1G'] ?? 0;
  // A 1 GiB page needs a free, 1 GiB-aligned GiB at boot, and the kernel's early allocations are
  // made top-down from the end of memory: one GiB more than the pool keeps one such GiB free.
  const pools = Math.ceil((h2 * 2 * MiB + (h1 ? (h1 + 1) * 1024 * MiB : 0)) / MiB);
  if (pools > 0) {
    if (pools > mem / 2) {
      notes.push(`machine.hugetlb: the VM has ${pools} MiB more memory for the hugetlb pools`);
      mem += pools;
    }
    if (h2) args.push('hugepagesz=2M', `hugepages=${h2}`);
    if (h1) args.push('hugepagesz=1G', `hugepages=${h1}`);
  }
  if (mem > MAX_VM_MIB) {
    notes.push(`machine.memory: the VM has ${MAX_VM_MIB} MiB, not ${mem} MiB (emulation time grows with memory)`);
    mem = MAX_VM_MIB;
  }
  if (mc.movable !== undefined) args.push(`movablecore=${Math.ceil(mc.movable / MiB)}M`);
  args.push(`transparent_hugepage=${mc.thp ?? 'madvise'}`);
  if (mc.cma !== undefined) notes.push('machine.cma not applied: Debian kernels are built without CONFIG_CMA');
  if (mc.pmem !== undefined) notes.push('machine.pmem not applied: the VM has no persistent memory device');
  const diskBytes = diskBytesNeeded(sc);
  if (diskBytes) args.push('gupsim.disk=1');
  return { memoryMiB: mem, cmdline: args.join(' '), diskBytes, notes };
}

export interface QemuArgsOptions {
  /** ELF vmlinux (PVH) or bzImage. */
  kernel: string;
  initrd: string;
  cmdline: string;
  memoryMiB: number;
  /** Unix socket (ours, listening) for the helper's serial line, ttyS1 in the guest. */
  socket: string;
  /** ext4 image for /dev/vda. */
  disk?: string;
}

/**
 * qemu-system-x86_64 arguments: TCG, one CPU (an emulation race was seen with two), no devices but
 * the two serial ports (ttyS0: the console, on stdio; ttyS1: the helper's line) and the disk.
 * The CPU model adds pdpe1gb, so 1 GiB hugetlb pages exist.
 */
export function qemuArgs(o: QemuArgsOptions): string[] {
  const a = [
    '-accel',
    'tcg',
    '-cpu',
    'qemu64,+pdpe1gb',
    '-smp',
    '1',
    '-m',
    `${o.memoryMiB}M`,
    '-nodefaults',
    '-nographic',
    '-no-reboot',
    '-no-user-config',
    '-kernel',
    o.kernel,
    '-initrd',
    o.initrd,
    '-append',
    o.cmdline,
    '-serial',
    'stdio',
    '-chardev',
    `socket,id=gupsim,path=${o.socket}`,
    '-serial',
    'chardev:gupsim',
  ];
  if (o.disk) a.push('-drive', `file=${o.disk},if=virtio,format=raw,cache=unsafe`);
  return a;
}
