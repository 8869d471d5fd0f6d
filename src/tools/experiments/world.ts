// Buffers of one folio kind for the experiments: a machine, a process, and a write-faulted private
// buffer whose folios are all of the kind asked for (checked, not assumed), mapped the way the kernel
// maps that kind: PTEs for small folios and mTHP, a PMD for a THP or a 2 MiB hugetlb page, a PUD for a
// 1 GiB hugetlb page.

import { Machine, MTHP_SIZES, type MachineConfig } from '../../mm/machine.js';
import type { Process } from '../../mm/task.js';
import { DEFAULT_PROFILE, LINUX_6_18, profileByName, type KernelProfile } from '../../mm/profile.js';
import type { RunOptions } from './types.js';
import { PAGE_SIZE, PMD_ORDER, PMD_SIZE, PUD_ORDER, PUD_SIZE } from '../../mm/memmap.js';
import { do_mmap } from '../../mm/mmap.js';
import { do_madvise } from '../../mm/madvise.js';
import { userAccess } from '../../mm/user_access.js';
import { lru_add_drain } from '../../mm/swap.js';
import { lookupPage } from '../../scenario/inspect.js';

export type FolioKind =
  | 'small'
  | 'mthp-16K'
  | 'mthp-32K'
  | 'mthp-64K'
  | 'mthp-128K'
  | 'mthp-256K'
  | 'mthp-512K'
  | 'mthp-1M'
  | 'thp'
  | 'hugetlb-2M'
  | 'hugetlb-1G';

export interface KindInfo {
  kind: FolioKind;
  label: string;
  order: number;
  mappedBy: 'pte' | 'pmd' | 'pud';
}

const MTHP_KINDS = Object.entries(MTHP_SIZES)
  .filter(([, order]) => order < PMD_ORDER)
  .map(([size, order]): KindInfo => ({
    kind: `mthp-${size}` as FolioKind,
    label: `mTHP ${size.slice(0, -1)} ${size.slice(-1)}iB`,
    order,
    mappedBy: 'pte',
  }));

export const FOLIO_KINDS: readonly KindInfo[] = [
  { kind: 'small', label: 'small 4 KiB', order: 0, mappedBy: 'pte' },
  ...MTHP_KINDS,
  { kind: 'thp', label: 'THP 2 MiB', order: PMD_ORDER, mappedBy: 'pmd' },
  { kind: 'hugetlb-2M', label: 'hugetlb 2 MiB', order: PMD_ORDER, mappedBy: 'pmd' },
  { kind: 'hugetlb-1G', label: 'hugetlb 1 GiB', order: PUD_ORDER, mappedBy: 'pud' },
];

/** The release profile a run uses (RunOptions.kernel; 6.18 by default). A name no profile has is a gupsim bug here. */
export function runProfile(o: RunOptions): KernelProfile {
  if (o.kernel === undefined) return DEFAULT_PROFILE;
  const p = profileByName(o.kernel);
  if (!p) throw new Error(`gupsim bug: no release profile ${o.kernel}`);
  return p;
}

/** The kinds a release has: per-size mTHP folios need 6.8+ (profile.mthp). */
export function kindsOn<K extends FolioKind>(kinds: readonly K[], profile: KernelProfile): K[] {
  return kinds.filter((k) => profile.mthp || !k.startsWith('mthp-'));
}

export function kindInfo(kind: FolioKind): KindInfo {
  const k = FOLIO_KINDS.find((x) => x.kind === kind);
  if (!k) throw new Error(`gupsim bug: unknown folio kind ${kind}`);
  return k;
}

export interface Buffer {
  m: Machine;
  p: Process;
  addr: number;
  bytes: number;
  info: KindInfo;
  /** Pages per folio of the buffer. */
  folioPages: number;
}

export interface BufferOptions {
  /** The release profile (default 6.18); a shard passes its own (ShardContext.profile). */
  profile?: KernelProfile;
  /** Extra RAM beyond what the buffer needs (for copies at fork, say). */
  spare?: number;
  /** Extra machine settings. */
  cfg?: Partial<MachineConfig>;
}

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function fail(what: string): never {
  throw new Error(`gupsim experiment setup: ${what}`);
}

