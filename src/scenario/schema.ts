// The scenario file format (DESIGN.md "Scenario files"): a machine, optional process settings, and
// steps. Strict: unknown ops and fields are errors. Sizes accept K/M/G suffixes.

import { z } from 'zod';
import { parseSize } from './sizes.js';

export const SCHEMA_VERSION = 1;

const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a size such as 4096, 64KiB, 2M or 1GiB, got ${JSON.stringify(v)}`,
    });
    return z.NEVER;
  }
  return n;
});
/** A signed count (unpin counts may be an errno, to model that misuse). */
const int = z.number().int();
const name = z.string().min(1);

const thp = z.enum(['always', 'madvise', 'never']);
const mthpPolicy = z.enum(['always', 'inherit', 'madvise', 'never']);
const mthpSize = z.enum(['16K', '32K', '64K', '128K', '256K', '512K', '1M', '2M']);

export const MachineSchema = z.strictObject({
  memory: size.optional(),
  movable: size.optional(),
  cma: size.optional(),
  pmem: size.optional(),
  thp: thp.optional(),
  mthp: z.partialRecord(mthpSize, mthpPolicy).optional(),
  use_zero_page: z.boolean().optional(),
  shmem_thp: z.enum(['never', 'always', 'advise']).optional(),
  hugetlb: z.strictObject({ '2M': int.nonnegative().optional(), '1G': int.nonnegative().optional() }).optional(),
});

export const ProcessSchema = z.strictObject({
  root: z.boolean().optional(),
  memlock: size.optional(),
  user: name.optional(),
});

const common = { label: z.string().optional(), repeat: int.min(1).optional() };
const range = { offset: size.optional(), length: size.optional(), pages: int.nonnegative().optional() };
const flags = z.array(z.string()).or(int);

const step = <O extends string, T extends z.ZodRawShape>(op: O, shape: T) =>
  z.strictObject({ op: z.literal(op), ...common, ...shape });

const gupShape = { proc: name, region: name, ...range, flags: flags.optional(), as: name.optional() };
const remoteShape = { ...gupShape, target: name };

export const StepSchema = z.discriminatedUnion('op', [
  step('mmap', {
    proc: name,
    as: name,
    size,
    type: z.enum(['anon', 'shmem', 'memfd', 'file', 'hugetlb', 'fsdax', 'pfnmap']),
    shared: z.boolean().optional(),
    file: name.optional(),
    offset: size.optional(),
    align: size.optional(),
    hugepage: z.enum(['2M', '1G']).optional(),
    prot: z.enum(['rw', 'r']).optional(),
    populate: z.boolean().optional(),
  }),
  step('munmap', { proc: name, region: name, ...range }),
  step('mprotect', { proc: name, region: name, ...range, prot: z.enum(['rw', 'r']) }),
  step('madvise', {
    proc: name,
    region: name,
    ...range,
    advice: z.enum([
      'hugepage',
      'nohugepage',
      'dontneed',
      'populate_read',
      'populate_write',
      'dontfork',
      'dofork',
      'collapse',
    ]),
  }),
  step('read', { proc: name, region: name, ...range }),
  step('write', { proc: name, region: name, ...range }),
  step('create_file', { as: name, size, fs: z.enum(['tmpfs', 'disk', 'dax']).optional() }),
  step('fork', { proc: name, child: name }),
  step('exit', { proc: name }),
  step('fail_alloc', {
    after: int.nonnegative().optional(),
    times: int.nonnegative().optional(),
    min_order: int.nonnegative().optional(),
  }),
  step('fatal_signal', { proc: name, pending: z.boolean().optional() }),
  step('io_uring_register_buffers', {
    proc: name,
    region: name.optional(),
    regions: z.array(name).min(1).optional(),
    ...range,
    as: name,
  }),
  step('io_uring_unregister_buffers', { ring: name }),
  step('odirect_read', { proc: name, region: name, file: name, ...range, file_offset: size.optional() }),
  step('odirect_write', { proc: name, region: name, file: name, ...range, file_offset: size.optional() }),
  step('process_vm_readv', { proc: name, target: name, region: name, ...range, local: name.optional() }),
  step('process_vm_writev', { proc: name, target: name, region: name, ...range, local: name.optional() }),
  step('vmsplice', { proc: name, region: name, ...range, as: name.optional() }),
  step('close', { handle: name, proc: name.optional() }),
  step('rdma_reg_mr', { proc: name, region: name, ...range, as: name, writable: z.boolean().optional() }),
  step('rdma_dereg_mr', { mr: name }),
  step('vfio_map_dma', { proc: name, region: name, ...range, as: name, write: z.boolean().optional() }),
  step('vfio_unmap_dma', { dma: name }),
  step('hmm_range_fault', { proc: name, region: name, ...range, as: name, write: z.boolean().optional() }),
  step('get_user_pages', gupShape),
  step('get_user_pages_fast', gupShape),
  step('get_user_pages_fast_only', gupShape),
  step('get_user_pages_unlocked', gupShape),
  step('get_user_pages_remote', remoteShape),
  step('pin_user_pages', gupShape),
  step('pin_user_pages_fast', gupShape),
  step('pin_user_pages_unlocked', gupShape),
  step('pin_user_pages_remote', remoteShape),
  step('unpin_user_pages', { pins: name, count: int.optional() }),
  step('unpin_user_pages_dirty_lock', { pins: name, count: int.optional(), dirty: z.boolean().optional() }),
  step('unpin_user_page', { pins: name, index: int.nonnegative().optional() }),
  step('put_page', { pins: name, index: int.nonnegative().optional(), count: int.optional() }),
  step('vmstat', {}),
  step('inspect', { proc: name, region: name, page: int.nonnegative().optional(), pages: int.positive().optional() }),
  step('dump_page', { proc: name, region: name, page: int.nonnegative().optional() }),
  step('expect', {
    vmstat: z.record(z.string(), int).optional(),
    step: z.union([name, int.nonnegative()]).optional(),
    ret: int.optional(),
    errno: z.string().nullable().optional(),
    pages: z
      .union([z.array(z.record(z.string(), z.unknown())), z.record(z.string(), z.record(z.string(), z.unknown()))])
      .optional(),
    warnings: int.nonnegative().optional(),
    pins: int.nonnegative().optional(),
    why: z.string().optional(),
  }),
]);

/** The releases gupsim has profiles of (mm/profile.ts KERNEL_RELEASES). */
export const KERNELS = ['6.1', '6.12', '6.18'] as const;

/** `kernel: 6.12` (YAML reads it as a number) or `kernel: "6.12"`. */
const kernel = z
  .union([z.enum(KERNELS), z.literal(6.1), z.literal(6.12), z.literal(6.18)], {
    error: `gupsim has profiles of Linux ${KERNELS.join(', ')} only`,
  })
  .transform((v) => String(v) as (typeof KERNELS)[number])
  .describe('the Linux release whose rules the model applies (6.1, 6.12 or 6.18; --kernel overrides it)');

export const ScenarioSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSION).optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  kernel: kernel.optional(),
  machine: MachineSchema.optional(),
  processes: z.record(name, ProcessSchema).optional(),
  steps: z.array(StepSchema),
});

export type Scenario = z.infer<typeof ScenarioSchema>;
export type Step = z.infer<typeof StepSchema>;
export type StepOf<O extends Step['op']> = Extract<Step, { op: O }>;
export const STEP_OPS = StepSchema.options.map((o) => o.shape.op.value);
