// Models io_uring registered buffers (io_uring/rsrc.c io_sqe_buffer_register(), io_pin_pages() in
// io_uring/memmap.c, io_buffer_account_pin(), io_check_coalesce_buffer(), io_coalesce_buffer(),
// io_release_ubuf()): pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM), all or nothing; buffers made
// of equal-sized large folios keep one pin per folio; RLIMIT_MEMLOCK charged per compound page.
// Release differences (profile.ts): 6.1 pins with pin_user_pages() and checks the VMAs afterwards,
// and coalesces nothing; 6.1 and 6.12 charge no ring memory and account against the buffers already
// registered by the same call.

import { fd_install } from '../kernel/file_table.js';
import type { Machine } from '../mm/machine.js';
import type { Process } from '../mm/task.js';
import { Holder, type HeldFrame } from './holder.js';
import { EBUSY, EFAULT, EOVERFLOW, EINVAL, ENOMEM, ENXIO, EOPNOTSUPP } from '../uapi/errno.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../mm/foll_flags.js';
import { NO_FOLIO, PAGE_SHIFT, PAGE_SIZE, PG_head, PG_tail } from '../mm/memmap.js';
import {
  pin_user_pages,
  pin_user_pages_fast,
  unpin_user_pages,
  unpin_user_folio,
  unpinUserFolioEach,
} from '../mm/gup.js';
import { chargeUserLockedVm, unchargeUserLockedVm } from './memlock.js';
import { PageRuns } from '../mm/page_runs.js';

/** One registered buffer (struct io_mapped_ubuf): one entry per bvec, each holding one pin. */
export interface MappedUbuf {
  ubuf: number;
  len: number;
  /** PFN per bvec: a folio head per folio when coalesced, else one page each. */
  bvecPages: Int32Array;
  /** Pin units held per bvec (always 1). */
  coalesced: boolean;
  folioShift: number;
  /** Coalesced: the page of the first folio the buffer starts at (bv_offset of the first bvec). */
  firstPageIdx: number;
  acctPages: number;
}

export class IoRing extends Holder {
  readonly type = 'ring' as const;
  readonly bufs: MappedUbuf[] = [];
  /** ctx->buf_table.nr: slots of the registered table, sparse (NULL iovec) slots included. */
  slots = 0;
  /** ctx->user is set when the creator lacks CAP_IPC_LOCK: then pins are charged to locked_vm. */
  readonly accountUser: boolean;
  /** Pages of the SQ/CQ rings and SQE array charged at io_uring_setup() (0 when not accounted). */
  ringPages = 0;
  constructor(name: string, owner: Process) {
    super(name, owner);
    this.accountUser = !owner.capIpcLock;
  }
  pins(): number {
    return this.bufs.reduce((s, b) => s + b.bvecPages.length, 0);
  }
  refs(): number {
    return 0;
  }
  /** Each bvec: one pin on its folio, for the pages of the buffer it covers. */
  frames(): HeldFrame[] {
    const out: HeldFrame[] = [];
    for (const b of this.bufs) {
      let addr = b.ubuf - (b.ubuf % PAGE_SIZE);
      let left = Math.ceil((b.ubuf + b.len) / PAGE_SIZE) - Math.floor(b.ubuf / PAGE_SIZE);
      const perFolio = b.coalesced ? 1 << (b.folioShift - PAGE_SHIFT) : 1;
      b.bvecPages.forEach((head, i) => {
        const skip = i === 0 && b.coalesced ? b.firstPageIdx : 0;
        const pages = Math.min(perFolio - skip, left);
        out.push({ addr, pfn: head + skip, pages, pins: 1, refs: 0 });
        addr += pages * PAGE_SIZE;
        left -= pages;
      });
    }
    return out;
  }
}

/**
 * IORING_REGISTER_BUFFERS: register every iovec or none. Errors: -EBUSY (a table is already
 * registered, even an all-sparse one), -EINVAL (no iovecs, or more than 16384), -EFAULT (NULL base with a length,
 * zero or > 1 GiB length, or a partial pin), -EOVERFLOW (range wraps), -ENOMEM (RLIMIT_MEMLOCK),
 * and the errno pin_user_pages_fast returned (e.g. -EOPNOTSUPP on fsdax).
 */
