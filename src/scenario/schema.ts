// The scenario file format (DESIGN.md "Scenario files"): a machine, optional process settings, and
// steps. Strict: unknown ops and fields are errors. Sizes accept K/M/G suffixes. Every op and field
// carries its description (unit, default, meaning): `gupsim schema` hands them to editors as hover
// text and docs/scenarios.md is generated from them (scripts/docs.mjs), so the three cannot drift.

import { z } from 'zod';
import { kernelName, machineMemoryOk, sizeField } from './schema_functions.js';
import { SCHEMA_VERSION } from './version.js';

export { SCHEMA_VERSION };

/** Field metadata: what it means, its unit and its default, in words. */
interface FieldDoc {
  description: string;
  unit?: string;
  default?: string;
}
const doc = <T extends z.ZodType>(t: T, description: string, unit?: string, dflt?: string): T =>
  t.meta({ description, ...(unit ? { unit } : {}), ...(dflt !== undefined ? { default_text: dflt } : {}) });
export type { FieldDoc };

// The transform and the check are plain functions (schema_functions.ts) that the parser generated from this
// schema at build time calls too.
const size = z.union([z.number(), z.string()]).transform(sizeField);
/** A signed count (unpin counts may be an errno, to model that misuse). */
const int = z.number().int();
const name = z.string().min(1);
const BYTES = 'bytes (K, M, G suffixes: powers of two)';

const thp = z.enum(['always', 'madvise', 'never']);
const mthpPolicy = z.enum(['always', 'inherit', 'madvise', 'never']);
const mthpSize = z.enum(['16K', '32K', '64K', '128K', '256K', '512K', '1M', '2M']);

export const MachineSchema = z.strictObject({
  memory: doc(
    size.refine(machineMemoryOk, 'machine memory must be at least 8 MiB').optional(),
    'Physical memory of the machine.',
    BYTES,
    '4GiB',
  ),
  movable: doc(size.optional(), 'Part of memory in ZONE_MOVABLE (FOLL_LONGTERM migrates pages out of it).', BYTES, '0'),
  cma: doc(size.optional(), 'Part of memory in a CMA area (FOLL_LONGTERM migrates pages out of it).', BYTES, '0'),
  pmem: doc(size.optional(), 'Persistent memory for fsdax files (ZONE_DEVICE; FOLL_LONGTERM is refused).', BYTES, '0'),
  thp: doc(thp.optional(), '/sys/kernel/mm/transparent_hugepage/enabled.', undefined, 'madvise'),
  mthp: doc(
    z.partialRecord(mthpSize, mthpPolicy).optional(),
    'Per-size mTHP policy (hugepages-<size>kB/enabled), e.g. { 64K: always }.',
    undefined,
    'never for every size but 2M (inherit)',
  ),
  use_zero_page: doc(
    z.boolean().optional(),
    'transparent_hugepage/use_zero_page: read faults of THP-eligible ranges map the huge zero folio.',
    undefined,
    'true',
  ),
  zero_page: doc(
    z.boolean().optional(),
    'Whether read faults of private anonymous memory map the shared zero page; false models a kernel where ' +
      'mm_forbids_zeropage() holds (s390 KVM guests; hosts booted to forbid it): reads allocate zeroed pages.',
    undefined,
    'true',
  ),
  shmem_thp: doc(
    z.enum(['never', 'always', 'advise']).optional(),
    'transparent_hugepage/shmem_enabled.',
    undefined,
    'never',
  ),
  hugetlb: doc(
    z
      .strictObject({
        '2M': doc(int.nonnegative().optional(), 'Pages in the 2 MiB hugetlb pool.', 'pages', '0'),
        '1G': doc(int.nonnegative().optional(), 'Pages in the 1 GiB hugetlb pool.', 'pages', '0'),
      })
      .optional(),
    'hugetlb pool sizes (nr_hugepages per size).',
  ),
  hugetlb_overcommit: doc(
    z
      .strictObject({
        '2M': doc(int.nonnegative().optional(), 'Surplus 2 MiB pages the pool may add on demand.', 'pages', '0'),
        '1G': doc(int.nonnegative().optional(), 'Surplus 1 GiB pages the pool may add on demand.', 'pages', '0'),
      })
      .optional(),
    'nr_overcommit_hugepages per size: surplus huge pages allocated at mmap or fault when the pool is short.',
  ),
});

