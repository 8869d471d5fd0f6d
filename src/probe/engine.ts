// The live-kernel engine: runs a scenario on the host kernel through the C helper (helper.c) and
// builds the same result JSON as the model runner (src/scenario/run.ts), with engine "kernel" and
// kernel = the host's release. vmstat on each step is the sum of the step windows' counter deltas
// since the scenario began (the counters are machine-wide: between steps an idle window shows
// whether anything else on the host moved them, and the step is marked `noise`).
//
// Steps the host cannot run are reported as unsupported with the reason and ret null - never
// faked. Machine settings the scenario needs are applied for the run and always restored (host.ts).

import { SCHEMA_VERSION, type Scenario, type Step, type StepOf } from '../scenario/schema.js';
import { checkExpect } from '../scenario/expect.js';
import { type RunResult, type StepResult } from '../scenario/result.js';
import type { PageInfo } from '../scenario/inspect.js';
import { measureZeroPage, zeroPageMismatch } from './zeropage.js';
import { ProbeError } from './errors.js';
import { Helper, COMMAND_TIMEOUT_MS, type HelperProcess, type HelperReply, sleep } from './helper.js';
import { probeUnsupportedReason } from './build.js';
import {
  HostSession,
  isRoot,
  pinCounters,
  planSettings,
  samePins,
  settingsNotApplied,
  settleCounters,
  type Counters,
} from './host.js';
import { pageInfoFromHelper, type HelperPage } from './kpage.js';
import { HostSystem, type ProbeSystem } from './system.js';
import { parseKernelOption } from './vm/releases.js';
import { release } from 'node:os';
import { GupSteps } from './gup_steps.js';
import { DataSteps, expandRuns } from './data_steps.js';
import { freshValue } from '../scenario/data.js';
import { PAGE_SIZE, PMD_SIZE } from '../mm/memmap.js';
import { usesHugetlb } from '../scenario/hugetlb.js';

/** Unprivileged scenario users get uids from here up (far from any real account). */
const UID_BASE = 2_000_000_000;

/** A step result from the kernel: ret is null when the step could not run (`unsupported` says why). */
export interface KernelStepResult {
  index: number;
  op: string;
  label?: string;
  ret: number | null;
  errno: string | null;
  vmstat: StepResult['vmstat'];
  failures?: string[];
  /** Why the host could not run this step. */
  unsupported?: string;
  /** The pin counters moved in an idle window next to this step: other activity on the host. */
  noise?: boolean;
  /** The probe itself failed here (a helper timed out): the rest of the scenario did not run. */
  error?: string;
  [extra: string]: unknown;
}

export interface KernelRunResult extends Omit<RunResult, 'engine' | 'steps'> {
  engine: 'kernel';
  steps: KernelStepResult[];
  /** Machine settings changed for the run (all restored afterwards). */
  settings: Array<{ what: string; path: string; from: string; to: string }>;
  /** Things the probe could not apply or observe, in words. */
  notes: string[];
  /** True when any idle window saw the counters move. */
  noise: boolean;
  /** Set when the probe failed (e.g. a helper timed out). */
  error?: string;
  /**
   * Why the scenario as a whole could not run faithfully on this kernel (machine settings it needs
   * could not be applied): no step was run, and no step is to be compared.
   */
  notCompared?: string;
  /** VM runs: the kernel booted and the machine it had. */
  vm?: VmInfo;
  /** Whether read faults map the shared zero page on this kernel (zeropage.ts); absent when unseen. */
  zero_page?: boolean;
}

/** What a VM run booted (src/probe/vm/). */
export interface VmInfo {
  release: string;
  /** Debian's kernel version, e.g. 6.12.117+deb12-amd64, and its package version. */
  kver: string;
  package: string;
  memory_mib: number;
  cmdline: string;
  /** Seconds from starting qemu to the helper's first answer. */
  boot_seconds: number;
  /** The ELF vmlinux (PVH entry) or the bzImage. */
  booted: 'vmlinux' | 'bzImage';
}

export interface ProbeOptions {
  /** Scenario name when the file has none. */
  name?: string;
  /** Time a helper command may take before the helpers are killed (ms; grows with the range size). */
  timeoutMs?: number;
  /** Idle window after each step, to see other activity move the counters (ms). */
  idleMs?: number;
  /** How long to wait for another probe holding the host (ms). */
  lockWaitMs?: number;
  /** Directory on a disk file system for `create_file` with fs: disk (default: /var/tmp, else .cache). */
  diskDir?: string;
  /**
   * The kernel to run on: undefined, "host" or the host's own release for this machine; "6.1" or
   * "6.12" for Debian's kernel of that release in a throwaway qemu VM (src/probe/vm/).
   */
  kernel?: string;
  /** VM runs: where to report downloads, builds and the boot (default: nowhere). */
  progress?: import('./vm/progress.js').VmProgress;
  /** VM runs: time the VM may take to boot (ms). */
  bootTimeoutMs?: number;
}

const ADVICE: Record<string, number> = {
  dontneed: 4,
  dontfork: 10,
  dofork: 11,
  hugepage: 14,
  nohugepage: 15,
  populate_read: 22,
  populate_write: 23,
  collapse: 25,
};

