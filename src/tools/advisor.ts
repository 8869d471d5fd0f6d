// Which GUP call should a kernel-side user of user memory make? The five cases of
// Documentation/core-api/pin_user_pages.rst ("FOLL_PIN, FOLL_GET, FOLL_LONGTERM: when to use which
// flags") as a decision function, with the rules of mm/gup.c, mm/memory.c and include/linux/mm.h that
// bite each case (the pitfalls), and the refusals the kernel answers the recommended call with on some
// memory (check_vma_flags()), each with what works instead. Pure: answers in, advice out; the CLI
// (cli/advise.ts) asks the questions and tools/advisor_check.ts runs the advice on the model.

/** What backs the user buffer. 'movable': pages in ZONE_MOVABLE or a CMA area. */
export type MemoryKind = 'anon' | 'shmem' | 'file-disk' | 'fsdax' | 'hugetlb' | 'movable';
export const MEMORY_KINDS: readonly MemoryKind[] = ['anon', 'shmem', 'file-disk', 'fsdax', 'hugetlb', 'movable'];

/**
 * Memory whose mapping can be MAP_SHARED or MAP_PRIVATE, with different answers: a private mapping of
 * a file, memfd or hugetlbfs copies pages on write (do_wp_page()), a shared one writes the file's own
 * pages. 'anon' and 'movable' are private anonymous memory (MAP_SHARED|MAP_ANONYMOUS is shmem).
 */
export const SHARING_KINDS: readonly MemoryKind[] = ['shmem', 'file-disk', 'fsdax', 'hugetlb'];

export interface AdvisorInput {
  /** A device (or DMA engine) reads or writes the pages. */
  dma: boolean;
  /** The pages stay in use for an unbounded time (RDMA MR, VFIO mapping, io_uring fixed buffer). */
  longLived: boolean;
  /** The device or the kernel writes to the data within the pages. */
  writesData: boolean;
  /** The driver registers an MMU notifier for the range and can stop using it on invalidation. */
  mmuNotifier: boolean;
  /** Only struct page is touched (refcounts, flags, mapping), never the memory contents. */
  structPageOnly: boolean;
  /** What backs the buffer, if known; unknown memory gets every memory-specific pitfall, qualified. */
  memory?: MemoryKind;
  /** MAP_SHARED (true) or MAP_PRIVATE (false), if known: asked only where it matters (SHARING_KINDS). */
  shared?: boolean;
  /** Case 3: the device supports replayable page faults (undefined: both variants are described). */
  deviceFaults?: boolean;
}

/** Answers that contradict each other: a message, or undefined when the advisor accepts them. */
export function inputError(a: AdvisorInput): string | undefined {
  if (a.shared === true && a.memory !== undefined && !SHARING_KINDS.includes(a.memory)) {
    return (
      `memory ${a.memory} is private anonymous memory, so it cannot be MAP_SHARED ` +
      '(MAP_SHARED|MAP_ANONYMOUS memory is shmem: use memory shmem)'
    );
  }
  return undefined;
}

/** One memory setup the advice applies to: what backs the buffer, and how it is mapped. */
export interface MemorySetup {
  memory: MemoryKind;
  shared: boolean;
}

/** Every setup the answers allow: the one named, or all of them where memory or sharing is unknown. */
export function setupsFor(a: AdvisorInput): MemorySetup[] {
  const out: MemorySetup[] = [];
  for (const memory of a.memory ? [a.memory] : MEMORY_KINDS) {
    if (!SHARING_KINDS.includes(memory)) {
      if (a.shared !== true) out.push({ memory, shared: false });
      continue;
    }
    for (const shared of a.shared === undefined ? [true, false] : [a.shared]) out.push({ memory, shared });
  }
  return out;
}

/** "file-disk, MAP_SHARED": a setup in words. */
export function setupText(s: MemorySetup): string {
  return SHARING_KINDS.includes(s.memory) ? `${s.memory}, ${s.shared ? 'MAP_SHARED' : 'MAP_PRIVATE'}` : s.memory;
}

export type CaseNumber = 1 | 2 | 3 | 4 | 5;

export const CASE_TITLES: Record<CaseNumber, string> = {
  1: 'Direct IO (DIO)',
  2: 'RDMA',
  3: 'MMU notifier registration, with or without page faulting hardware',
  4: 'Pinning for struct page manipulation only',
  5: 'Pinning in order to write to the data within the page',
};

