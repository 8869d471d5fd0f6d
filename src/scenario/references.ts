// The checks of a scenario that the schema cannot make: every name (region, file, ring, MR, handle, step
// label) is defined before it is used, and is not defined twice as different things. Used by the loader
// (load.ts) and by the CLI's quick loader (quick_load.ts), so without zod.

import { PAGE_SIZE, pageAlignUp } from '../mm/memmap.js';
import { FOLL_NAMES } from '../mm/foll_flags.js';
import type { Step } from './schema.js';

/** Edit distance (Levenshtein) between two short names. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** ' (did you mean "x"?)' for the closest known name, when it is close enough to be a typo. */
export function didYouMean(got: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(got.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(got.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

/** What kind of object a step's `as` names. */
function handleKind(op: string): string {
  if (op.startsWith('pin_user_pages')) return 'pin handle';
  if (op.startsWith('get_user_pages')) return 'FOLL_GET handle';
  const kinds: Record<string, string> = {
    io_uring_register_buffers: 'ring',
    vmsplice: 'pipe',
    rdma_reg_mr: 'memory region',
    vfio_map_dma: 'DMA mapping',
    hmm_range_fault: 'mirror',
  };
  return kinds[op] ?? op;
}

/**
 * The problems of steps that passed the schema, each with its step index, field and message. Names must be
 * defined before use: regions by mmap, files by create_file, rings/MRs/handles by the step that creates
 * them. Processes are created on first use.
 */
/** Steps whose `file` names a file from create_file. */
const FILE_OPS = new Set([
  'pread',
  'pwrite',
  'read_disk',
  'fsync',
  'truncate',
  'io_uring_read_fixed',
  'io_uring_write_fixed',
]);

export function checkReferences(steps: Step[]): Array<{ index: number; field: string; message: string }> {
  /** Region name -> its size in bytes when known from the steps (mmap, then whole-region mremaps). */
  const regions = new Map<string, number | undefined>();
  const regionStep = new Map<string, number>();
  const files = new Map<string, number>();
  const handles = new Map<string, string>(); // name -> kind
  const handleOwner = new Map<string, { kind: string; proc: string | undefined; step: number }>();
  const labels = new Set<string>();
  const errs: Array<{ index: number; field: string; message: string }> = [];
  const need = (
    set: { has(k: string): boolean },
    v: string | undefined,
    index: number,
    field: string,
    what: string,
  ) => {
    if (v !== undefined && !set.has(v))
      errs.push({ index, field, message: `unknown ${what} "${v}" (define it in an earlier step)` });
  };
  steps.forEach((s, index) => {
    const r = s as Record<string, unknown>;
    if (typeof r.region === 'string') need(regions, r.region, index, 'region', 'region');
    if (Array.isArray(r.regions)) for (const x of r.regions as string[]) need(regions, x, index, 'regions', 'region');
    if (typeof r.local === 'string') need(regions, r.local, index, 'local', 'region');
    if (s.op === 'mmap' && s.file) need(files, s.file, index, 'file', 'file');
    if (s.op === 'odirect_read' || s.op === 'odirect_write') need(files, s.file, index, 'file', 'file');
    if (FILE_OPS.has(s.op)) need(files, r.file as string, index, 'file', 'file');
    if (s.op === 'io_uring_register_buffers' && !s.region && !s.regions)
      errs.push({ index, field: 'region', message: 'give region or regions' });
    if (s.op === 'mmap' && s.type === 'file' && !s.file)
      errs.push({ index, field: 'file', message: 'type file needs a file (create_file first)' });
    const kindOf: Record<string, [string, string]> = {
      io_uring_unregister_buffers: ['ring', 'ring'],
      rdma_dereg_mr: ['mr', 'mr'],
      vfio_unmap_dma: ['dma', 'dma'],
      unpin_user_pages: ['pins', 'pin handle'],
      unpin_user_pages_dirty_lock: ['pins', 'pin handle'],
      unpin_user_page: ['pins', 'pin handle'],
      put_page: ['pins', 'pin handle'],
      close: ['handle', 'handle'],
      io_uring_read_fixed: ['ring', 'ring'],
      io_uring_write_fixed: ['ring', 'ring'],
      dma_write: ['handle', 'handle'],
      dma_read: ['handle', 'handle'],
      rdma_write: ['mr', 'mr'],
      rdma_read: ['mr', 'mr'],
      pipe_read: ['pipe', 'pipe'],
    };
    const k = kindOf[s.op];
    if (k) need(handles, r[k[0]] as string, index, k[0], k[1]);
    // A release names the pages[] of a raw GUP step, not a ring or an MR (those have their own release).
    const maker = k?.[0] === 'pins' ? handles.get(r.pins as string) : undefined;
    if (maker !== undefined && !/^(get|pin)_user_pages/.test(maker))
      errs.push({ index, field: 'pins', message: `"${String(r.pins)}" was made by ${maker}, not by a raw GUP step` });
    if (s.op === 'expect' && typeof s.step === 'string') need(labels, s.step, index, 'step', 'step label');
    if (s.op === 'expect' && s.data !== undefined && typeof s.data === 'object' && !Array.isArray(s.data)) {
      const ref = 'sameAs' in s.data ? s.data.sameAs : s.data.differentFrom;
      if (typeof ref === 'string') need(labels, ref, index, 'data', 'step label');
      else if (ref >= index) errs.push({ index, field: 'data', message: `step ${ref} has not run yet` });
    }
    if (s.op === 'inspect') {
      if ((s.region === undefined) === (s.handle === undefined))
        errs.push({
          index,
          field: 'region',
          message: 'give region (pages of a region) or handle (what a handle holds)',
        });
      if (s.handle !== undefined) need(handles, s.handle, index, 'handle', 'handle');
    }
    if ((s.op === 'inspect' || s.op === 'dump_page') && s.region !== undefined && s.page !== undefined) {
      const bytes = regions.get(s.region);
      const count = s.op === 'inspect' ? (s.pages ?? 1) : 1;
      if (bytes !== undefined && (s.page + count) * PAGE_SIZE > bytes)
        errs.push({
          index,
          field: 'page',
          message:
            `pages ${s.page}..${s.page + count - 1} are outside region "${s.region}" ` + `(${bytes / PAGE_SIZE} pages)`,
        });
    }
    if ('flags' in s && Array.isArray(s.flags))
      for (const f of s.flags) {
        const key = (f.startsWith('FOLL_') ? f : `FOLL_${f}`).toUpperCase();
        if (FOLL_NAMES[key] === undefined)
          errs.push({
            index,
            field: 'flags',
            message: `unknown GUP flag "${f}"${didYouMean(key, Object.keys(FOLL_NAMES))}`,
          });
      }
    if (s.op === 'expect' && typeof s.step === 'number' && s.step >= index)
      errs.push({ index, field: 'step', message: `step ${s.step} has not run yet` });
    if (s.op === 'mmap') {
      if (regions.has(s.as))
        errs.push({ index, field: 'as', message: `region "${s.as}" already exists (step ${regionStep.get(s.as)})` });
      // A size known before the run: pages, or huge pages for hugetlb.
      const unit = s.type === 'hugetlb' ? (s.hugepage === '1G' ? 2 ** 30 : 2 ** 21) : PAGE_SIZE;
      regions.set(s.as, pageAlignUp(s.size, unit));
      regionStep.set(s.as, index);
    }
    if (s.op === 'mremap')
      regions.set(
        s.region,
        s.offset === undefined && s.length === undefined && s.pages === undefined ? pageAlignUp(s.new_size) : undefined,
      );
    if (s.op === 'create_file') {
      if (files.has(s.as))
        errs.push({ index, field: 'as', message: `file "${s.as}" already exists (step ${files.get(s.as)})` });
      else files.set(s.as, index);
    }
    if ('as' in s && typeof s.as === 'string' && s.op !== 'mmap' && s.op !== 'create_file') {
      // A later step with the same name and kind, in the same process, uses the same object (another
      // registration on a ring, more pages in a handle); another kind of object is an error.
      const kind = handleKind(s.op);
      const proc = 'proc' in s ? (s.proc as string | undefined) : undefined;
      const prev = handleOwner.get(s.as);
      if (prev && (prev.kind !== kind || prev.proc !== proc))
        errs.push({
          index,
          field: 'as',
          message:
            `"${s.as}" already names a ${prev.kind} of ${prev.proc ?? 'the scenario'} (step ${prev.step}); ` +
            'choose another name',
        });
      else if (!prev) handleOwner.set(s.as, { kind, proc, step: index });
      handles.set(s.as, s.op);
    }
    if (s.label) labels.add(s.label);
  });
  return errs;
}