export const GUP_OPS = new Set([
  'get_user_pages',
  'get_user_pages_fast',
  'get_user_pages_fast_only',
  'get_user_pages_unlocked',
  'get_user_pages_remote',
  'pin_user_pages',
  'pin_user_pages_fast',
  'pin_user_pages_unlocked',
  'pin_user_pages_remote',
  'unpin_user_pages',
  'unpin_user_pages_dirty_lock',
  'unpin_user_page',
  'put_page',
]);

/**
 * Whether a step that could not run leaves the kernel in another state than the model (so later
 * results may differ).
 */
export function changesState(op: string): boolean {
  return op !== 'dump_page' && op !== 'vmstat' && op !== 'inspect' && op !== 'expect';
}

/** Ops whose effects on the pin counters may land after the call returns (workqueue teardown). */
const ASYNC_OPS = new Set(['exit', 'close']);

/**
 * Why the host can never run this kind of step (independent of the scenario's state). With
 * gupsim's GUP module (the VMs), raw GUP steps and dump_page run through it.
 */
function staticReason(step: Step, gupTest: boolean, root = isRoot(), gupModule = false): string | undefined {
  if (gupModule && (GUP_OPS.has(step.op) || step.op === 'dump_page')) return undefined;
  if (GUP_OPS.has(step.op)) {
    return gupTest
      ? 'raw GUP steps through /sys/kernel/debug/gup_test are not implemented by the probe'
      : 'needs CONFIG_GUP_TEST (/sys/kernel/debug/gup_test): raw GUP calls have no user-space entry point';
  }
  switch (step.op) {
    case 'concurrent':
      return 'a concurrent block: gupsim explore runs its interleavings on the model (the probe cannot choose one)';
    case 'rdma_reg_mr':
    case 'rdma_dereg_mr':
    case 'rdma_write':
    case 'rdma_read':
      return 'needs an RDMA device (ibv_reg_mr); the probe does not drive one';
    case 'dma_write':
    case 'dma_read':
      if (!gupModule) return "a device access through a handle needs gupsim's GUP module (the VMs: --kernel)";
      break;
    case 'drop_caches':
      if (!root) return 'not root: /proc/sys/vm/drop_caches needs CAP_SYS_ADMIN';
      break;
    case 'vfio_map_dma':
    case 'vfio_unmap_dma':
      return 'needs a device bound to vfio-pci (VFIO_IOMMU_MAP_DMA)';
    case 'hmm_range_fault':
      return 'needs a driver that mirrors user memory (HMM, e.g. lib/test_hmm.c)';
    case 'fail_alloc':
      return 'page allocation failure injection is not available to the probe';
    case 'fatal_signal':
      return 'a fatal signal cannot be held pending across steps in a live process';
    case 'dump_page':
      return 'dump_page() output has no user-space interface (needs a kernel debugger)';
    case 'create_file':
      if (step.fs === 'dax') return 'fs: dax needs a DAX-capable device (pmem) with a file system mounted -o dax';
      break;
    case 'mmap':
      if (step.type === 'fsdax') return 'fsdax needs a DAX-capable device (pmem) with a file system mounted -o dax';
      if (step.type === 'pfnmap') return 'a VM_PFNMAP mapping needs a driver (remap_pfn_range); the probe has none';
      break;
    case 'inspect':
      if (!root) return 'not root: PFNs in /proc/self/pagemap and /proc/kpage* need CAP_SYS_ADMIN';
      break;
  }
  return undefined;
}

/**
 * Why the host cannot run every step of this scenario (the first such step), or undefined when it
 * can: raw GUP steps without CONFIG_GUP_TEST, devices the host lacks, inspect without root.
 */
export function scenarioUnsupportedReason(
  sc: Scenario,
  opts: { gupTest?: boolean; root?: boolean; gupModule?: boolean } = {},
): string | undefined {
  for (const [i, step] of sc.steps.entries()) {
    const why = staticReason(step, opts.gupTest ?? false, opts.root ?? isRoot(), opts.gupModule ?? false);
    if (why) return `step ${i} (${step.op}): ${why}`;
  }
  return undefined;
}

/** The names a step uses (regions, files, handles, processes), to find steps that depend on unsupported ones. */
function namesUsed(step: Step): string[] {
  const r = step as Record<string, unknown>;
  const out: string[] = [];
  for (const k of ['region', 'local', 'fixed', 'file', 'ring', 'mr', 'dma', 'pins', 'handle', 'pipe'])
    if (typeof r[k] === 'string') out.push(r[k] as string);
  if (Array.isArray(r.regions)) out.push(...(r.regions as string[]));
  return out;
}

interface Region {
  addr: number;
  len: number;
  type: string;
  /** The process that mapped it. */
  owner: string;
  hugepage?: string;
}
interface FileEntry {
  path: string;
  fs: string;
}
export interface Ring {
  proc: HelperProcess;
  fd: number;
  /** The registered buffers (address and length), in buf_index order, once a registration succeeded. */
  bufs: Array<{ addr: number; len: number }>;
}
export interface Pipe {
  proc: HelperProcess;
  fds: number[];
  /** Bytes vmspliced into it and not read yet. */
  queued: number;
}

export type Out = { ret: number; errno?: string | null; extra?: Record<string, unknown>; unsupported?: string };