export interface Advice {
  case: CaseNumber;
  title: string;
  /** The entry point to call. */
  api: string;
  /** Flags the call site passes (FOLL_PIN / FOLL_GET are never passed: see `implied`). */
  flags: string[];
  /** What the API sets internally: FOLL_PIN, FOLL_GET, or nothing (no reference at all). */
  implied: string[];
  /** How to give the pages back. */
  release: string;
  /** The recommended call(s) as data, for tools/advisor_check.ts to run (two when either will do). */
  calls: AdvisedCall[];
  /** Where the kernel refuses the recommended call (check_vma_flags()), and what works instead. */
  refusals: Refusal[];
  why: string[];
  pitfalls: string[];
  /** Stable identifiers of the pitfalls, in the same order. */
  pitfallIds: string[];
}

/** The entry points the advisor recommends. */
export type AdvisedFn = 'pin_user_pages_fast' | 'pin_user_pages' | 'get_user_pages_fast' | 'hmm_range_fault';
/** How the recommended call's pages are given back. */
export type AdvisedRelease = 'unpin_user_pages' | 'unpin_user_pages_dirty_lock' | 'put_page' | 'nothing';

/** One recommended call: entry point, the flags the call site passes, and its release. */
export interface AdvisedCall {
  fn: AdvisedFn;
  /** FOLL_* flags for GUP; HMM_PFN_REQ_* default_flags for hmm_range_fault(). */
  flags: string[];
  release: AdvisedRelease;
  /** The range is covered by an mmu_interval_notifier (mmu_interval_notifier_insert()) meanwhile. */
  notifier: boolean;
}

/** "pin_user_pages_fast(FOLL_LONGTERM | FOLL_WRITE)": a call in C-like words. */
export function callText(c: AdvisedCall): string {
  return `${c.fn}(${c.flags.length ? c.flags.join(' | ') : '0'})`;
}

/** Stable identifiers of the refusals the advisor knows (each a check_vma_flags() rule). */
export type RefusalId = 'fsdax-longterm' | 'dirty-tracked-file-longterm-write';

/** A kernel rule that refuses the recommended call on some memory, and what works instead. */
export interface Refusal {
  id: RefusalId;
  /** The memory and the mapping it applies to. */
  memory: MemoryKind;
  shared: boolean;
  /** True when it applies only if the memory (or its sharing) is what `where` says: it was not given. */
  conditional: boolean;
  /** The setup in words ("file-disk, MAP_SHARED"). */
  where: string;
  /** The call refused, as text. */
  call: string;
  /** The errno the kernel returns, by name. */
  errno: string;
  /** The kernel function that refuses. */
  fn: string;
  /** The rule, why it exists, with the kernel functions that apply it. */
  text: string;
  /** What works instead, most direct first (each is re-advised and can be run on the model). */
  alternatives: Alternative[];
}

/** A way around a refusal: other answers (other memory, sharing, lifetime or case) and their catch. */
export interface Alternative {
  id: string;
  text: string;
  /** The answers that describe the alternative; advise() on them gives the call to make. */
  input: AdvisorInput;
}

interface Pitfall {
  id: string;
  /** The memory kinds the rule is about (undefined: any memory). */
  memory?: readonly MemoryKind[];
  /** The mapping the rule is about: MAP_SHARED (true), MAP_PRIVATE (false), or either (undefined). */
  shared?: boolean;
  /** How to say "if this applies" when the memory is unknown (default: "the memory is X or Y"). */
  when?: string;
  text: string;
}

interface Derived {
  pin: boolean;
  longterm: boolean;
  write: boolean;
}

/** Choose the case. Precedence follows the doc: notifier users need no pin; data access needs FOLL_PIN. */
function chooseCase(a: AdvisorInput): { c: CaseNumber; notes: string[] } {
  const notes: string[] = [];
  const dataAccess = a.dma || a.writesData;
  if (a.structPageOnly && dataAccess) {
    notes.push(
      'You said only struct page is touched, but also that the data is accessed (DMA or writes): ' +
        'data access needs FOLL_PIN, so the struct-page-only answer (Case 4) does not apply.',
    );
  }
  if (a.mmuNotifier) return { c: 3, notes };
  if (a.structPageOnly && !dataAccess) return { c: 4, notes };
  if (a.dma) return { c: a.longLived ? 2 : 1, notes };
  if (a.writesData) return { c: 5, notes };
  notes.push(
    'Nothing but reading the data: FOLL_PIN is "for short term pins on pages whose data *will* get accessed" ' +
      '(pin_user_pages.rst, "Another way of thinking about FOLL_GET, FOLL_PIN, and FOLL_LONGTERM"); ' +
      'process_vm_readv() does exactly this (process_vm_rw_single_vec() -> pin_user_pages_remote()). ' +
      'Case 5 is the nearest named case.',
  );
  return { c: 5, notes };
}