export function io_sqe_buffers_register(
  m: Machine,
  ring: IoRing,
  iovecs: ReadonlyArray<{ base: number; len: number }>,
): number {
  const r = ioBuffersRegisterBegin(m, ring, iovecs.length);
  if (typeof r === 'number') return r;
  for (const iov of iovecs) {
    const b = io_sqe_buffer_register(m, ring, iov.base, iov.len, r);
    if (typeof b === 'number') return ioBuffersRegisterFail(m, ring, b);
    if (b) ring.bufs.push(b);
  }
  ring.slots = iovecs.length;
  return 0;
}

/**
 * io_sqe_buffers_register()'s checks (one table per ring, of 1..IORING_MAX_REG_BUFFERS slots): the
 * accounting state of the call, or the errno.
 */
export function ioBuffersRegisterBegin(m: Machine, ring: IoRing, nr: number): AcctState | number {
  if (ring.slots) return m.refuse(-EBUSY, 'io_sqe_buffers_register', 'buffers already registered on this ring');
  if (!nr || nr > IORING_MAX_REG_BUFFERS)
    return m.refuse(-EINVAL, 'io_sqe_buffers_register', `nr_args is 0 or above ${IORING_MAX_REG_BUFFERS}`);
  // 6.18 installs the table only after the loop, so headpage_already_acct() sees none of this
  // call's earlier buffers and last_hpage is the only dedup across iovecs; 6.1 and 6.12 fill
  // ctx->user_bufs[] as they go (profile.ioUringAcctSeesEarlierBuffers).
  return { last_hpage: NO_FOLIO, table: m.profile.ioUringAcctSeesEarlierBuffers ? ring.bufs : [] };
}

/** A buffer failed: the partial table is installed, then unregistered as a whole. Returns the errno. */
export function ioBuffersRegisterFail(m: Machine, ring: IoRing, err: number): number {
  io_sqe_buffers_unregister(m, ring);
  return err;
}

/** IORING_MAX_REG_BUFFERS. */
const IORING_MAX_REG_BUFFERS = 1 << 14;

/** Accounting state of one registration call: *last_hpage and the installed ctx->buf_table. */
export interface AcctState {
  last_hpage: number;
  table: MappedUbuf[];
}

/** Entries of the rings gupsim (and the probe's helper) create: io_uring_setup(4, ...). */
export const IORING_SETUP_ENTRIES = 4;

/**
 * Pages of the ring memory for `entries` SQEs (io_allocate_scq_urings()): the rings region (struct
 * io_rings header plus 2 * entries CQEs of 16 bytes) and the SQE array (64 bytes each), each
 * rounded up to pages.
 */
export function ioRingPages(entries: number): number {
  const ringsBytes = 64 * 4 + 4 * entries + 16 * 2 * entries;
  const sqeBytes = 64 * entries;
  return Math.ceil(ringsBytes / PAGE_SIZE) + Math.ceil(sqeBytes / PAGE_SIZE);
}

/**
 * io_uring_setup(): a ring and its fd in `p`. Without CAP_IPC_LOCK the ring memory itself is charged
 * to the user's locked_vm (io_create_region() -> __io_account_mem()): -ENOMEM past RLIMIT_MEMLOCK.
 */
export function io_uring_setup(m: Machine, name: string, p: Process, entries = IORING_SETUP_ENTRIES): IoRing | number {
  const ring = new IoRing(name, p);
  // 6.1 and 6.12 allocate the rings without charging them (profile.ioUringRingCharged).
  if (ring.accountUser && m.profile.ioUringRingCharged) {
    const pages = ioRingPages(entries);
    if (chargeUserLockedVm(m, p, pages))
      return m.refuse(-ENOMEM, 'io_create_region', 'ring memory would exceed RLIMIT_MEMLOCK (no CAP_IPC_LOCK)');
    ring.ringPages = pages;
  }
  // The fd: shared with fork children, released with its last holder (io_uring_release()).
  fd_install(p, ring, () => io_uring_release(m, ring));
  return ring;
}

/**
 * io_uring_release() -> io_ring_ctx_free() (the last fd closed): registered buffers are
 * unregistered and the ring memory is uncharged.
 */
export function io_uring_release(m: Machine, ring: IoRing): void {
  if (ring.closed) return;
  if (ring.bufs.length || ring.slots) io_sqe_buffers_unregister(m, ring);
  if (ring.ringPages) unchargeUserLockedVm(m, ring.owner, ring.ringPages);
  ring.ringPages = 0;
  ring.closed = true;
}