export class Runner {
  readonly procs = new Map<string, HelperProcess>();
  readonly regions = new Map<string, Region>();
  readonly files = new Map<string, FileEntry>();
  readonly rings = new Map<string, Ring>();
  readonly pipes = new Map<string, Pipe>();
  /** Names created by steps that did not run: name -> step index. */
  readonly missing = new Map<string, number>();
  readonly notes: string[] = [];
  /** uid per model user name of the processes that do not run as root. */
  private readonly uids = new Map<string, number>();
  /** Raw GUP steps through gupsim's module (VMs only). */
  readonly gup: GupSteps;
  /** Steps about files, writeback, fixed-buffer I/O and pipes (data_steps.ts). */
  readonly data: DataSteps;

  constructor(
    readonly sc: Scenario,
    readonly helper: Helper,
    readonly opts: ProbeOptions,
    readonly sys: ProbeSystem = new HostSystem(opts.idleMs, opts.diskDir),
  ) {
    this.gup = new GupSteps(this);
    this.data = new DataSteps(this);
  }

  /** "on this host", or "in the VM". */
  get where(): string {
    return this.sys.scenarioLayout ? 'in the VM' : 'on this host';
  }

  timeout(len = 0): number {
    return (this.opts.timeoutMs ?? COMMAND_TIMEOUT_MS) + Math.ceil(len / (128 << 20)) * 1000;
  }

  /** Files and directories the run created: removed at the end, also on a signal. */
  removeFiles(): void {
    this.sys.removeFiles();
  }

  async proc(name: string): Promise<HelperProcess> {
    const have = this.procs.get(name);
    if (have) return have;
    const p = await this.helper.spawn(name);
    this.procs.set(name, p);
    await this.configure(p);
    return p;
  }

  /**
   * processes: settings (RunContext.configure): RLIMIT_MEMLOCK, and for root: false a user of its own
   * (one uid per model user name: io_uring charges locked_vm per user_struct), which also drops
   * every capability, CAP_IPC_LOCK included.
   */
  async configure(p: HelperProcess): Promise<void> {
    const s = this.sc.processes?.[p.name];
    if (!s) return;
    const args: string[] = [];
    if (s.memlock !== undefined) args.push(`memlock=${s.memlock}`);
    const user = s.user ?? (s.root === false ? 'user' : undefined);
    if (s.root === false || (user !== undefined && user !== 'root')) {
      if (!this.sys.root)
        throw new ProbeError('ERR_PROBE_EPERM', `processes.${p.name}: running it as another user needs root`);
      let uid = this.uids.get(user ?? 'user');
      if (uid === undefined) {
        uid = UID_BASE + (process.pid % 100_000) * 16 + this.uids.size;
        this.uids.set(user ?? 'user', uid);
      }
      args.push(`uid=${uid}`, `gid=${uid}`);
      if (s.root !== false)
        this.notes.push(
          `processes.${p.name}: user ${user} runs as uid ${uid} (without capabilities, unlike the model's root: true)`,
        );
    }
    if (!args.length) return;
    const r = await this.helper.send(p, `setproc ${args.join(' ')}`, this.timeout());
    if (r.ret < 0)
      throw new ProbeError('ERR_PROBE_EPERM', `cannot apply processes.${p.name} (${args.join(' ')}): ${r.errno}`);
  }

  range(s: { region?: string; offset?: number; length?: number; pages?: number }): {
    addr: number;
    len: number;
    region: Region;
  } {
    const region = this.regions.get(s.region!)!;
    const off = s.offset ?? 0;
    const len = s.length ?? (s.pages !== undefined ? s.pages * PAGE_SIZE : Math.max(0, region.len - off));
    return { addr: region.addr + off, len, region };
  }

  /** Why this step cannot run now (it depends on something that did not run), or undefined. */
  dependencyReason(step: Step): string | undefined {
    for (const n of namesUsed(step)) {
      const i = this.missing.get(n);
      if (i !== undefined) return `depends on "${n}" from step ${i}, which did not run ${this.where}`;
    }
    // A region whose mmap failed has no address to use (the model cannot run such a step either).
    const r = step as { region?: string; regions?: string[]; local?: string; fixed?: string; file?: string };
    for (const n of [r.region, r.local, r.fixed, ...(r.regions ?? [])]) {
      if (n !== undefined && step.op !== 'mmap' && !this.regions.has(n))
        return `region "${n}" is not mapped (its mmap failed)`;
    }
    if (r.file !== undefined && !this.files.has(r.file)) return `file "${r.file}" was not created`;
    return undefined;
  }

  noteMissing(step: Step, index: number): void {
    const r = step as Record<string, unknown>;
    if (typeof r.as === 'string') this.missing.set(r.as, index);
  }