/**
 * advise(): the doc's case for these answers, the call to make, its flags and release, why, and the
 * kernel rules that can bite (each naming the kernel function that applies it).
 */
export function advise(a: AdvisorInput): Advice {
  const { c, notes } = chooseCase(a);
  const d: Derived = {
    pin: c === 1 || c === 2 || c === 5,
    longterm: (c === 2 || c === 5) && a.longLived,
    write: a.writesData,
  };
  const why: string[] = [...notes];
  let api: string;
  let flags: string[] = [];
  let implied: string[] = [];
  let release: string;

  switch (c) {
    case 1:
      api = 'pin_user_pages_fast()';
      implied = ['FOLL_PIN'];
      why.push(
        'Case 1 (Direct IO): the buffer is used by the device for a short, bounded time, so FOLL_PIN ' +
          'without FOLL_LONGTERM; call a pin_user_pages*() wrapper rather than passing FOLL_PIN ' +
          '(is_valid_gup_args() rejects FOLL_PIN at call sites).',
      );
      why.push(
        'The block layer does this for O_DIRECT: iov_iter_extract_pages() -> pin_user_pages_fast() for ' +
          'user-backed iterators, released by bio_release_pages() (BIO_PAGE_PINNED).',
      );
      why.push(
        'pin_user_pages_fast() needs no mmap_lock (gup_fast_fallback() walks the page tables locklessly ' +
          'and falls back to __gup_longterm_locked()); pin_user_pages() needs mmap_read_lock() held.',
      );
      break;
    case 2:
      api = 'pin_user_pages_fast()';
      implied = ['FOLL_PIN'];
      flags = ['FOLL_LONGTERM'];
      why.push(
        'Case 2 (RDMA): the device keeps using the pages for an unbounded time with no synchronization ' +
          'with folio_mkclean() or munmap(), so FOLL_PIN | FOLL_LONGTERM; FOLL_LONGTERM is only legal with ' +
          'FOLL_PIN (is_valid_gup_args()).',
      );
      why.push(
        'FOLL_LONGTERM makes __gup_longterm_locked() run check_and_migrate_movable_pages(): pages that ' +
          'folio_is_longterm_pinnable() rejects (ZONE_MOVABLE, CMA, fsdax) are migrated or refused before ' +
          'the pin is kept, so a long-lived pin never blocks memory offlining or CMA.',
      );
      why.push(
        'In tree: ib_umem_get() (RDMA), io_pin_pages() (io_uring fixed buffers) call ' +
          'pin_user_pages_fast(FOLL_LONGTERM [| FOLL_WRITE]); VFIO type1 uses pin_user_pages_remote(FOLL_LONGTERM).',
      );
      break;
    case 3:
      if (a.deviceFaults === true) {
        api = 'hmm_range_fault() with an mmu_interval_notifier (no GUP at all)';
        release = 'nothing to release: on invalidation remove the range from the device page tables';
      } else if (a.deviceFaults === false) {
        api = 'get_user_pages_fast() plus mmu_interval_notifier_insert()';
        implied = ['FOLL_GET'];
        release = "put_page() for each page, from the notifier's invalidate callback (after stopping the device)";
      } else {
        api =
          'hmm_range_fault() + mmu_interval_notifier if the device has replayable page faults; ' +
          'otherwise get_user_pages_fast() + mmu_interval_notifier_insert()';
        release =
          'replayable faults: nothing (unmap the range from the device page tables on invalidation); ' +
          'otherwise put_page() each page from the invalidate callback, after stopping the device';
      }
      why.push(
        'Case 3: the MMU notifier tells the driver when a CPU mapping changes (munmap, migration, ' +
          'COW, folio_mkclean()); the driver stops using the range then, so it synchronizes with the mm and ' +
          'file systems itself and "neither flag needs to be set" (no FOLL_PIN, no FOLL_LONGTERM).',
      );
      why.push(
        'With replayable faults pinning is avoided entirely (the doc calls this ideal): hmm_range_fault() ' +
          'takes no page references, and the device refaults after an invalidation.',
      );
      if (a.writesData) {
        if (a.deviceFaults === false) flags = ['FOLL_WRITE'];
        why.push(
          'The pages are written: ask for writable mappings so COW is broken first (FOLL_WRITE for ' +
            'get_user_pages_fast(); HMM_PFN_REQ_WRITE in hmm_range.default_flags for hmm_range_fault()).',
        );
      }
      if (a.dma && a.longLived)
        why.push(
          'This is also the way to keep a long-lived device mapping without ' +
            "FOLL_LONGTERM's restrictions (e.g. RDMA on-demand paging, ODP).",
        );
      break;
    case 4:
      api = 'get_user_pages_fast()';
      implied = ['FOLL_GET'];
      release = 'put_page() for each page';
      why.push(
        'Case 4: only struct page is used (refcount, flags, mapping), never the memory contents, so ' +
          'normal GUP is sufficient and neither FOLL_PIN nor FOLL_LONGTERM is set; get_user_pages*() add ' +
          'FOLL_GET themselves when pages[] is non-NULL (is_valid_gup_args()).',
      );
      why.push(
        'A FOLL_GET reference adds 1 to the folio refcount (try_grab_folio()): it keeps the page ' +
          'allocated but tells folio_maybe_dma_pinned() nothing.',
      );
      break;
    case 5:
      api = a.longLived ? 'pin_user_pages_fast()' : 'pin_user_pages() (mmap_read_lock held) or pin_user_pages_fast()';
      implied = ['FOLL_PIN'];
      if (a.longLived) flags = ['FOLL_LONGTERM'];
      why.push(
        'Case 5: even without DMA, "pin, write to a page\'s data, unpin" needs FOLL_PIN so that ' +
          'writeback (folio_mkclean(), folio_maybe_dma_pinned()) can tell the page is in use; ' +
          "get_user_pages() + put_page() is the doc's INCORRECT example.",
      );
      if (a.longLived) why.push('Kept for an unbounded time: add FOLL_LONGTERM, with the Case 2 migration rules.');
      break;
  }
  if (d.pin && d.write) {
    flags = [...flags, 'FOLL_WRITE'];
    why.push(
      'FOLL_WRITE because the pages are written: GUP then faults with FAULT_FLAG_WRITE ' +
        '(faultin_page() -> handle_mm_fault() -> do_wp_page()), breaking COW and replacing the shared zero page, so ' +
        'the writes land in pages only this process maps.',
    );
  } else if (d.pin && d.longterm) {
    why.push(
      'No FOLL_WRITE: the pages are only read. A read-only FOLL_LONGTERM pin never hands out the shared zero ' +
        'page or a ' +
        'page-cache page of a private mapping: gup_must_unshare() asks for an unshare fault first, which gives this ' +
        'process its own ' +
        'anonymous copy, so the pin stays on the page the process keeps mapping.',
    );
  } else if (d.pin) {
    why.push(
      'No FOLL_WRITE: the pages are only read. A short-term read-only pin of a never-written anonymous page ' +
        'returns the shared zero page (pretend-pinned: try_grab_folio() leaves its refcount alone).',
    );
  }
  if (c === 1 || c === 2 || c === 5) {
    release = d.write
      ? 'unpin_user_pages_dirty_lock(pages, npages, true) (marks the folios dirty, then unpins)'
      : 'unpin_user_pages(pages, npages)';
    if (c === 2 && d.write)
      release += '; or unpin_user_page_range_dirty_lock() per contiguous range, as ib_umem_release() does';
  }
  const calls = advisedCalls(a, c, d);
  const refusals = refusalsFor(a, calls);
  const pit = pitfalls(a, c, d);
  return {
    case: c,
    title: CASE_TITLES[c],
    api: api!,
    flags,
    implied,
    release: release!,
    calls,
    refusals,
    why,
    pitfalls: pit.map((p) => p.text),
    pitfallIds: pit.map((p) => p.id),
  };
}