/** IORING_UNREGISTER_BUFFERS: -ENXIO when nothing is registered. */
export function io_sqe_buffers_unregister(m: Machine, ring: IoRing): number {
  if (ring.bufs.length === 0 && ring.slots === 0) return -ENXIO;
  for (const b of ring.bufs) io_release_ubuf(m, ring, b);
  ring.bufs.length = 0;
  ring.slots = 0;
  return 0;
}

function io_sqe_buffer_register(
  m: Machine,
  ring: IoRing,
  base: number,
  len: number,
  st: AcctState,
): MappedUbuf | number | null {
  const nr = ioBufferPages(m, base, len);
  if (nr === IO_SPARSE) return null;
  if (nr < 0) return nr;
  const pages = pinScratch(nr);
  const runs = pinRuns;
  runs.clear();
  if (m.profile.ioUringPin === 'pin_user_pages') {
    const r = io_pin_pages6_1(m, ring, base, nr, pages);
    if (r < 0) return r;
  } else {
    const r = io_pin_pages(m, ring, base, nr, pages, runs);
    if (r < 0) return r;
  }
  return ioBufferInstall(m, ring, base, len, pages, st, runs);
}

/** An iovec with a NULL base and no length: a sparse slot, nothing pinned. */
export const IO_SPARSE = 0;

/**
 * io_sqe_buffer_register() up to the pin: the pages the buffer spans, IO_SPARSE, or the errno
 * (io_validate_user_buf_range(); io_pin_pages()'s WARN_ON_ONCE(!nr_pages)).
 */
export function ioBufferPages(m: Machine, base: number, len: number): number {
  if (base === 0) {
    if (len !== 0) return m.refuse(-EFAULT, 'io_sqe_buffer_register', 'iov_base is NULL but iov_len is not 0');
    return IO_SPARSE;
  }
  // io_validate_user_buf_range()
  if (len === 0 || len > m.profile.ioUringMaxBuffer)
    return m.refuse(-EFAULT, 'io_validate_user_buf_range', 'buffer length is 0 or larger than 1 GiB');
  // check_add_overflow() on an unsigned long: a sum of exactly 2^64 wraps too.
  if (base + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE >= 2 ** 64)
    return m.refuse(-EOVERFLOW, 'io_validate_user_buf_range', 'buffer range overflows');
  // io_pin_pages()
  const first = Math.floor(base / PAGE_SIZE);
  const last = Math.ceil((base + len) / PAGE_SIZE);
  const nr = last - first;
  if (nr === 0) {
    m.warns.warn('io_pin_pages', '!nr_pages');
    return m.refuse(-EINVAL, 'io_pin_pages', 'the buffer spans no page (WARN_ON_ONCE(!nr_pages))');
  }
  return nr;
}

/**
 * io_sqe_buffer_register() after the pin of every page: the bvecs (one per page, or one per folio when
 * the buffer coalesces), the RLIMIT_MEMLOCK charge (on failure everything is unpinned) and pinned_vm.
 * `runs`: the leaf pages the pin left as runs (page_runs.ts; none when pages[] holds every entry).
 */
export function ioBufferInstall(
  m: Machine,
  ring: IoRing,
  base: number,
  len: number,
  pages: Int32Array,
  st: AcctState,
  runs: PageRuns = NO_RUNS,
): MappedUbuf | number {
  const nr = pages.length;
  let bvecPages: Int32Array;
  let coalesced = false;
  let folioShift = PAGE_SHIFT;
  let firstPageIdx = 0;
  // 6.1 keeps one bvec per page (profile.ioUringCoalesce).
  const c = m.profile.ioUringCoalesce && nr > 1 ? io_check_coalesce_buffer(m, pages, runs) : undefined;
  if (c && c.nr_pages_mid !== 1) {
    bvecPages = io_coalesce_buffer(m, pages, c, runs);
    coalesced = true;
    folioShift = c.folio_shift;
    firstPageIdx = c.first_folio_page_idx;
  } else {
    runs.fill(pages);
    bvecPages = imuBvecs(nr); // one bvec per page
    bvecPages.set(pages);
  }
  // A buffer io_check_coalesce_buffer() found to be all small folios costs 1 a page and leaves last_hpage
  // alone: io_buffer_account_pin()'s answer, without walking the pages a second time.
  const acct = c && c.nr_pages_mid === 1 ? nr : io_buffer_account_pin(m, bvecPages, st);
  if (ring.accountUser) {
    const r = chargeUserLockedVm(m, ring.owner, acct);
    if (r) {
      unpinUserFolioEach(m, bvecPages);
      return m.refuse(r, '__io_account_mem', 'locked_vm would exceed RLIMIT_MEMLOCK (no CAP_IPC_LOCK)');
    }
  }
  ring.owner.mm.pinned_vm += acct;
  return { ubuf: base, len, bvecPages, coalesced, folioShift, firstPageIdx, acctPages: acct };
}