  async run(step: Step, index: number, rep = 0): Promise<Out> {
    switch (step.op) {
      case 'mmap':
        return this.mmap(step);
      case 'munmap':
      case 'mprotect':
      case 'madvise':
        return this.vmaOp(step);
      case 'mremap':
        return this.mremap(step);
      case 'mlock':
      case 'munlock': {
        const p = await this.live(step.proc);
        if (!p) return dead(step.proc);
        const { addr, len } = this.range(step);
        const onfault = step.op === 'mlock' && step.onfault ? ' onfault=1' : '';
        const r = await this.helper.send(p, `${step.op} addr=${addr} len=${len}${onfault}`, this.timeout(len));
        const lockedVm = Number(r.locked_vm);
        return { ret: r.ret, errno: r.errno, extra: lockedVm >= 0 ? { locked_vm: lockedVm } : {} };
      }
      case 'read':
      case 'write': {
        const p = await this.live(step.proc);
        if (!p) return dead(step.proc);
        const { addr, len } = this.range(step);
        if (step.op === 'write') {
          // The value the model stores (scenario/data.ts), filled over every page.
          const value = step.value ?? freshValue(index, rep);
          const out = await this.call(p, `touch addr=${addr} len=${len} write=1 value=${value}`, len);
          return { ...out, extra: { ...out.extra, value } };
        }
        return this.call(p, `touch addr=${addr} len=${len} write=0`, len);
      }
      case 'create_file':
        return this.createFile(step, index);
      case 'get_user_pages':
      case 'get_user_pages_fast':
      case 'get_user_pages_fast_only':
      case 'get_user_pages_unlocked':
      case 'get_user_pages_remote':
      case 'pin_user_pages':
      case 'pin_user_pages_fast':
      case 'pin_user_pages_unlocked':
      case 'pin_user_pages_remote':
        return this.gup.call(step, index);
      case 'unpin_user_pages':
      case 'unpin_user_pages_dirty_lock':
      case 'unpin_user_page':
      case 'put_page':
        return this.gup.release(step);
      case 'dump_page':
        return this.gup.dumpPage(step);
      case 'fork':
        return this.fork(step);
      case 'exit': {
        const p = await this.live(step.proc);
        if (!p) return dead(step.proc);
        const r = await this.helper.send(p, 'exit', this.timeout());
        p.alive = false;
        if (!(await this.helper.waitGone(p.pid)))
          this.notes.push(`process ${p.name} (pid ${p.pid}) took more than 5 s to exit`);
        return { ret: r.ret, errno: r.errno };
      }
      case 'io_uring_register_buffers':
        return this.ioUringRegister(step);
      case 'io_uring_unregister_buffers': {
        const ring = this.rings.get(step.ring);
        if (!ring) return { ret: -9, errno: 'EBADF' };
        if (!ring.proc.alive)
          return { ret: 0, unsupported: `the ring's process ${ring.proc.name} has exited (its ring is gone)` };
        const out = await this.call(ring.proc, `uring_unregister fd=${ring.fd}`);
        if (out.ret === 0) ring.bufs = [];
        return out;
      }
      case 'odirect_read':
      case 'odirect_write': {
        const p = await this.live(step.proc);
        if (!p) return dead(step.proc);
        const { addr, len } = this.range(step);
        const f = this.files.get(step.file)!;
        return this.call(
          p,
          `odirect path=${f.path} read=${step.op === 'odirect_read' ? 1 : 0} foff=${step.file_offset ?? 0} ` +
            `addr=${addr} len=${len}`,
          len,
        );
      }
      case 'process_vm_readv':
      case 'process_vm_writev': {
        const p = await this.live(step.proc);
        if (!p) return dead(step.proc);
        const target = await this.proc(step.target);
        const { addr, len } = this.range(step);
        const local = step.local ? ` local=${this.regions.get(step.local)!.addr}` : '';
        const value =
          step.op === 'process_vm_writev' && !step.local ? (step.value ?? freshValue(index, rep)) : undefined;
        const out = await this.call(
          p,
          `pvm pid=${target.pid} write=${step.op === 'process_vm_writev' ? 1 : 0} addr=${addr} len=${len}${local}` +
            (value !== undefined ? ` value=${value}` : ''),
          len,
        );
        return value !== undefined ? { ...out, extra: { ...out.extra, value } } : out;
      }
      case 'vmsplice': {
        const p = await this.live(step.proc);
        if (!p) return dead(step.proc);
        const { addr, len } = this.range(step);
        const name = step.as ?? `vmsplice@${index}`;
        const pipe = this.pipes.get(name);
        if (pipe && pipe.proc !== p)
          return { ret: 0, unsupported: `the pipe "${name}" belongs to process ${pipe.proc.name}` };
        const reuse = pipe ? ` rfd=${pipe.fds[0]} wfd=${pipe.fds[1]}` : '';
        const r = await this.helper.send(p, `vmsplice addr=${addr} len=${len}${reuse}`, this.timeout(len));
        if (r.ret >= 0 && !pipe) this.pipes.set(name, { proc: p, fds: [Number(r.rfd), Number(r.wfd)], queued: 0 });
        if (r.ret > 0) this.pipes.get(name)!.queued += r.ret;
        return { ret: r.ret, errno: r.errno, extra: { pipe: name } };
      }
      case 'close':
        return this.close(step);
      case 'pread':
      case 'pwrite':
      case 'read_disk':
      case 'fsync':
      case 'msync':
      case 'sync':
      case 'writeback':
      case 'drop_caches':
      case 'truncate':
      case 'io_uring_read_fixed':
      case 'io_uring_write_fixed':
      case 'pipe_read':
        return this.data.run(step, index, rep);
      case 'dma_write':
      case 'dma_read':
        return this.gup.dma(step, step.op === 'dma_write' ? (step.value ?? freshValue(index, rep)) : undefined);
      case 'vmstat':
        return { ret: 0, extra: { text: await this.sys.vmstatText() } };
      case 'inspect':
        return this.inspect(step);
      default:
        return { ret: 0, unsupported: `the probe does not run ${step.op} steps` };
    }
  }

  /** The process, created on first use (as the model's RunContext.live does); undefined once it exited. */
  async live(name: string): Promise<HelperProcess | undefined> {
    const p = await this.proc(name);
    return p.alive ? p : undefined;
  }

