// The machine a probe runs on, as the engine (engine.ts) needs it besides the helper: its pin
// counters, files for `create_file`, its memory layout and kernel log. HostSystem is this machine
// (host.ts: /proc/vmstat with stat_refresh, files under /dev/shm and /var/tmp); the VM engine has
// its own (vm/system.ts), which asks the helper inside the VM.

import {
  chmodSync,
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { ProbeError } from './errors.js';
import { isRoot, readCounters, readHugetlbCounters, settleCounters, type Counters } from './host.js';
import { zoneOfPfn, type ZoneSpan } from './kpage.js';
import { packageRoot } from './package.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import { fileBlockValue } from '../scenario/data.js';

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

export interface ProbeSystem {
  /** The kernel, for the result's `kernel` field. */
  readonly kernel: string;
  /** Whether scenario processes run as root. */
  readonly root: boolean;
  /** Idle window after each step to see other activity move the counters (ms); 0: no other tenant. */
  readonly idleMs: number | undefined;
  /** The memory layout (memory size, movable zone, hugetlb pools) is the scenario's: zones compare. */
  readonly scenarioLayout: boolean;
  /** Every /proc/vmstat counter, after folding the per-CPU batches. */
  counters(): Promise<Counters>;
  /** The counters once they stop moving (asynchronous releases). */
  settle(): Promise<Counters>;
  /** /proc/vmstat as text (the `vmstat` step). */
  vmstatText(): Promise<string>;
  /**
   * A file of `size` bytes of data on tmpfs or a disk file system, fsynced; its path. Every block
   * holds `contents.value`, or the value of its block for a file of step `contents.step`
   * (scenario/data.ts fileBlockValue()), repeated over the block.
   */
  createFile(name: string, size: number, fs: 'tmpfs' | 'disk', contents: FileContents): Promise<string>;
  /** Remove what createFile made (synchronous: also from signal handlers). */
  removeFiles(): void;
  /** The zone of a page frame (DMA, DMA32, NORMAL, MOVABLE), null if unknown. */
  zoneOf(pfn: number): string | null;
  /** Kernel log lines since the last call; undefined where the log cannot be read. */
  kmsg(): Promise<string[] | undefined>;
  /** The hugetlb pool counters by size (sizes the kernel lacks left out), as host.ts reads them. */
  hugetlbCounters(): Promise<HugetlbCounters>;
}

/** What create_file writes into each block: one value, or each block's value for its step. */
export interface FileContents {
  step: number;
  value?: number;
}

/** hugetlb pool counters by size: { '2M': { nr_hugepages: 4, ... } }. */
export type HugetlbCounters = Partial<Record<string, Record<string, number>>>;

/** This machine. */
export class HostSystem implements ProbeSystem {
  readonly kernel = release();
  readonly root = isRoot();
  readonly scenarioLayout = false;
  private diskDir: string | undefined;
  private readonly tmpPaths: string[] = [];

  constructor(
    readonly idleMs: number | undefined,
    private readonly diskBase?: string,
    private readonly zones?: ZoneSpan[],
  ) {}

  async counters(): Promise<Counters> {
    return readCounters();
  }

  settle(): Promise<Counters> {
    return settleCounters();
  }

  async vmstatText(): Promise<string> {
    return readFileSync('/proc/vmstat', 'utf8');
  }

  zoneOf(pfn: number): string | null {
    return zoneOfPfn(pfn, this.zones);
  }

  async kmsg(): Promise<string[] | undefined> {
    return undefined;
  }

  async hugetlbCounters(): Promise<HugetlbCounters> {
    return readHugetlbCounters();
  }

  removeFiles(): void {
    for (const p of this.tmpPaths.splice(0).reverse()) rmSync(p, { recursive: true, force: true });
  }

  private diskDirectory(): string {
    if (this.diskDir) return this.diskDir;
    const candidates = this.diskBase ? [this.diskBase] : ['/var/tmp', join(packageRoot(), '.cache')];
    for (const base of candidates) {
      try {
        const type = statfsSync(base).type;
        if (type === TMPFS_MAGIC || type === RAMFS_MAGIC) continue;
        const dir = mkdtempSync(join(base, 'gupsim-probe-'));
        chmodSync(dir, 0o755);
        this.tmpPaths.push(dir);
        return (this.diskDir = dir);
      } catch {
        /* next */
      }
    }
    throw new ProbeError(
      'ERR_PROBE_UNSUPPORTED',
      `no disk file system for fs: disk files (tried ${candidates.join(', ')})`,
    );
  }

  async createFile(name: string, size: number, fs: 'tmpfs' | 'disk', contents: FileContents): Promise<string> {
    let path: string;
    if (fs === 'tmpfs') {
      const dir = mkdtempSync('/dev/shm/gupsim-probe-');
      chmodSync(dir, 0o755);
      this.tmpPaths.push(dir);
      path = join(dir, name);
    } else {
      path = join(this.diskDirectory(), name);
    }
    // A file with data (not holes): every block allocated, like the model's files.
    // World-writable: a scenario process may run as a user of its own (processes: root: false).
    const fd = openSync(path, 'w', 0o666);
    fchmodSync(fd, 0o666);
    try {
      const chunk = Buffer.alloc(Math.ceil(Math.min(1 << 20, Math.max(PAGE_SIZE, size)) / PAGE_SIZE) * PAGE_SIZE);
      for (let done = 0; done < size;) {
        const n = Math.min(chunk.length, size - done);
        // Every block holds its value, repeated (the helper's mkfile does the same in the VMs).
        for (let off = 0; off < n; off += PAGE_SIZE) {
          const v = contents.value ?? fileBlockValue(contents.step, (done + off) / PAGE_SIZE);
          for (let w = 0; w < PAGE_SIZE; w += 4) chunk.writeUInt32LE(v, off + w);
        }
        writeSync(fd, chunk, 0, n, done);
        done += n;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return path;
  }
}