/**
 * The bvec table of a new registered buffer (io_alloc_imu(): kvmalloc of the imu and its bvecs). A table
 * is never written after it is filled and lives as long as its buffer, so small ones are carved out of a
 * shared block, one after another: a separate ArrayBuffer for each costs about a microsecond, most of a
 * small registration's fixed work. A block is freed when no table in it is left.
 */
const IMU_BLOCK = 1 << 16;
let imuBlock = new Int32Array(0);
let imuUsed = 0;
function imuBvecs(nr: number): Int32Array {
  if (nr > IMU_BLOCK / 16) return new Int32Array(nr);
  if (imuUsed + nr > imuBlock.length) {
    imuBlock = new Int32Array(IMU_BLOCK);
    imuUsed = 0;
  }
  imuUsed += nr;
  return imuBlock.subarray(imuUsed - nr, imuUsed);
}

/**
 * io_pin_pages() (io_uring/memmap.c): pin_user_pages_fast(), all or nothing. Returns nr or -errno.
 * Leaf pages come back as runs (page_runs.ts), for io_check_coalesce_buffer() to cross by folio.
 */
function io_pin_pages(m: Machine, ring: IoRing, base: number, nr: number, pages: Int32Array, runs: PageRuns): number {
  return ioPinPagesDone(m, nr, pages, pin_user_pages_fast(m, ring.owner, base, nr, IO_PIN_FLAGS, pages, runs), runs);
}

/** The flags io_pin_pages() pins with. */
export const IO_PIN_FLAGS = FOLL_WRITE | FOLL_LONGTERM;

/**
 * io_pin_pages() after pin_user_pages_fast() returned `pinned`: nr, or the errno (a partial pin is
 * undone). `runs`: the leaf pages it left as runs, if any.
 */
export function ioPinPagesDone(m: Machine, nr: number, pages: Int32Array, pinned: number, runs = NO_RUNS): number {
  if (pinned !== nr) {
    if (pinned > 0) {
      runs.fill(pages);
      unpin_user_pages(m, pages, pinned);
      return m.refuse(
        -EFAULT,
        'io_pin_pages',
        `pin_user_pages_fast pinned ${pinned} of ${nr} pages (partial pins are refused)`,
      );
    }
    return pinned < 0 ? pinned : m.refuse(-EFAULT, 'io_pin_pages', 'pin_user_pages_fast pinned nothing');
  }
  return nr;
}

/**
 * 6.1's io_pin_pages() (io_uring/rsrc.c): pin_user_pages(FOLL_WRITE | FOLL_LONGTERM) with a vmas
 * array under mmap_read_lock, then, with everything pinned, every page's VMA must map the first one's
 * file (-EINVAL) and a file must be shmem or hugetlbfs (-EOPNOTSUPP); on either refusal, or a partial
 * pin (-EFAULT), the pages are unpinned again. Returns nr or -errno.
 */
function io_pin_pages6_1(m: Machine, ring: IoRing, base: number, nr: number, pages: Int32Array): number {
  return ioPinPages6_1Done(m, ring, base, nr, pages, pin_user_pages(m, ring.owner, base, nr, IO_PIN_FLAGS, pages));
}

/** 6.1's io_pin_pages() after pin_user_pages() returned `pret`: the VMA checks; nr, or the errno (unpinned). */
export function ioPinPages6_1Done(
  m: Machine,
  ring: IoRing,
  base: number,
  nr: number,
  pages: Int32Array,
  pret: number,
): number {
  let ret = 0;
  if (pret === nr) {
    const mm = ring.owner.mm;
    const start = base - (base % PAGE_SIZE);
    const file = mm.vma_lookup(start)!.file;
    for (let i = 0; i < nr; i++) {
      const vma = mm.vma_lookup(start + i * PAGE_SIZE)!;
      if (vma.file !== file) {
        ret = m.refuse(-EINVAL, 'io_pin_pages', 'the buffer spans VMAs of different files (vmas[i]->vm_file != file)');
        break;
      }
      if (file && !file.isShmemOrHugetlb) {
        ret = m.refuse(-EOPNOTSUPP, 'io_pin_pages', 'file-backed buffer that is neither shmem nor hugetlbfs');
        break;
      }
    }
  } else {
    ret = pret < 0 ? pret : m.refuse(-EFAULT, 'io_pin_pages', `pin_user_pages pinned ${pret} of ${nr} pages`);
  }
  if (ret) {
    if (pret > 0) unpin_user_pages(m, pages, pret);
    return ret;
  }
  return nr;
}