/** The recommended call(s) as data: what api/flags/release say in words. */
function advisedCalls(a: AdvisorInput, c: CaseNumber, d: Derived): AdvisedCall[] {
  const pinFlags = [...(d.longterm ? ['FOLL_LONGTERM'] : []), ...(d.write ? ['FOLL_WRITE'] : [])];
  const pin = (fn: AdvisedFn): AdvisedCall => ({
    fn,
    flags: pinFlags,
    release: d.write ? 'unpin_user_pages_dirty_lock' : 'unpin_user_pages',
    notifier: false,
  });
  switch (c) {
    case 1:
    case 2:
      return [pin('pin_user_pages_fast')];
    case 5:
      return d.longterm ? [pin('pin_user_pages_fast')] : [pin('pin_user_pages'), pin('pin_user_pages_fast')];
    case 4:
      return [{ fn: 'get_user_pages_fast', flags: [], release: 'put_page', notifier: false }];
    case 3: {
      const hmm: AdvisedCall = {
        fn: 'hmm_range_fault',
        flags: d.write ? ['HMM_PFN_REQ_FAULT', 'HMM_PFN_REQ_WRITE'] : ['HMM_PFN_REQ_FAULT'],
        release: 'nothing',
        notifier: true,
      };
      const get: AdvisedCall = {
        fn: 'get_user_pages_fast',
        flags: d.write ? ['FOLL_WRITE'] : [],
        release: 'put_page',
        notifier: true,
      };
      if (a.deviceFaults === true) return [hmm];
      if (a.deviceFaults === false) return [get];
      return [hmm, get];
    }
  }
}