  async call(p: HelperProcess, line: string, len = 0): Promise<Out> {
    const r: HelperReply = await this.helper.send(p, line, this.timeout(len));
    const extra: Record<string, unknown> = {};
    if (typeof r.signal === 'string') extra.signal = r.signal;
    if (Array.isArray(r.data)) extra.data = expandRuns(r.data);
    return { ret: r.ret, errno: r.errno, extra };
  }

  async mmap(s: StepOf<'mmap'>): Promise<Out> {
    const p = await this.live(s.proc);
    if (!p) return dead(s.proc);
    const shared = s.shared ?? s.type !== 'anon';
    const args = [`kind=${s.type}`, `shared=${shared ? 1 : 0}`, `size=${s.size}`, `prot=${s.prot ?? 'rw'}`];
    const align = Math.max(s.align ?? 0, this.defaultAlign(s));
    if (align > PAGE_SIZE) args.push(`align=${align}`);
    if (s.populate) args.push('populate=1');
    if (s.noreserve) args.push('noreserve=1');
    if (s.type === 'hugetlb') args.push(`huge=${s.hugepage ?? '2M'}`);
    if (s.file) args.push(`path=${this.files.get(s.file)!.path}`);
    if (s.offset !== undefined) args.push(`offset=${s.offset}`);
    const r = await this.helper.send(p, `mmap ${args.join(' ')}`, this.timeout(s.populate ? s.size : 0));
    if (r.ret < 0) return { ret: r.ret, errno: r.errno };
    const addr = Number(r.addr);
    const len = Number(r.len);
    const region: Region = { addr, len, type: s.type, owner: s.proc };
    if (s.hugepage) region.hugepage = s.hugepage;
    this.regions.set(s.as, region);
    return { ret: 0, extra: { addr: '0x' + addr.toString(16), length: len } };
  }

  /**
   * The alignment the kernel would give this mapping by itself (the helper places every mapping
   * between guard pages, so it must be told): __get_unmapped_area() in 6.18 aligns private anonymous
   * mappings whose length is a multiple of PMD_SIZE to PMD_SIZE; thp_get_unmapped_area() aligns
   * file mappings covering a whole PMD (ext4); shmem_get_unmapped_area() does so for shmem only
   * when shmem THP is possible; hugetlb mappings are aligned to their page size (by the helper).
   */
  defaultAlign(s: StepOf<'mmap'>): number {
    const len = Math.ceil(s.size / PAGE_SIZE) * PAGE_SIZE;
    const shared = s.shared ?? s.type !== 'anon';
    const off = s.offset ?? 0;
    const wholePmd = len >= PMD_SIZE && off % PMD_SIZE === 0;
    const shmemThp = (this.sc.machine?.shmem_thp ?? 'never') !== 'never';
    if (s.type === 'anon' && !shared) return len % PMD_SIZE === 0 ? PMD_SIZE : PAGE_SIZE;
    if (s.type === 'file') {
      const f = this.files.get(s.file!);
      if (f?.fs === 'disk') return wholePmd ? PMD_SIZE : PAGE_SIZE;
    }
    if (s.type === 'anon' || s.type === 'shmem' || s.type === 'memfd' || s.type === 'file')
      return shmemThp && wholePmd ? PMD_SIZE : PAGE_SIZE;
    return PAGE_SIZE;
  }

  async vmaOp(s: StepOf<'munmap'> | StepOf<'mprotect'> | StepOf<'madvise'>): Promise<Out> {
    const p = await this.live(s.proc);
    if (!p) return dead(s.proc);
    const { addr, len } = this.range(s);
    if (s.op === 'munmap') return this.call(p, `munmap addr=${addr} len=${len}`, len);
    if (s.op === 'mprotect') return this.call(p, `mprotect addr=${addr} len=${len} prot=${s.prot}`, len);
    return this.call(p, `madvise addr=${addr} len=${len} advice=${ADVICE[s.advice]}`, len);
  }

  /**
   * mremap(2), as the model's step does: the whole region follows the mapping to its new address
   * and size; a part moved elsewhere leaves the region's name on the old address.
   */
  async mremap(s: StepOf<'mremap'>): Promise<Out> {
    const p = await this.live(s.proc);
    if (!p) return dead(s.proc);
    const { addr, len, region } = this.range(s);
    const args = [`addr=${addr}`, `len=${len}`, `new_len=${s.new_size}`];
    if (s.maymove || s.fixed !== undefined || s.dontunmap) args.push('maymove=1');
    if (s.fixed !== undefined) args.push('fixed=1', `new_addr=${this.regions.get(s.fixed)!.addr}`);
    if (s.dontunmap) args.push('dontunmap=1');
    const r = await this.helper.send(p, `mremap ${args.join(' ')}`, this.timeout(Math.max(len, s.new_size)));
    if (r.ret < 0) return { ret: r.ret, errno: r.errno };
    const to = Number(r.addr);
    if (addr === region.addr && len >= region.len) {
      // The mapping's length: the new size rounded up to its page size (a hugetlb page for hugetlb).
      const unit = region.type === 'hugetlb' ? (region.hugepage === '1G' ? 1 << 30 : PMD_SIZE) : PAGE_SIZE;
      region.addr = to;
      region.len = Math.ceil(s.new_size / unit) * unit;
    }
    return { ret: 0, extra: { addr: '0x' + to.toString(16), moved: to !== addr } };
  }

