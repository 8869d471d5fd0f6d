// The state a scenario run keeps beside the machine: named regions, files, processes and the
// handles (rings, MRs, pin handles...) its steps create.

import { Machine, type MachineConfig } from '../mm/machine.js';
import { Process } from '../mm/task.js';
import { Holder, type HeldFrame } from '../consumers/holder.js';
import { PAGE_SIZE, PMD_ORDER, PUD_ORDER, ZERO_PFN } from '../mm/memmap.js';
import type { AddressSpace } from '../mm/fs.js';
import type { Scenario, Step } from './schema.js';
import { ESRCH } from '../uapi/errno.js';
import { DEFAULT_PROFILE, type KernelProfile } from '../mm/profile.js';
import { freshValue } from './data.js';
import { lru_add_drain } from '../mm/swap.js';

export interface Region {
  name: string;
  addr: number;
  len: number;
  /** The process that created it (children of a fork see it at the same address). */
  owner: string;
}

/**
 * Pages held by a raw GUP step (`as:`), FOLL_PIN or FOLL_GET: the driver's pages[] array. Releasing
 * an entry does not forget its PFN (a stale array still holds it): a second release passes it again.
 */
export class PinHandle extends Holder {
  readonly type = 'handle' as const;
  /** PFN per entry. */
  readonly entries: number[] = [];
  /** The user address each entry was taken for (in `target`'s address space). */
  readonly addrs: number[] = [];
  /** Entry index -> step index that released it (absent while held; undefined outside a scenario step). */
  readonly releasedAt = new Map<number, number | undefined>();
  constructor(
    name: string,
    owner: Process,
    readonly kind: 'pin' | 'get',
    /** The process whose pages were taken (the *_remote target; else the caller). */
    readonly target: Process = owner,
    /** Whether a PFN is a zero page (the shared one or the huge zero folio's). */
    readonly isZero: (pfn: number) => boolean = (pfn) => pfn === ZERO_PFN,
  ) {
    super(name, owner);
  }
  override get space(): Process {
    return this.target;
  }
  /**
   * A FOLL_PIN entry of a zero page holds nothing: try_grab_folio() takes no pin on it (and counts no
   * nr_foll_pin_acquired), unpin skips it. A FOLL_GET entry of it holds a reference like any page.
   */
  frames(): HeldFrame[] {
    const out: HeldFrame[] = [];
    this.entries.forEach((pfn, i) => {
      if (this.releasedAt.has(i)) return;
      const pin = this.kind === 'pin' && !this.isZero(pfn) ? 1 : 0;
      const ref = this.kind === 'get' ? 1 : 0;
      out.push({ addr: this.addrs[i]!, pfn, pages: 1, pins: pin, refs: ref });
    });
    return out;
  }
  live(): number {
    return this.entries.length - this.releasedAt.size;
  }
  /** Pins held, in the unit of nr_foll_pin_acquired: a zero-page entry counts none. */
  pins(): number {
    if (this.kind !== 'pin') return 0;
    let n = 0;
    this.entries.forEach((pfn, i) => {
      if (!this.releasedAt.has(i) && !this.isZero(pfn)) n++;
    });
    return n;
  }
  refs(): number {
    return this.kind === 'get' ? this.live() : 0;
  }
}

/** A step's outcome: its return value (negative: -errno) and extra result fields. */
export interface Outcome {
  ret: number;
  extra?: Record<string, unknown>;
}

export class RunContext {
  readonly m: Machine;
  readonly regions = new Map<string, Region>();
  readonly files = new Map<string, AddressSpace>();
  readonly objects = new Map<string, Holder>();
  /** gupsim's ledger: every holder a step created, kept after it is released (for the leak report). */
  readonly holders = new Map<string, Holder>();
  readonly start: Record<string, number>;
  /** The step running and which of its repeats (0-based): fresh values are unique to them. */
  stepIndex = 0;
  rep = 0;

  constructor(
    readonly sc: Scenario,
    profile: KernelProfile = DEFAULT_PROFILE,
  ) {
    const mc = sc.machine ?? {};
    const cfg: Partial<MachineConfig> = {};
    if (mc.memory !== undefined) cfg.memory = mc.memory;
    if (mc.movable !== undefined) cfg.movable = mc.movable;
    if (mc.cma !== undefined) cfg.cma = mc.cma;
    if (mc.pmem !== undefined) cfg.pmem = mc.pmem;
    if (mc.thp) cfg.thp = mc.thp;
    if (mc.mthp) cfg.mthp = mc.mthp as Record<string, 'always' | 'inherit' | 'madvise' | 'never'>;
    if (mc.use_zero_page !== undefined) cfg.use_zero_page = mc.use_zero_page;
    if (mc.zero_page !== undefined) cfg.zero_page = mc.zero_page;
    if (mc.shmem_thp) cfg.shmem_thp = mc.shmem_thp;
    if (mc.hugetlb) cfg.hugetlb = mc.hugetlb;
    if (mc.hugetlb_overcommit) cfg.hugetlb_overcommit = mc.hugetlb_overcommit;
    this.m = new Machine(cfg, profile);
    this.start = this.m.vmstat.snapshot();
  }

  /**
   * The process named `name`, created on first use with the scenario's settings. A process comes
   * from fork() and execve(): exec drops the copied mm (exec_mmap() -> mmput() -> exit_mmap()), which
   * drains this CPU's LRU batches, so a new process starts with them empty.
   */
  proc(name: string): Process {
    const p = this.m.process(name);
    if (p) return p;
    lru_add_drain(this.m);
    const np = this.m.spawn(name);
    this.configure(np);
    return np;
  }

  configure(p: Process): void {
    const s = this.sc.processes?.[p.name];
    if (!s) return;
    if (s.root !== undefined) p.capIpcLock = s.root;
    if (s.memlock !== undefined) p.rlimitMemlock = s.memlock;
    if (s.user !== undefined) p.user = s.user;
    else if (s.root === false) p.user = 'user';
  }

  /** A live process, or -ESRCH. */
  live(name: string): Process | number {
    const p = this.proc(name);
    return p.alive ? p : this.m.refuse(-ESRCH, 'gupsim', `process ${name} has exited: it makes no more calls`);
  }

  /** The byte range a step selects within its region (offset, then length or pages). */
  range(step: Step): { addr: number; len: number; region: Region } {
    const s = step as { region?: string; offset?: number; length?: number; pages?: number };
    const region = this.regions.get(s.region!)!;
    const off = s.offset ?? 0;
    const len = s.length ?? (s.pages !== undefined ? s.pages * PAGE_SIZE : Math.max(0, region.len - off));
    return { addr: region.addr + off, len, region };
  }

  /** The value a step stores: the one it names, else a fresh one unique to this step and repeat. */
  value(v: number | undefined): number {
    return v ?? freshValue(this.stepIndex, this.rep);
  }

  register(h: Holder): void {
    this.objects.set(h.name, h);
    this.holders.set(h.name, h);
  }

  hugeOrder(hp: '2M' | '1G' | undefined): number {
    return hp === '1G' ? PUD_ORDER : PMD_ORDER;
  }

  /** Counters as deltas since the scenario began. */
  vmstatDelta(): Record<string, number> {
    const now = this.m.vmstat.snapshot() as Record<string, number>;
    const out: Record<string, number> = {};
    for (const k of Object.keys(now)) out[k] = now[k]! - (this.start[k] ?? 0);
    return out;
  }
}