/** The counters of /sys/kernel/mm/hugepages/hugepages-<size>kB/ an expect step can check. */
export const HUGETLB_COUNTERS = [
  'nr_hugepages',
  'free_hugepages',
  'resv_hugepages',
  'surplus_hugepages',
  'nr_overcommit_hugepages',
] as const;
const hugetlbCounters = z.partialRecord(z.enum(HUGETLB_COUNTERS), int);

export const ProcessSchema = z.strictObject({
  root: doc(
    z.boolean().optional(),
    'Has CAP_IPC_LOCK (memlock limits do not apply). false also makes the user "user".',
    undefined,
    'true',
  ),
  memlock: doc(size.optional(), 'RLIMIT_MEMLOCK.', BYTES, '8MiB'),
  user: doc(name.optional(), 'The user (user_struct) io_uring charges locked memory to.', undefined, 'root'),
});

const common = {
  label: doc(z.string().optional(), 'A name for the step: expect steps and --step refer to it.'),
  repeat: doc(int.min(1).optional(), 'Run the step this many times; the result shown is the last run’s.', 'times', '1'),
};
const range = {
  offset: doc(size.optional(), 'Start of the range, from the start of the region.', BYTES, '0'),
  length: doc(size.optional(), 'Length of the range.', BYTES, 'to the end of the region'),
  pages: doc(int.nonnegative().optional(), 'Length of the range in pages (when length is not given).', 'pages'),
};
const proc = doc(name, 'The process doing it (created on first use).');
const region = doc(name, 'A region named by an earlier mmap.');
const flags = doc(
  z.array(z.string()).or(int).optional(),
  'FOLL_* flags, by name (FOLL_WRITE or WRITE) or as a number.',
  undefined,
  'none',
);
const prot = z.enum(['rw', 'r', 'none']);
/** A page's contents: one 32-bit word standing for its bytes (0 .. 0xffffffff; YAML takes 0x.. too). */
const word = z.number().int().min(0).max(0xffffffff);
const VALUE = 'a 32-bit word standing for the bytes of a page';
const value = (what: string) =>
  doc(word.optional(), `${what} (${VALUE}).`, undefined, 'a fresh value unique to this step');
const fileRange = {
  offset: doc(size.optional(), 'Start of the range in the file.', BYTES, '0'),
  length: doc(size.optional(), 'Length of the range in the file.', BYTES, 'to the end of the file'),
};

/** A step schema: its op, what it does (the description), and its fields. */
const step = <O extends string, T extends z.ZodRawShape>(op: O, description: string, shape: T) =>
  z.strictObject({ op: doc(z.literal(op), description), ...common, ...shape }).meta({ description });

const gupShape = {
  proc,
  region,
  ...range,
  flags,
  as: doc(
    name.optional(),
    'The handle that keeps the pages (a later step with the same name and kind adds to it).',
    undefined,
    'a handle nobody releases',
  ),
};
const remoteShape = { ...gupShape, target: doc(name, 'The process whose pages are taken.') };

const deviceRange = {
  offset: doc(
    size.optional(),
    "Start in the object's range: bytes from its start (a GUP handle: entry index x 4096; VFIO: the IOVA offset).",
    BYTES,
    '0',
  ),
  length: doc(size.optional(), 'Length of the range.', BYTES, 'to the end of the object'),
};
const fixedShape = {
  ring: doc(name, 'The ring whose registered buffer is used.'),
  buf_index: doc(int.nonnegative().optional(), 'sqe->buf_index: which registered buffer.', 'index', '0'),
  offset: doc(size.optional(), 'Where in the buffer the I/O starts (sqe->addr - its start).', BYTES, '0'),
  length: doc(size.optional(), 'Bytes to transfer.', BYTES, 'to the end of the buffer'),
  file: doc(name, 'The file, from create_file.'),
  file_offset: doc(size.optional(), 'sqe->off: the file position.', BYTES, '0'),
  direct: doc(
    z.boolean().optional(),
    'The file is opened O_DIRECT (disk files: the device moves the blocks).',
    undefined,
    'false',
  ),
};