/** The answers with other memory (and sharing): a clean input, no `shared` where it means nothing. */
function withMemory(a: AdvisorInput, memory: MemoryKind, shared: boolean | undefined): AdvisorInput {
  const out: AdvisorInput = { ...a, memory };
  delete out.shared;
  if (shared !== undefined && SHARING_KINDS.includes(memory)) out.shared = shared;
  return out;
}

/**
 * Where check_vma_flags() refuses the recommended call: FOLL_LONGTERM on fsdax (-EOPNOTSUPP), and
 * FOLL_LONGTERM | FOLL_WRITE on a MAP_SHARED disk file (-EFAULT). Nothing else the advisor recommends is
 * refused by the kernel on any memory it knows; tools/advisor_check.ts holds the model to that.
 */
function refusalsFor(a: AdvisorInput, calls: AdvisedCall[]): Refusal[] {
  const call = calls.find((x) => x.flags.includes('FOLL_LONGTERM'));
  if (!call) return [];
  const setups = setupsFor(a);
  const out: Refusal[] = [];
  const text = callText(call);
  if (setups.some((s) => s.memory === 'fsdax' && s.shared)) {
    const base = withMemory(a, 'fsdax', true);
    out.push({
      id: 'fsdax-longterm',
      memory: 'fsdax',
      shared: true,
      conditional: a.memory === undefined || a.shared === undefined,
      where: 'fsdax, MAP_SHARED',
      call: text,
      errno: 'EOPNOTSUPP',
      fn: 'check_vma_flags',
      text:
        `${text} on a MAP_SHARED DAX (fsdax) file mapping fails with -EOPNOTSUPP: GUP-fast cannot take fsdax ` +
        "folios for a long-term pin (they are not folio_is_longterm_pinnable()), and the slow path's " +
        'check_vma_flags() refuses FOLL_LONGTERM whenever vma_is_fsdax(), read or write. DAX has no page cache ' +
        'of its own, so a long-term pin would hold file system blocks in place (the NOTE under Case 2 of ' +
        'pin_user_pages.rst).',
      alternatives: [
        {
          id: 'short-term',
          text:
            'Pin for each I/O only (no FOLL_LONGTERM) and unpin when it completes: check_vma_flags() allows ' +
            'short-term pins of DAX pages, as O_DIRECT into a DAX mapping does.',
          input: { ...base, longLived: false },
        },
        {
          id: 'case-3',
          text:
            'Do not pin (Case 3): register an mmu_interval_notifier and mirror the range with hmm_range_fault() ' +
            '(replayable device faults, like RDMA ODP), or take FOLL_GET references you drop in the invalidate ' +
            'callback; the notifier tells you when the file system moves or truncates the blocks.',
          input: { ...base, mmuNotifier: true },
        },
        {
          id: 'shmem-memory',
          text:
            'Keep the long-lived buffer in DRAM: memfd / tmpfs (shmem) memory, copied to or from the DAX file ' +
            'when the device is done.',
          input: withMemory(base, 'shmem', true),
        },
        {
          id: 'hugetlb-memory',
          text: 'Or hugetlbfs / MAP_HUGETLB memory (needs free huge pages in the pool).',
          input: withMemory(base, 'hugetlb', true),
        },
        {
          id: 'anon-memory',
          text: 'Or private anonymous memory (MAP_PRIVATE | MAP_ANONYMOUS).',
          input: withMemory(base, 'anon', undefined),
        },
      ],
    });
  }
  if (call.flags.includes('FOLL_WRITE') && setups.some((s) => s.memory === 'file-disk' && s.shared)) {
    const base = withMemory(a, 'file-disk', true);
    out.push({
      id: 'dirty-tracked-file-longterm-write',
      memory: 'file-disk',
      shared: true,
      conditional: a.memory === undefined || a.shared === undefined,
      where: 'file-disk, MAP_SHARED',
      call: text,
      errno: 'EFAULT',
      fn: 'check_vma_flags',
      text:
        `${text} on a MAP_SHARED mapping of a disk file (ext4, xfs, btrfs...) fails with -EFAULT: ` +
        'check_vma_flags() -> writable_file_mapping_allowed() refuses a FOLL_PIN | FOLL_LONGTERM write pin when ' +
        'vma_needs_dirty_tracking() (a shared, writable mapping whose file system wants to know before a page ' +
        'is written). Writeback would clean and write-protect the pages (folio_mkclean()) while the device ' +
        "keeps writing through its pin, behind the file system's back. GUP-fast declines the same folios " +
        '(gup_fast_folio_allowed()) and the slow path refuses. A read-only long-term pin and short-term pins ' +
        'are allowed; shmem and hugetlbfs need no dirty tracking.',
      alternatives: [
        {
          id: 'shmem-memory',
          text:
            'Put the buffer in memfd / tmpfs / MAP_SHARED | MAP_ANONYMOUS memory (shmem): it has no writeback, ' +
            'so vma_needs_dirty_tracking() is false and the long-term write pin is allowed, MAP_SHARED included.',
          input: withMemory(base, 'shmem', true),
        },
        {
          id: 'hugetlb-memory',
          text: 'Or hugetlbfs / MAP_HUGETLB memory: no dirty tracking either (needs free huge pages in the pool).',
          input: withMemory(base, 'hugetlb', true),
        },
        {
          id: 'anon-memory',
          text:
            'Or private anonymous memory: copy the file data in, and write the result back with write(2) or ' +
            'O_DIRECT when the device is done.',
          input: withMemory(base, 'anon', undefined),
        },
        {
          id: 'private-mapping',
          text:
            'Map the file MAP_PRIVATE: FOLL_WRITE breaks COW at pin time (do_wp_page() -> wp_page_copy()), so ' +
            'the pin is on anonymous copies and is allowed, but what the device writes never reaches the file.',
          input: withMemory(base, 'file-disk', false),
        },
        {
          id: 'short-term',
          text:
            'Pin for each I/O only (no FOLL_LONGTERM) and unpin when it completes: check_vma_flags() allows it, ' +
            'with the writeback caveat of short-term file write pins (see the pitfalls of that advice).',
          input: { ...base, longLived: false },
        },
        {
          id: 'case-3',
          text:
            'Do not pin (Case 3): register an mmu_interval_notifier and mirror the range with hmm_range_fault() ' +
            '(replayable device faults, like RDMA ODP), or take FOLL_GET references you drop in the invalidate ' +
            'callback; the notifier tells you when writeback cleans the pages, so the file system stays in charge.',
          input: { ...base, mmuNotifier: true },
        },
      ],
    });
  }
  return out;
}