/** A machine with `bytes` of private memory of folio kind `kind` in process `app`, write-faulted. */
export function buffer(kind: FolioKind, bytes: number, o: BufferOptions = {}): Buffer {
  const info = kindInfo(kind);
  const spare = o.spare ?? 256 * MiB;
  // A 1 GiB pool page cannot come from the first GiB (the reserved low pages are in it).
  const memory = kind === 'hugetlb-1G' ? bytes + GiB + Math.max(spare, GiB) : bytes + spare;
  const cfg: Partial<MachineConfig> = { memory, thp: 'madvise', ...o.cfg };
  // An mTHP buffer: only its size enabled (PMD-sized THP would take whole aligned 2 MiB ranges first).
  if (kind.startsWith('mthp-')) {
    cfg.thp = 'never';
    cfg.mthp = { ...cfg.mthp, [kind.slice('mthp-'.length)]: 'always' };
  }
  if (kind === 'hugetlb-2M') cfg.hugetlb = { '2M': bytes / PMD_SIZE };
  if (kind === 'hugetlb-1G') cfg.hugetlb = { '1G': bytes / PUD_SIZE };
  const m = new Machine(cfg, o.profile ?? LINUX_6_18);
  const p = m.spawn('app');
  const addr = mapRegion(m, p, kind, bytes);
  return { m, p, addr, bytes, info, folioPages: 1 << info.order };
}

/**
 * Map `bytes` of private memory of folio kind `kind` in `p` and write-fault it; returns the address.
 * The machine must allow the kind (mTHP size enabled, hugetlb pool large enough): every folio is
 * checked to be of the kind's order and mapped at its level, or this throws. The per-CPU LRU batches
 * are drained afterwards, as they are long after a program faulted its buffer in: the folios are on
 * the LRU and hold their mappings' references only.
 */
export function mapRegion(m: Machine, p: Process, kind: FolioKind, bytes: number): number {
  const info = kindInfo(kind);
  const unit = PAGE_SIZE << info.order;
  if (bytes % unit !== 0) fail(`${bytes} bytes is not a whole number of ${info.label} folios`);
  let addr: number;
  if (kind === 'hugetlb-2M' || kind === 'hugetlb-1G') {
    // MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB: anon hugetlb folios, as an RDMA or DPDK buffer.
    addr = do_mmap(m, p, { size: bytes, type: 'hugetlb', shared: false, hugeOrder: info.order, align: unit });
  } else {
    addr = do_mmap(m, p, { size: bytes, type: 'anon', align: unit });
    if (addr >= 0) {
      const adv = do_madvise(m, p, addr, bytes, kind === 'small' ? 'nohugepage' : 'hugepage');
      if (adv !== 0) fail(`madvise returned ${adv}`);
    }
  }
  if (addr < 0) fail(`mmap of ${bytes} bytes of ${info.label} returned ${addr}`);
  const r = userAccess(m, p, addr, bytes, true);
  if (r !== 0) fail(`faulting in ${info.label} returned ${r}`);
  lru_add_drain(m);
  for (let a = addr; a < addr + bytes; a += unit) {
    const hit = lookupPage(p, a);
    if (!hit) fail(`${info.label}: nothing mapped at ${a.toString(16)}`);
    const folio = m.mem.page_folio(hit.pfn);
    if (m.mem.folio_order(folio) !== info.order || folio !== hit.pfn)
      fail(`${info.label}: got a folio of order ${m.mem.folio_order(folio)}`);
    if (hit.level !== info.mappedBy) fail(`${info.label}: mapped by ${hit.level}, expected ${info.mappedBy}`);
  }
  return addr;
}

/** The PFN process `p` maps at `addr`, or null when nothing is mapped there. */
export function frameAt(p: Process, addr: number): number | null {
  if (!p.alive) return null;
  return lookupPage(p, addr)?.pfn ?? null;
}