/**
 * io_pin_pages()'s pages[] array: kvmalloc'ed per call and freed once the bvecs are built, so one
 * scratch array (grown as needed) serves every call; the bvecs kept are copied out of it.
 */
let scratch = new Int32Array(0);
/** The leaf runs of io_pin_pages()'s array (page_runs.ts); one serves every call, like the array. */
const pinRuns = new PageRuns();
/** No leaf runs: every entry is in pages[]. */
const NO_RUNS = new PageRuns();
function pinScratch(nr: number): Int32Array {
  if (scratch.length < nr) scratch = new Int32Array(Math.max(nr, scratch.length * 2));
  return scratch.subarray(0, nr);
}

interface CoalesceData {
  nr_pages_head: number;
  nr_pages_mid: number;
  folio_shift: number;
  nr_folios: number;
  first_folio_page_idx: number;
}

/**
 * io_check_coalesce_buffer(): the pages form runs of consecutive subpages, one run per folio; the
 * first run may start mid-folio but must then reach the folio's end; every later folio starts at
 * subpage 0 and has the first folio's size; middle folios are covered entirely. Steps by folio: the
 * folio of a run is looked up once, and a page continues the run when it is the next PFN and still
 * inside that folio (what page_folio() == folio means for consecutive PFNs). The kernel compares
 * every entry; entries GUP left as leaf runs (page_runs.ts) are consecutive by construction, so a run
 * that continues the sequence is crossed in one step and a PMD-mapped folio costs O(1).
 */
export function io_check_coalesce_buffer(
  m: Machine,
  pages: Int32Array,
  runs: PageRuns = NO_RUNS,
): CoalesceData | undefined {
  const mem = m.mem;
  const n = pages.length;
  const entries = runs.reader(pages);
  const first = entries.read(0);
  let folio = mem.page_folio(first);
  let count = 1;
  let nr_folios = 1;
  const nr_pages_mid = mem.folio_nr_pages(folio);
  const folio_shift = PAGE_SHIFT + mem.folio_order(folio);
  const first_folio_page_idx = first - folio;
  let nr_pages_head = 0;
  let i = 1;
  if (nr_pages_mid === 1) {
    // The first folio is small: every run is one page, so the buffer qualifies (with nr_pages_mid 1:
    // not coalesced) exactly when every page is a small folio; the first large one has another size.
    const flags = mem.flags;
    if (runs.n) {
      for (; i < n; i++) if (flags[entries.read(i)]! & (PG_head | PG_tail)) return undefined;
    } else if (firstLargeEntry(flags, pages, i) < n) return undefined;
    return { nr_pages_head: 1, nr_pages_mid, folio_shift, nr_folios: n, first_folio_page_idx };
  }
  // The entry before i, kept rather than read again (the reader only moves forward).
  let prev = first;
  while (i < n) {
    // Extend the run: the pages up to the folio's end must follow pages[i - 1] one by one.
    const runStart = i;
    const stop = Math.min(n, i + (folio + mem.folio_nr_pages(folio) - 1 - prev));
    const expect0 = prev + 1 - runStart; // pages[j] must be expect0 + j
    i = entries.sequenceEnd(i, stop, expect0);
    count += i - runStart;
    if (i >= n) break;
    // pages[i] starts another run.
    if (nr_folios === 1) {
      if (first_folio_page_idx + count !== mem.folio_nr_pages(folio)) return undefined;
      nr_pages_head = count;
    } else if (count !== nr_pages_mid) {
      return undefined;
    }
    const next = entries.read(i);
    folio = mem.page_folio(next);
    if (PAGE_SHIFT + mem.folio_order(folio) !== folio_shift || next !== folio) return undefined;
    prev = next;
    count = 1;
    nr_folios++;
    i++;
  }
  if (nr_folios === 1) nr_pages_head = count;
  return { nr_pages_head, nr_pages_mid, folio_shift, nr_folios, first_folio_page_idx };
}