/** The rules that apply; memory-specific ones only for that memory (all of them, qualified, if unknown). */
function pitfalls(a: AdvisorInput, c: CaseNumber, d: Derived): Pitfall[] {
  const all: Pitfall[] = [];
  const add = (p: Pitfall) => all.push(p);

  if (d.pin) {
    add({
      id: 'foll-pin-internal',
      text:
        'Never pass FOLL_PIN (or FOLL_GET) yourself: is_valid_gup_args() WARNs and fails ' +
        'the call (-EINVAL; pin_user_pages(), _remote() and _unlocked() return 0 instead). FOLL_LONGTERM with ' +
        'get_user_pages*() is refused the same way.',
    });
    add({
      id: 'partial-pin',
      text:
        'The return value may be short of nr_pages (a hole, a VMA that refuses, a fault): ' +
        'pin the rest in a loop or unpin_user_pages(pages, ret) and fail (io_pin_pages() turns a short pin into ' +
        '-EFAULT); a negative value means nothing was pinned (__get_user_pages_locked(), gup_fast_fallback()).',
    });
  }
  if (d.longterm) {
    // fsdax and dirty-tracked shared files are refusals (refusalsFor()), said before everything else.
    add({
      id: 'fsdax-private-longterm',
      memory: ['fsdax'],
      shared: false,
      text:
        'A MAP_PRIVATE fsdax mapping is refused too, but only by the slow path: check_vma_flags() returns ' +
        '-EOPNOTSUPP for FOLL_LONGTERM on any vma_is_fsdax() mapping, while GUP-fast (gup_fast_pte_range()) ' +
        'never looks at the VMA and pins pages already copied on write (anonymous DRAM pages). So ' +
        'pin_user_pages_fast() succeeds only if every page was written first (MADV_POPULATE_WRITE), returns ' +
        'a short count when GUP-fast stops partway, and pin_user_pages() always fails. Do not rely on it: ' +
        'use the alternatives of the MAP_SHARED case.',
    });
    if (!d.write) {
      add({
        id: 'longterm-ro-private-cow',
        memory: ['file-disk', 'shmem'],
        shared: false,
        text:
          'Read-only FOLL_LONGTERM pin of a ' +
          'MAP_PRIVATE file mapping: gup_must_unshare() breaks COW at pin time, so the pin is on a private anonymous ' +
          'copy and later changes to the file are not seen through it.',
      });
    }
    add({
      id: 'movable-migration',
      memory: ['movable', 'anon', 'shmem', 'file-disk'],
      when: 'the pages can sit in ZONE_MOVABLE or CMA (movable allocations: anon, shmem, page cache)',
      text:
        'ZONE_MOVABLE / CMA pages ' +
        'are not folio_is_longterm_pinnable(): check_and_migrate_movable_pages() drops the pins, migrates the folios ' +
        '(migrate_pages(), MR_LONGTERM_PIN) and __gup_longterm_locked() pins again. Expect pin latency; a migration ' +
        'failure returns -ENOMEM (-EBUSY for device-coherent memory) with nothing pinned. GUP-fast cannot take these ' +
        'pages (try_grab_folio_fast()) and falls back to the slow path.',
    });
    add({
      id: 'hugetlb-longterm-migration',
      memory: ['hugetlb'],
      text:
        'hugetlb pages in CMA or ZONE_MOVABLE are ' +
        'migrated too (folio_isolate_hugetlb() in collect_longterm_unpinnable_folios()): the pool needs a free huge ' +
        'page in pinnable memory, or the pin fails with -ENOMEM.',
    });
    add({
      id: 'memlock-accounting',
      text:
        'A long-lived pin is locked memory: account it to the user (mm->pinned_vm ' +
        'against RLIMIT_MEMLOCK unless CAP_IPC_LOCK) as ib_umem_get(), vfio_lock_acct() and io_uring do; ' +
        'GUP does not ' +
        'account it for you. nr_foll_pin_acquired - nr_foll_pin_released in /proc/vmstat stays above 0 while held.',
    });
  }
  if (d.pin) {
    add({
      id: 'fork-snapshot',
      memory: ['anon', 'movable', 'shmem', 'file-disk', 'fsdax'],
      shared: false,
      when: 'the pages are private anonymous memory (anon, or pages written through a MAP_PRIVATE mapping)',
      text:
        'fork(): the first FOLL_PIN sets MMF_HAS_PINNED on ' +
        'the mm for good; from then on copy_present_page() gives the child its own copy of every exclusive anon page ' +
        'that folio_needs_cow_for_dma() says may be pinned. The parent keeps the pinned page; the child sees a ' +
        'snapshot taken at fork time, not later DMA. Use MADV_DONTFORK on the buffer if the child does not need it.',
    });
    add({
      id: 'fork-hugetlb-copy',
      memory: ['hugetlb'],
      shared: false,
      text:
        'fork() with pinned private hugetlb pages: ' +
        "copy_hugetlb_page_range() allocates the child's copy outside the reservation; an exhausted pool " +
        'makes fork() ' +
        'fail (-ENOMEM / -ENOSPC).',
    });
    add({
      id: 'fork-shared-not-copied',
      memory: ['shmem', 'file-disk', 'fsdax', 'hugetlb'],
      shared: true,
      text:
        'Shared and file pages are not copied ' +
        'at fork (only anon pages are, in copy_present_ptes()): parent and child keep seeing the same pinned ' +
        'page, DMA ' +
        'writes included.',
    });
    if (!d.write) {
      add({
        id: 'ro-pin-unshare',
        memory: ['anon', 'movable', 'hugetlb'],
        shared: false,
        text:
          'A read-only FOLL_PIN of an anon page ' +
          'shared with a parent or child (after fork) is unshared first: gup_must_unshare() -> FAULT_FLAG_UNSHARE ' +
          'gives this process its own exclusive copy, and the pin is on that copy.',
      });
    }
    add({
      id: 'maybe-dma-pinned-false-positive',
      text:
        'folio_maybe_dma_pinned() is exact only for large folios ' +
        '(_pincount); for a small folio it is refcount >= GUP_PIN_COUNTING_BIAS (1024), so 1024 plain references ' +
        'also read as pinned (and fork copies such pages). False positives are by design; false negatives are not.',
    });
    if (d.write) {
      add({
        id: 'dirty-on-release',
        text:
          'Pages the device or kernel wrote must be marked dirty before the pin goes: ' +
          'unpin_user_pages_dirty_lock(pages, n, true) calls folio_mark_dirty() under the folio lock. A plain ' +
          'unpin_user_pages() leaves clean page-cache (and clean swap-cache anon) pages clean, and reclaim then ' +
          'drops the written data.',
      });
      if (!d.longterm) {
        add({
          id: 'short-term-file-write',
          memory: ['file-disk'],
          shared: true,
          text:
            'A short-term FOLL_WRITE pin of a MAP_SHARED disk file is allowed (check_vma_flags() refuses only ' +
            'FOLL_LONGTERM write pins there), but the file system is not told about the writes: writeback can ' +
            'clean the folio and write-protect its PTEs (folio_mkclean()) while the pin is held, and data written ' +
            'after that is saved only because unpin_user_pages_dirty_lock() dirties the folio again. What ' +
            'writeback should do with pinned folios is still a TODO in pin_user_pages.rst: keep the pin as short ' +
            'as the I/O.',
        });
      }
    }
  }
  if (d.write) {
    add({
      id: 'private-write-copies',
      memory: ['shmem', 'file-disk', 'fsdax', 'hugetlb'],
      shared: false,
      when: 'the mapping is a MAP_PRIVATE mapping of a file, memfd or hugetlbfs',
      text:
        'Writing through a MAP_PRIVATE mapping breaks COW first (FOLL_WRITE or a write fault: do_wp_page() -> ' +
        'wp_page_copy()): the pages you get are private anonymous copies, so what is written reaches neither ' +
        'the file nor its other mappings.',
    });
  }
  if (c === 5 || (d.pin && d.write)) {
    add({
      id: 'get-put-writeback-race',
      text:
        'Writing the data under a FOLL_GET reference (get_user_pages() + ' +
        "put_page()) is the doc's Case 5 hazard: writeback and folio_mkclean() see no pin (folio_maybe_dma_pinned() " +
        'is false), so the page can be cleaned, written back or have its buffers freed while you still write: lost ' +
        'data or file system corruption. FOLL_PIN (pin_user_pages*()) is what makes the page recognisable.',
    });
  }
  if (c === 4) {
    add({
      id: 'get-is-not-pin',
      text:
        'Do not touch the contents under these references: FOLL_GET pages are invisible ' +
        'to folio_maybe_dma_pinned() and may be migrated, written back or COW-replaced meanwhile (the mapping can ' +
        'point at a different page after the next write fault). Accessing the data is Case 1, 2 or 5.',
    });
    add({
      id: 'maybe-dma-pinned-false-positive',
      text:
        'Many FOLL_GET references on a small folio (>= 1024) make ' +
        'folio_maybe_dma_pinned() report it pinned (refcount >= GUP_PIN_COUNTING_BIAS): a false positive that makes ' +
        'fork copy the page if the mm has MMF_HAS_PINNED.',
    });
    add({
      id: 'longterm-needs-pin',
      text:
        'FOLL_LONGTERM is not for FOLL_GET users: get_user_pages*(FOLL_LONGTERM) ' +
        'WARNs in is_valid_gup_args() and fails with -EINVAL.',
    });
  }
  if (c === 3) {
    add({
      id: 'no-pin-needed',
      text:
        'No FOLL_PIN and no FOLL_LONGTERM: the notifier is the synchronization. Pinning ' +
        "here would only add FOLL_LONGTERM's refusals (check_vma_flags(): fsdax, dirty-tracked files) and " +
        'migrations (check_and_migrate_movable_pages()) for nothing.',
    });
    add({
      id: 'notifier-must-drop-refs',
      text:
        'If you do take FOLL_GET references (no replayable faults), drop them ' +
        'in the invalidate callback (mmu_interval_notifier_ops.invalidate) after the device has stopped: a reference ' +
        'held past invalidation keeps the old page alive and makes migration fail (folio_migrate_mapping() sees the ' +
        'extra reference).',
    });
    add({
      id: 'hmm-retry',
      text:
        'hmm_range_fault() can race an invalidation: take mmu_interval_read_begin() before it ' +
        'and check mmu_interval_read_retry() under the driver lock before programming the device; -EBUSY means retry.',
    });
  }
  // Memory-specific rules: only those about this memory and mapping; all of them, qualified, when unknown.
  const shared = a.memory !== undefined && !SHARING_KINDS.includes(a.memory) ? false : a.shared;
  const out: Pitfall[] = [];
  const seen = new Set<string>();
  for (const p of all) {
    if (seen.has(p.id)) continue;
    if (p.memory && a.memory !== undefined && !p.memory.includes(a.memory)) continue;
    if (p.shared !== undefined && shared !== undefined && p.shared !== shared) continue;
    seen.add(p.id);
    const ifs: string[] = [];
    if (p.memory && a.memory === undefined) ifs.push(p.when ?? `the memory is ${p.memory.join(' or ')}`);
    if (p.shared !== undefined && shared === undefined && !(p.when && a.memory === undefined))
      ifs.push(`the mapping is ${p.shared ? 'MAP_SHARED' : 'MAP_PRIVATE'}`);
    out.push(ifs.length ? { ...p, text: `If ${ifs.join(' and ')}: ${p.text}` } : p);
  }
  return out;
}