const GUP_DOC = (fn: string) => `mm/gup.c ${fn}() on a range of a region; ret is the number of pages taken, or -errno.`;

const BASE_STEPS = [
  step('mmap', 'mmap(2): map a new region; ret 0, with addr and length in the result.', {
    proc,
    as: doc(name, 'The name of the new region.'),
    size: doc(size, 'Length of the mapping (rounded up to pages, or to the huge page size).', BYTES),
    type: doc(
      z.enum(['anon', 'shmem', 'memfd', 'file', 'hugetlb', 'fsdax', 'pfnmap']),
      'What backs it: anonymous memory, shmem (MAP_SHARED|MAP_ANONYMOUS), a memfd, a file, hugetlb, fsdax ' +
        'pmem, or a PFN map (VM_PFNMAP, a device BAR).',
    ),
    shared: doc(z.boolean().optional(), 'MAP_SHARED.', undefined, 'false for anon, true otherwise'),
    file: doc(name.optional(), 'The file to map (type file, fsdax), from create_file.'),
    offset: doc(size.optional(), 'File offset of the mapping.', BYTES, '0'),
    align: doc(size.optional(), 'Alignment of the start address (a power of two).', BYTES, 'PAGE_SIZE'),
    hugepage: doc(z.enum(['2M', '1G']).optional(), 'hugetlb page size.', undefined, '2M'),
    prot: doc(prot.optional(), 'PROT_READ|PROT_WRITE, PROT_READ, or PROT_NONE.', undefined, 'rw'),
    populate: doc(z.boolean().optional(), 'MAP_POPULATE: fault every page in now.', undefined, 'false'),
    noreserve: doc(
      z.boolean().optional(),
      'MAP_NORESERVE (hugetlb): reserve no huge pages at mmap; a fault without a free page is SIGBUS.',
      undefined,
      'false',
    ),
  }),
  step('munmap', 'munmap(2) of a range of a region.', { proc, region, ...range }),
  step('mremap', 'mremap(2) of a range of a region; the region follows the move. ret 0, or -errno.', {
    proc,
    region,
    ...range,
    new_size: doc(size, 'The new length of the mapping.', BYTES),
    maymove: doc(
      z.boolean().optional(),
      'MREMAP_MAYMOVE: the mapping may move to grow.',
      undefined,
      'false (true with fixed or dontunmap)',
    ),
    fixed: doc(
      name.optional(),
      'MREMAP_FIXED: move to the start of this region (unmapping what is there); implies maymove.',
    ),
    dontunmap: doc(
      z.boolean().optional(),
      'MREMAP_DONTUNMAP: move the pages, leave the old range mapped but empty (private anon only).',
      undefined,
      'false',
    ),
  }),
  step('mprotect', 'mprotect(2) of a range of a region.', {
    proc,
    region,
    ...range,
    prot: doc(prot, 'The new protection: rw, r or none.'),
  }),
  step('mlock', 'mlock(2) (mlock2 with MLOCK_ONFAULT when onfault) of a range: VM_LOCKED, pages faulted in.', {
    proc,
    region,
    ...range,
    onfault: doc(
      z.boolean().optional(),
      'MLOCK_ONFAULT: lock pages as they fault in, populate nothing now.',
      undefined,
      'false',
    ),
  }),
  step('munlock', 'munlock(2) of a range: VM_LOCKED cleared, pages munlocked.', { proc, region, ...range }),
  step('madvise', 'madvise(2) of a range of a region.', {
    proc,
    region,
    ...range,
    advice: doc(
      z.enum([
        'hugepage',
        'nohugepage',
        'dontneed',
        'populate_read',
        'populate_write',
        'dontfork',
        'dofork',
        'collapse',
      ]),
      'MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTNEED, MADV_POPULATE_READ/WRITE, MADV_DONTFORK/DOFORK, ' +
        'MADV_COLLAPSE.',
    ),
  }),
  step(
    'read',
    'The process reads every page of the range (read faults). ret 0, or -EFAULT with the signal; data: ' +
      'what it saw, one value per page.',
    {
      proc,
      region,
      ...range,
    },
  ),
  step('write', 'The process writes every page of the range (write faults, COW). ret 0, or -EFAULT with the signal.', {
    proc,
    region,
    ...range,
    value: value('The value stored in every page of the range'),
  }),
  step('create_file', 'A file with data, written and fsynced: its pages start cached (disk: clean; tmpfs: dirty).', {
    as: doc(name, 'The name of the new file.'),
    size: doc(size, 'File size.', BYTES),
    fs: doc(
      z.enum(['tmpfs', 'disk', 'dax']).optional(),
      'The file system: tmpfs, ext4 on a disk, or fsdax.',
      undefined,
      'disk',
    ),
    value: doc(
      word.optional(),
      `The contents of every block (${VALUE}).`,
      undefined,
      'a value per block: 0x80000000 | (step & 0x7ff) << 20 | (block & 0xfffff)',
    ),
  }),
  step('pread', 'pread(2) of a file, buffered: what a reader sees (page cache, read in from disk). data: per page.', {
    proc: doc(name.optional(), 'The process reading.', undefined, 'a process of its own'),
    file: doc(name, 'The file, from create_file.'),
    ...fileRange,
  }),
  step('pwrite', 'pwrite(2) to a file, buffered: the page cache takes the value and is dirtied. ret: bytes.', {
    proc: doc(name.optional(), 'The process writing.', undefined, 'a process of its own'),
    file: doc(name, 'The file, from create_file.'),
    ...fileRange,
    value: value('The value written into every page of the range'),
  }),
  step(
    'read_disk',
    "What the disk holds for a file's blocks, past the page cache (no flush, nothing changed). data: per block.",
    { file: doc(name, 'The file, from create_file.'), ...fileRange },
  ),
  step('fsync', 'fsync(2) of a file: its dirty pages are written back (cleaned, write-protected). ret: 0.', {
    file: doc(name, 'The file, from create_file.'),
  }),
  step('msync', 'msync(MS_SYNC) of a range of a shared file mapping: the file range is written back.', {
    proc,
    region,
    ...range,
  }),
  step('sync', 'sync(2): every dirty page of every file is written back.', {}),
  step('writeback', 'Background writeback (the flusher threads): every dirty page of every file is written back.', {}),
  step(
    'drop_caches',
    'echo 1 > /proc/sys/vm/drop_caches: clean, unmapped, unreferenced page-cache folios are dropped. ret: folios ' +
      'dropped (the probe: 0).',
    {},
  ),
  step('truncate', 'ftruncate(2) of a file: pages past the new size are unmapped and dropped, their blocks freed.', {
    file: doc(name, 'The file, from create_file.'),
    size: doc(size, 'The new file size (rounded up to pages).', BYTES),
  }),
  step(
    'fork',
    'fork(2): the child gets a copy of the address space (pinned anon pages are copied at once); the result’s ' +
      'fork field counts the pages shared and copied and the PMDs split.',
    {
      proc,
      child: doc(name, 'The name of the child process.'),
    },
  ),
  step('exit', 'The process exits: its memory is unmapped and its fds (rings, MRs, pipes) are closed.', { proc }),
  step('fail_alloc', 'Make page allocations fail (fault injection), to reach the ENOMEM paths.', {
    after: doc(int.nonnegative().optional(), 'Allocations that still succeed first.', 'allocations', '0'),
    times: doc(int.nonnegative().optional(), 'Allocations that fail; 0 turns the injection off.', 'allocations', 'all'),
    min_order: doc(int.nonnegative().optional(), 'Only allocations of this order or more fail.', 'order', '0'),
  }),
  step('fatal_signal', 'Mark a fatal signal pending (GUP slow paths then return -EINTR).', {
    proc,
    pending: doc(z.boolean().optional(), 'Pending (true) or cleared (false).', undefined, 'true'),
  }),
  step(
    'io_uring_register_buffers',
    'IORING_REGISTER_BUFFERS: pin_user_pages_fast(FOLL_WRITE|FOLL_LONGTERM) of each buffer, all or nothing.',
    {
      proc,
      region: doc(name.optional(), 'The one buffer: a region (or a range of it).'),
      regions: doc(z.array(name).min(1).optional(), 'Several buffers, one region each.'),
      ...range,
      as: doc(name, 'The ring (io_uring_setup on first use; later steps register on the same ring).'),
      entries: doc(
        int.positive().optional(),
        'io_uring_setup entries of a new ring (its SQ/CQ memory is charged to locked_vm without CAP_IPC_LOCK).',
        'entries',
        '4',
      ),
    },
  ),
  step('io_uring_unregister_buffers', 'IORING_UNREGISTER_BUFFERS: every buffer of the ring is unpinned.', {
    ring: doc(name, 'The ring.'),
  }),
  step(
    'io_uring_read_fixed',
    'IORING_OP_READ_FIXED: the file is read into a registered buffer, through the frames the registration ' +
      'pinned (not the page tables). ret: the CQE result (bytes or -errno).',
    fixedShape,
  ),
  step(
    'io_uring_write_fixed',
    'IORING_OP_WRITE_FIXED: a registered buffer is written to the file, from the frames the registration ' +
      'pinned. ret: the CQE result (bytes or -errno).',
    fixedShape,
  ),
  step('odirect_read', 'read(2) of an O_DIRECT file into a range: short-term FOLL_PIN per bio.', {
    proc,
    region,
    file: doc(name, 'The file, from create_file.'),
    ...range,
    file_offset: doc(size.optional(), 'Offset in the file.', BYTES, '0'),
  }),
  step('odirect_write', 'write(2) of a range to an O_DIRECT file: short-term FOLL_PIN per bio.', {
    proc,
    region,
    file: doc(name, 'The file, from create_file.'),
    ...range,
    file_offset: doc(size.optional(), 'Offset in the file.', BYTES, '0'),
  }),
  step('process_vm_readv', "process_vm_readv(2): proc copies from target's region (pin_user_pages_remote).", {
    proc,
    target: doc(name, 'The process owning the region.'),
    region,
    ...range,
    local: doc(name.optional(), "The caller's buffer, a region of proc.", undefined, 'a scratch buffer'),
  }),
  step('process_vm_writev', "process_vm_writev(2): proc copies into target's region (pin_user_pages_remote).", {
    proc,
    target: doc(name, 'The process owning the region.'),
    region,
    ...range,
    local: doc(name.optional(), "The caller's buffer, a region of proc.", undefined, 'a scratch buffer'),
    value: value("What the scratch buffer holds (without local: the caller's own region holds its data)"),
  }),
  step('vmsplice', 'vmsplice(2) of a range into a pipe: FOLL_GET references the pipe holds. ret: bytes queued.', {
    proc,
    region,
    ...range,
    as: doc(name.optional(), 'The pipe (created on first use).', undefined, 'a pipe nobody closes'),
  }),
  step(
    'pipe_read',
    "read(2) of a pipe: each buffer's page is copied out as it is now (a vmsplice'd page shows the owner's " +
      'later writes), then released. ret: bytes, or -EAGAIN when empty; data: per page.',
    {
      pipe: doc(name, 'The pipe, from vmsplice.'),
      proc: doc(name.optional(), 'The process reading (it must have the pipe open).', undefined, 'its creator'),
      length: doc(size.optional(), 'Bytes to read.', BYTES, 'everything queued'),
    },
  ),
  step('close', 'Close a consumer fd (pipe, ring, MR, VFIO mapping, HMM mirror) in a process.', {
    handle: doc(name, 'The object.'),
    proc: doc(name.optional(), 'The process whose fd is closed.', undefined, 'its creator'),
  }),
  step('rdma_reg_mr', 'ibv_reg_mr (ib_umem_get): a FOLL_LONGTERM pin of the range, charged to pinned_vm.', {
    proc,
    region,
    ...range,
    as: doc(name, 'The memory region (MR).'),
    writable: doc(z.boolean().optional(), 'IB_ACCESS_LOCAL_WRITE (FOLL_WRITE).', undefined, 'true'),
  }),
  step('rdma_dereg_mr', 'ibv_dereg_mr: the MR is unpinned (dirtying writable pages).', { mr: doc(name, 'The MR.') }),
  step('rdma_write', "RDMA WRITE by the remote peer into an MR: the NIC writes the MR's pinned frames. ret: bytes.", {
    mr: doc(name, 'The MR.'),
    ...deviceRange,
    value: value('The value written into every page'),
  }),
  step('rdma_read', "RDMA READ by the remote peer from an MR: the NIC reads the MR's frames. data: per page.", {
    mr: doc(name, 'The MR.'),
    ...deviceRange,
  }),
  step('vfio_map_dma', 'VFIO_IOMMU_MAP_DMA: pin_user_pages_remote(FOLL_LONGTERM), charged to locked_vm.', {
    proc,
    region,
    ...range,
    as: doc(name, 'The DMA mapping.'),
    write: doc(z.boolean().optional(), 'IOMMU_WRITE (FOLL_WRITE).', undefined, 'true'),
  }),
  step('vfio_unmap_dma', 'VFIO_IOMMU_UNMAP_DMA: the mapping is unpinned.', { dma: doc(name, 'The DMA mapping.') }),
  step('hmm_range_fault', 'hmm_range_fault() into a mirror: no pin, no reference; MMU notifiers invalidate it.', {
    proc,
    region,
    ...range,
    as: doc(name, 'The mirror (an mmu_interval_notifier; created on first use).'),
    write: doc(z.boolean().optional(), 'HMM_PFN_REQ_WRITE: fault for write.', undefined, 'false'),
  }),
  step(
    'dma_write',
    "A device writes through what a handle holds: a GUP handle's pages (the driver's device), a VFIO mapping's " +
      'IOVA range, an HMM mirror. Never faults, never dirties. ret: bytes.',
    {
      handle: doc(name, 'The GUP handle, VFIO DMA mapping or HMM mirror.'),
      ...deviceRange,
      value: value('The value written into every page'),
    },
  ),
  step('dma_read', 'A device reads through what a handle holds (as dma_write). data: per page.', {
    handle: doc(name, 'The GUP handle, VFIO DMA mapping or HMM mirror.'),
    ...deviceRange,
  }),
  step('get_user_pages', GUP_DOC('get_user_pages'), gupShape),
  step('get_user_pages_fast', GUP_DOC('get_user_pages_fast'), gupShape),
  step('get_user_pages_fast_only', GUP_DOC('get_user_pages_fast_only'), gupShape),
  step('get_user_pages_unlocked', GUP_DOC('get_user_pages_unlocked'), gupShape),
  step('get_user_pages_remote', GUP_DOC('get_user_pages_remote'), remoteShape),
  step('pin_user_pages', GUP_DOC('pin_user_pages'), gupShape),
  step('pin_user_pages_fast', GUP_DOC('pin_user_pages_fast'), gupShape),
  step('pin_user_pages_unlocked', GUP_DOC('pin_user_pages_unlocked'), gupShape),
  step('pin_user_pages_remote', GUP_DOC('pin_user_pages_remote'), remoteShape),
  step('unpin_user_pages', 'unpin_user_pages() of a pin handle (its entries as they stand, released ones too).', {
    pins: doc(name, 'The pin handle.'),
    index: doc(int.nonnegative().optional(), 'The first entry (pages + index in C).', 'index', '0'),
    count: doc(int.optional(), 'Entries to unpin (a negative errno models passing one as the count).', 'pages', 'all'),
  }),
  step('unpin_user_pages_dirty_lock', 'unpin_user_pages_dirty_lock(): unpin, marking the pages dirty first.', {
    pins: doc(name, 'The pin handle.'),
    index: doc(int.nonnegative().optional(), 'The first entry (pages + index in C).', 'index', '0'),
    count: doc(int.optional(), 'Entries to unpin (a negative errno models passing one as the count).', 'pages', 'all'),
    dirty: doc(z.boolean().optional(), 'make_dirty.', undefined, 'true'),
  }),
  step('unpin_user_page', 'unpin_user_page() of one entry of a pin handle.', {
    pins: doc(name, 'The pin handle.'),
    index: doc(int.nonnegative().optional(), 'The entry.', 'index', '0'),
  }),
  step('put_page', 'put_page() of entries of a FOLL_GET handle.', {
    pins: doc(name, 'The handle.'),
    index: doc(int.nonnegative().optional(), 'The first entry.', 'index', '0'),
    count: doc(int.optional(), 'Entries to put.', 'pages', 'all (1 when index is given)'),
  }),
  step('migrate_pages', 'migrate_pages() of the folio mapped at a page (move_pages(2), compaction): 0 or -errno.', {
    proc,
    region,
    page: doc(int.nonnegative().optional(), 'The page, an index in the region.', 'page index', '0'),
  }),
  step('assert', 'A property that must hold here: a failed one fails the run (exit 1) and is what explore reports.', {
    that: doc(
      z.enum(['pins_mapped', 'frames_differ', 'vmstat_balanced']),
      'pins_mapped: every frame the handle holds is the frame proc maps at its address; frames_differ: proc ' +
        "and other map different frames at page of region (neither sees the other's writes); vmstat_balanced: " +
        'nr_foll_pin_acquired == nr_foll_pin_released since the start.',
    ),
    says: doc(z.string().optional(), 'The property in words (shown when it is violated).'),
    handle: doc(name.optional(), 'pins_mapped: the handle (ring, MR, GUP handle...).'),
    proc: doc(name.optional(), 'pins_mapped, frames_differ: the process.', undefined, "the handle's process"),
    other: doc(name.optional(), 'frames_differ: the other process.'),
    region: doc(name.optional(), 'frames_differ: the region.'),
    page: doc(int.nonnegative().optional(), 'frames_differ: the page, an index in the region.', 'page index', '0'),
  }),
  step('vmstat', "The model's /proc/vmstat text, in the result's text field.", {}),
  step('inspect', 'What a page is made of (refcount by holder, pins, flags), or what a handle holds.', {
    proc: doc(name.optional(), 'The process whose page tables are read.', undefined, "the region's creator"),
    region: doc(name.optional(), 'The region whose pages are shown (give region or handle).'),
    handle: doc(name.optional(), 'A ring, MR, DMA mapping, pipe, mirror or GUP handle: the frames it holds.'),
    page: doc(int.nonnegative().optional(), 'The first page shown, an index in the region.', 'page index', '0'),
    pages: doc(int.positive().optional(), 'Pages shown.', 'pages', '1 with page, else every page'),
  }),
  step('dump_page', "The kernel's dump_page() text for a page, in the result's text field.", {
    proc,
    region,
    page: doc(int.nonnegative().optional(), 'The page, an index in the region.', 'page index', '0'),
  }),
  step('expect', 'Check the results so far; a failed check makes the run fail (exit 1).', {
    vmstat: doc(
      z.record(z.string(), int).optional(),
      'Counters as deltas since the scenario began, e.g. { nr_foll_pin_acquired: 512 }.',
    ),
    step: doc(
      z.union([name, int.nonnegative()]).optional(),
      'The step checked (label or index).',
      undefined,
      'the last',
    ),
    ret: doc(int.optional(), "The step's ret."),
    errno: doc(z.string().nullable().optional(), "The step's errno name (EFAULT), or null for none."),
    pages: doc(
      z
        .union([z.array(z.record(z.string(), z.unknown())), z.record(z.string(), z.record(z.string(), z.unknown()))])
        .optional(),
      'Fields of the inspect step’s pages: a list, or an object keyed by position.',
    ),
    warnings: doc(int.nonnegative().optional(), 'WARN records so far.', 'records'),
    misuse: doc(int.nonnegative().optional(), "gupsim's misuse records so far (the model only).", 'records'),
    pins: doc(int.nonnegative().optional(), 'Pins still held, over every holder.', 'pin units'),
    why: doc(z.string().optional(), 'Text the step’s why (function: rule) must contain.'),
    data: doc(
      z
        .union([
          word,
          z.array(word),
          z.strictObject({ sameAs: z.union([name, int.nonnegative()]) }),
          z.strictObject({ differentFrom: z.union([name, int.nonnegative()]) }),
        ])
        .optional(),
      "The step's data (read, pread, read_disk, pipe_read, dma_read, rdma_read, process_vm_readv, inspect pages): " +
        'one value for every page, a list (one per page), { sameAs: step } or { differentFrom: step }.',
    ),
    hugetlb: doc(
      z.strictObject({ '2M': hugetlbCounters.optional(), '1G': hugetlbCounters.optional() }).optional(),
      'hugetlb pool counters after the step named by `step` (or the last one), per size: nr_hugepages, ' +
        'free_hugepages, resv_hugepages, surplus_hugepages, nr_overcommit_hugepages.',
      'pages',
    ),
  }),
] as const;