  async createFile(s: StepOf<'create_file'>, index: number): Promise<Out> {
    if (this.files.has(s.as)) return { ret: -17, errno: 'EEXIST' };
    const fs = s.fs ?? 'disk';
    if (fs === 'dax')
      return { ret: 0, unsupported: 'fs: dax needs a DAX-capable device (pmem) with a file system mounted -o dax' };
    const path = await this.sys.createFile(s.as, s.size, fs, {
      step: index,
      ...(s.value !== undefined ? { value: s.value } : {}),
    });
    this.files.set(s.as, { path, fs });
    return { ret: 0 };
  }

  async fork(s: StepOf<'fork'>): Promise<Out> {
    const p = await this.live(s.proc);
    if (!p) return dead(s.proc);
    if (this.procs.get(s.child)?.alive) return { ret: -17, errno: 'EEXIST' };
    const { reply, proc } = await this.helper.fork(p, s.child, this.timeout());
    if (!proc) return { ret: reply.ret, errno: reply.errno };
    this.procs.set(s.child, proc);
    await this.configure(proc);
    return { ret: 0, extra: { pid: proc.pid } };
  }

  async ioUringRegister(s: StepOf<'io_uring_register_buffers'>): Promise<Out> {
    const p = await this.live(s.proc);
    if (!p) return dead(s.proc);
    let ring = this.rings.get(s.as);
    if (!ring) {
      const r = await this.helper.send(p, 'uring_setup', this.timeout());
      if (r.ret < 0)
        return {
          ret: r.ret,
          errno: r.errno,
          extra: { why: { fn: 'io_uring_setup', rule: 'the host refused to create a ring' } },
        };
      ring = { proc: p, fd: r.ret, bufs: [] };
      this.rings.set(s.as, ring);
    }
    const iovs = s.regions
      ? s.regions.map((n) => {
          const r = this.regions.get(n)!;
          return { addr: r.addr, len: r.len };
        })
      : [
          (() => {
            const { addr, len } = this.range(s);
            return { addr, len };
          })(),
        ];
    const total = iovs.reduce((t, v) => t + v.len, 0);
    const out = await this.call(
      ring.proc,
      `uring_register fd=${ring.fd} iov=${iovs.map((v) => `${v.addr}:${v.len}`).join(',')}`,
      total,
    );
    if (out.ret === 0) ring.bufs = iovs;
    return out;
  }

  async close(s: StepOf<'close'>): Promise<Out> {
    const ring = this.rings.get(s.handle);
    if (ring) {
      if (!ring.proc.alive)
        return { ret: 0, unsupported: `the ring's process ${ring.proc.name} has exited (its ring is gone)` };
      this.rings.delete(s.handle);
      return this.call(ring.proc, `close fd=${ring.fd}`);
    }
    const pipe = this.pipes.get(s.handle);
    if (pipe) {
      if (!pipe.proc.alive)
        return { ret: 0, unsupported: `the pipe's process ${pipe.proc.name} has exited (its pipe is gone)` };
      this.pipes.delete(s.handle);
      return this.call(pipe.proc, `close fd=${pipe.fds.join(',')}`);
    }
    return { ret: 0, unsupported: `the probe cannot close "${s.handle}" (only io_uring rings and vmsplice pipes)` };
  }

  async inspect(s: StepOf<'inspect'>): Promise<Out> {
    if (s.region === undefined)
      return { ret: 0, unsupported: 'the kernel does not show which frames a ring, MR or handle holds' };
    const r = this.regions.get(s.region)!;
    const first = s.page ?? 0;
    const n = s.pages ?? (s.page === undefined ? Math.ceil(r.len / PAGE_SIZE) : 1);
    const mappedBy: PageInfo['mapped_by'] = r.type === 'hugetlb' ? (r.hugepage === '1G' ? 'pud' : 'pmd') : null;
    const p = this.procs.get(s.proc ?? r.owner);
    const pages: PageInfo[] = [];
    if (!p || !p.alive) {
      // No such process (any more): nothing is mapped, as the model reports it.
      for (let i = first; i < first + n; i++) pages.push(pageInfoFromHelper(i, { present: false }, null));
      return { ret: 0, extra: { pages } };
    }
    for (let i = first; i < first + n; i += 1024) {
      const count = Math.min(1024, first + n - i);
      const rep = await this.helper.supervisorCommand(
        `inspect pid=${p.pid} addr=${r.addr + i * PAGE_SIZE} pages=${count}`,
        this.timeout(),
      );
      if (rep.ret < 0) return { ret: rep.ret, errno: rep.errno };
      const got = rep.pages as HelperPage[];
      // The contents: the process reads its own present pages (a plain load: no fault, no reference).
      const peek = await this.helper.send(p, `peek addr=${r.addr + i * PAGE_SIZE} pages=${count}`, this.timeout());
      if (Array.isArray(peek.data))
        (peek.data as Array<number | null>).forEach((v, k) => {
          if (v !== null && got[k]?.present) got[k]!.data = v;
        });
      got.forEach((h, k) =>
        pages.push(pageInfoFromHelper(i + k, h, h.present ? mappedBy : null, (pfn) => this.sys.zoneOf(pfn))),
      );
      if (rep.kpageflags === false || rep.kpagecount === false)
        this.notes.push('/proc/kpageflags or /proc/kpagecount could not be opened: inspect fields are null');
    }
    return { ret: 0, extra: { pages } };
  }
}

function dead(name: string): Out {
  // The model answers -ESRCH for a step of an exited process; no system call is made here.
  return { ret: -3, errno: 'ESRCH', extra: { note: `process ${name} has exited: no system call made` } };
}