/**
 * The index of the first entry from i that is a page of a large folio (pages.length if none). Its own
 * function: a long loop V8 compiles on stack replacement must not be followed by code it has not seen
 * run (the result object), or every call deoptimises.
 */
function firstLargeEntry(flags: Uint16Array, pages: Int32Array, i: number): number {
  const large = PG_head | PG_tail; // in a local: V8 reloads and checks a module binding on every use
  for (; i < pages.length; i++) if (flags[pages[i]!]! & large) return i;
  return i;
}

/** io_coalesce_buffer(): one entry (and one pin) per folio; the other pins are dropped at once. */
function io_coalesce_buffer(m: Machine, pages: Int32Array, d: CoalesceData, runs: PageRuns): Int32Array {
  const out = imuBvecs(d.nr_folios);
  const entries = runs.reader(pages);
  let j = 0;
  let remaining = pages.length;
  for (let i = 0; i < d.nr_folios; i++) {
    const folio = m.mem.page_folio(entries.read(j));
    out[i] = folio;
    const nr = Math.min(i === 0 ? d.nr_pages_head : d.nr_pages_mid, remaining);
    if (nr > 1) unpin_user_folio(m, folio, nr - 1);
    j += nr;
    remaining -= nr;
  }
  return out;
}

/**
 * io_buffer_account_pin(): a small page costs 1; a compound page costs its whole size, unless it is
 * the last compound head accounted in this call (last_hpage), or appears earlier in this buffer's
 * pages, or in the installed table (headpage_already_acct()). During IORING_REGISTER_BUFFERS the
 * table is not installed yet, so a compound page reached again after another head is charged again.
 */
function io_buffer_account_pin(m: Machine, pages: Int32Array, st: AcctState): number {
  const mem = m.mem;
  let acct = 0;
  // headpage_already_acct()'s answers, kept as sets: the large folios among pages[0..i) and those of
  // the installed table (built on first need). Same answers as the kernel's scans. While the large
  // folios come in increasing order (a coalesced buffer's heads), a new one is above all before it and
  // cannot be among them: the set of those is built only when one comes out of order.
  let seen: Set<number> | undefined;
  let highest = NO_FOLIO;
  let installed: ReadonlySet<number> | undefined = st.table.length ? undefined : NO_HEADS;
  const flags = mem.flags;
  for (let i = 0; i < pages.length; i++) {
    const p = pages[i]!;
    if (!(flags[p]! & (PG_head | PG_tail))) {
      acct++; // a small folio (!PageCompound)
      continue;
    }
    const folio = mem.page_folio(p);
    const last = st.last_hpage;
    st.last_hpage = folio;
    if (folio <= highest) seen ??= largeFolios(m, pages, i);
    const already = seen !== undefined && seen.has(folio);
    seen?.add(folio);
    if (folio > highest) highest = folio;
    if (folio === last) continue;
    installed ??= installedHeads(m, st.table);
    if (already || installed.has(folio)) continue;
    acct += mem.folio_nr_pages(folio);
  }
  return acct;
}

/** An empty table's large folios. */
const NO_HEADS: ReadonlySet<number> = new Set<number>();

/** The large folios among pages[0..end). */
function largeFolios(m: Machine, pages: Int32Array, end: number): Set<number> {
  const mem = m.mem;
  const out = new Set<number>();
  for (let i = 0; i < end; i++) {
    const f = mem.page_folio(pages[i]!);
    if (mem.folio_test_large(f)) out.add(f);
  }
  return out;
}

/** The large folios the installed table's bvecs point into (headpage_already_acct()'s second scan). */
function installedHeads(m: Machine, table: MappedUbuf[]): Set<number> {
  const mem = m.mem;
  const out = new Set<number>();
  for (const b of table)
    for (const p of b.bvecPages) {
      const f = mem.page_folio(p);
      if (mem.folio_test_large(f)) out.add(f);
    }
  return out;
}

/** io_release_ubuf(): one unpin_user_folio(folio, 1) per bvec; the memlock charge is returned. */
export function io_release_ubuf(m: Machine, ring: IoRing, b: MappedUbuf): void {
  unpinUserFolioEach(m, b.bvecPages);
  if (ring.accountUser) unchargeUserLockedVm(m, ring.owner, b.acctPages);
  ring.owner.mm.pinned_vm -= b.acctPages;
}