/** A step of a thread of a `concurrent` step: any step but another `concurrent`. */
export const ThreadStepSchema = z.discriminatedUnion('op', BASE_STEPS);

export const StepSchema = z.discriminatedUnion('op', [
  ...BASE_STEPS,
  step(
    'concurrent',
    'Threads that run at the same time: `gupsim run` runs them one after the other in the order given; ' +
      '`gupsim explore` runs every interleaving of their atomic steps. Several concurrent steps run in order: ' +
      "a block's threads start once every thread of the block before has ended and the steps between have run.",
    {
      threads: doc(
        z.record(name, z.array(ThreadStepSchema).min(1)),
        'The threads by name, each a list of steps (each step names its process; no nested concurrent).',
      ),
    },
  ),
]);

/** The releases gupsim has profiles of (mm/profile.ts KERNEL_RELEASES). */
export const KERNELS = ['6.1', '6.12', '6.18'] as const;

/** `kernel: 6.12` (YAML reads it as a number) or `kernel: "6.12"`. */
const kernel = z
  .union([z.enum(KERNELS), z.literal(6.1), z.literal(6.12), z.literal(6.18)], {
    error: `gupsim has profiles of Linux ${KERNELS.join(', ')} only`,
  })
  .transform(kernelName as (v: string | number) => (typeof KERNELS)[number])
  .describe('the Linux release whose rules the model applies (6.1, 6.12 or 6.18; --kernel overrides it)');

export const ScenarioSchema = z.strictObject({
  schemaVersion: doc(z.literal(SCHEMA_VERSION).optional(), 'The format version.', undefined, String(SCHEMA_VERSION)),
  name: doc(z.string().optional(), 'Name shown in results.', undefined, 'the file name'),
  description: doc(z.string().optional(), 'What the scenario shows (the tour prints it).'),
  kernel: doc(
    kernel.optional(),
    'The Linux release whose rules the model applies (6.1, 6.12 or 6.18); `--kernel` overrides it.',
    undefined,
    '6.18',
  ),
  machine: doc(MachineSchema.optional(), 'The simulated machine.'),
  processes: doc(
    z.record(name, ProcessSchema).optional(),
    'Settings per process name (processes are root by default).',
  ),
  steps: doc(z.array(StepSchema), 'What happens, in order.'),
});

export type Scenario = z.infer<typeof ScenarioSchema>;
export type Step = z.infer<typeof StepSchema>;
export type StepOf<O extends Step['op']> = Extract<Step, { op: O }>;
export type ThreadStep = z.infer<typeof ThreadStepSchema>;
export const STEP_OPS = StepSchema.options.map((o) => o.shape.op.value);