/** The lines of a dump_page() report in a kernel log excerpt (from "page:" to "page dumped because"). */
export function dumpText(log: string[]): string {
  const start = log.findIndex((l) => /^page:/.test(l));
  if (start < 0) return log.join('\n');
  const end = log.findIndex((l, i) => i >= start && /^page dumped because/.test(l));
  return log.slice(start, end < 0 ? undefined : end + 1).join('\n');
}

function diffCounters(a: Counters, b: Counters): Counters {
  const out: Counters = {};
  for (const k of Object.keys(b)) out[k] = b[k]! - (a[k] ?? 0);
  return out;
}

/**
 * Run a scenario on the host kernel. Throws ProbeError ERR_PROBE_UNSUPPORTED when the host cannot
 * run the probe at all (not Linux, no C compiler); everything else becomes a step result.
 */
export async function probeScenario(sc: Scenario, opts: ProbeOptions = {}): Promise<KernelRunResult> {
  const choice = parseKernelOption(opts.kernel, release());
  if (choice.kind === 'vm') {
    // Imported on demand: the VM engine imports this module's Runner.
    const { probeScenarioInVm } = await import('./vm/probe.js');
    return probeScenarioInVm(sc, choice.release, opts);
  }
  const why = probeUnsupportedReason();
  if (why) throw new ProbeError('ERR_PROBE_UNSUPPORTED', why);
  // Restore synchronously on SIGINT/SIGTERM (and at exit, should the process end mid-run); a
  // signal while waiting for another probe's lock just ends the run.
  let session: HostSession | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    session?.restore();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  const onExit = () => session?.restore();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', onExit);
  const helper = new Helper();
  let runner: Runner | undefined;
  try {
    session = await HostSession.acquire(opts.lockWaitMs);
    session.onRestore(() => helper.kill());
    session.onRestore(() => runner?.removeFiles());
    const plan = planSettings(sc);
    const problems = session.apply(plan.settings);
    const notes = [...plan.notes];
    if (!isRoot())
      notes.push('not root: /proc/sys/vm/stat_refresh cannot be written, so the counters may lag by a per-CPU batch');
    await helper.start();
    runner = new Runner(sc, helper, opts, new HostSystem(opts.idleMs, opts.diskDir));
    const notCompared = problems.length ? settingsNotApplied(problems) : undefined;
    const res = await runSteps(sc, runner, helper, notCompared);
    if (notCompared) res.notCompared = notCompared;
    res.notes.unshift(...notes, ...problems.map((p) => `setting not applied: ${p}`));
    res.settings = session.changed;
    await helper.close();
    await settleCounters(2000);
    return res;
  } finally {
    helper.kill();
    await helper.close().catch(() => undefined);
    const failed = session?.restore() ?? [];
    if (failed.length) process.emitWarning(`gupsim probe: could not restore ${failed.join('; ')}`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', onExit);
  }
}

/** "WARNING: CPU: 0 PID: 85 at mm/gup.c:2297 is_valid_gup_args+0x7c/0x90" -> { fn, at }. */
export function parseWarning(line: string): { fn: string; at: string } | undefined {
  const m = /WARNING: CPU: \d+ PID: \d+ at (\S+) ([A-Za-z0-9_.]+)/.exec(line);
  return m ? { at: m[1]!, fn: m[2]!.replace(/\.(?:constprop|isra|part|cold)\.\d+$/, '') } : undefined;
}

/**
 * Run the steps on the runner's system: each step, the counters after it (and, on a shared host,
 * an idle window to see other activity), the kernel log lines it made (where they can be read:
 * the VMs), expect steps checked as the model checks them.
 */
export async function runSteps(
  sc: Scenario,
  runner: Runner,
  helper: Helper,
  globalReason: string | undefined,
): Promise<KernelRunResult> {
  const sys = runner.sys;
  const idleMs = sys.idleMs ?? 30;
  const warnings: KernelRunResult['warnings'] = [];
  let logReadable = (await sys.kmsg()) !== undefined;
  const steps: KernelStepResult[] = [];
  const acc: Counters = {};
  let ok = true;
  let noiseSeen = false;
  let fatal: string | undefined;
  /** Steps that did not run and may have moved the counters in the model. */
  const tainting: number[] = [];
  const hugetlb = usesHugetlb(sc);

  // Whether this kernel maps the zero page (before the baseline: the check pins nothing).
  const zeroPage = globalReason === undefined ? await measureZeroPage(helper) : undefined;
  const zeroPageReason = zeroPageMismatch(sc, zeroPage);
  globalReason ??= zeroPageReason;

  // Baseline, and a first idle window.
  let base = await sys.counters();
  let idle = base;
  if (idleMs > 0) {
    await sleep(idleMs);
    idle = await sys.counters();
  }
  let noiseBefore = !samePins(base, idle);
  noiseSeen ||= noiseBefore;
  base = idle;

  for (let index = 0; index < sc.steps.length; index++) {
    const step = sc.steps[index]!;
    const pins = pinCounters(acc);
    const res: KernelStepResult = { index, op: step.op, ret: null, errno: null, vmstat: pins };
    if (step.label) res.label = step.label;
    if (step.op === 'expect') {
      const { failures, skipped, checked } = checkExpect(step, steps as unknown as StepResult[], {
        vmstat: tainting.length ? undefined : { ...acc },
        pins: tainting.length ? undefined : pins.nr_foll_pin_acquired - pins.nr_foll_pin_released,
        // The kernel's WARN splats, where its log can be read (the VMs); WARN_ON_ONCE fires once per boot.
        ...(logReadable && !tainting.length ? { warnings: warnings.length } : {}),
        hugetlb: tainting.length || !step.hugetlb ? undefined : await sys.hugetlbCounters(),
        unchecked: (t) => {
          const k = t as unknown as KernelStepResult;
          if (k.unsupported) return `step ${k.index} did not run ${runner.where}`;
          if (k.error) return `step ${k.index} failed in the probe`;
          // After a step that did not run, the state may differ from the one the scenario expects.
          const before = tainting.filter((i) => i < k.index);
          return before.length
            ? `it follows step(s) ${before.join(', ')}, which did not run ${runner.where}`
            : undefined;
        },
        skipNullFields: true,
        skipFields: sys.scenarioLayout ? {} : { zone: "the host's memory layout, not the scenario's machine" },
      });
      if (tainting.length && (step.vmstat || step.pins !== undefined || step.hugetlb))
        skipped.unshift(`counters: steps ${tainting.join(', ')} did not run ${runner.where}`);
      if (checked === 0 && skipped.length) {
        const who = runner.sys.scenarioLayout ? 'the VM' : 'this host';
        res.unsupported = `nothing ${who} can observe (${skipped.join('; ')})`;
      } else {
        res.ret = failures.length ? 1 : 0;
        if (failures.length) {
          res.failures = failures;
          ok = false;
        }
        if (skipped.length) res.skipped = skipped;
      }
      steps.push(res);
      continue;
    }
    const reason =
      fatal ??
      globalReason ??
      staticReason(step, helper.gupTest, sys.root, helper.gupModule) ??
      runner.dependencyReason(step);
    if (reason) {
      res.unsupported = reason;
      runner.noteMissing(step, index);
      if (changesState(step.op)) tainting.push(index);
      steps.push(res);
      continue;
    }
    let out: Out = { ret: 0 };
    try {
      for (let r = 0; r < (step.repeat ?? 1); r++) out = await runner.run(step, index, r);
    } catch (e) {
      if (!(e instanceof ProbeError)) throw e;
      if (e.code === 'ERR_PROBE_HELPER') {
        // The helpers were killed (a command hung, or one died): nothing more can run.
        fatal = `the probe stopped at step ${index}: ${e.message}`;
        res.error = e.message;
      } else {
        // What this step needs is not available here (no disk file system, too many processes,
        // another user without root): the step is unsupported, the scenario goes on.
        res.unsupported = e.message;
        runner.noteMissing(step, index);
        if (changesState(step.op)) tainting.push(index);
      }
      steps.push(res);
      continue;
    }
    if (out.unsupported) {
      res.unsupported = out.unsupported;
      runner.noteMissing(step, index);
      if (changesState(step.op)) tainting.push(index);
      steps.push(res);
      continue;
    }
    const after = ASYNC_OPS.has(step.op) ? await sys.settle() : await sys.counters();
    idle = after;
    if (idleMs > 0) {
      await sleep(idleMs);
      idle = await sys.counters();
    }
    const log = logReadable ? await sys.kmsg() : undefined;
    if (log === undefined) logReadable = false;
    else if (log.length) {
      res.dmesg = log;
      for (const line of log) {
        const w = parseWarning(line);
        if (w) warnings.push({ fn: w.fn, condition: `WARNING at ${w.at}`, once: true, step: index });
      }
      if (step.op === 'dump_page') out.extra = { ...out.extra, text: dumpText(log) };
    }
    const noiseAfter = !samePins(after, idle);
    noiseSeen ||= noiseAfter;
    const d = diffCounters(base, after);
    for (const [k, v] of Object.entries(d)) acc[k] = (acc[k] ?? 0) + v;
    base = idle;
    res.ret = out.ret;
    res.errno = out.ret < 0 ? (out.errno ?? `E${-out.ret}`) : null;
    res.vmstat = pinCounters(acc);
    if (hugetlb) res.hugetlb = await sys.hugetlbCounters();
    if (noiseBefore || noiseAfter) res.noise = true;
    noiseBefore = noiseAfter;
    for (const [k, v] of Object.entries(out.extra ?? {})) if (v !== undefined) res[k] = v;
    steps.push(res);
  }
  const notes = [...new Set(runner.notes)];
  if (steps.some((s) => s.op === 'expect' && (s.skipped as unknown[] | undefined)?.length))
    notes.push(
      sys.scenarioLayout
        ? 'expect checks of values the kernel does not expose (why) were skipped'
        : 'expect checks of values the kernel does not expose (refcount, pincount, WARNs, why) were skipped',
    );
  const result: KernelRunResult = {
    schemaVersion: SCHEMA_VERSION,
    scenario: sc.name ?? runner.opts.name ?? 'scenario',
    engine: 'kernel',
    kernel: sys.kernel,
    ok,
    steps,
    vmstat: pinCounters(acc),
    // The kernel does not attribute pins to owners; the counters' difference is the outstanding total.
    pins: [],
    warnings,
    settings: [],
    notes,
    noise: noiseSeen,
  };
  if (fatal) result.error = fatal;
  if (zeroPage !== undefined) result.zero_page = zeroPage;
  if (zeroPageReason) result.notCompared = zeroPageReason;
  return result;
}
