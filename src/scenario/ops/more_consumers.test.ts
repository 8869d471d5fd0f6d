// Scenario-level tests of the consumer steps in more_consumers.ts: result fields, `close` of each
// kind of fd, handles that outlive their process, and the outstanding-holds report.

import { describe, it, expect } from 'vitest';
import { loadScenario } from '../load.js';
import { runScenario } from '../run.js';
import { type RunResult } from '../result.js';

function run(yaml: string): RunResult {
  return runScenario(loadScenario(yaml, 'test.yaml'));
}

const step = (r: RunResult, label: string) => r.steps.find((s) => s.label === label)!;

describe('consumer steps', () => {
  it(
    'process_vm_readv without `local` uses a scratch buffer that is unmapped again; `local` names a ' + 'caller region',
    () => {
      const r = run(`
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: t, as: buf, size: 64KiB, type: anon }
  - { op: write, proc: t, region: buf }
  - { op: process_vm_readv, proc: a, target: t, region: buf, label: scratch }
  - { op: mmap, proc: a, as: mine, size: 16KiB, type: anon }
  - { op: process_vm_readv, proc: a, target: t, region: buf, local: mine, label: local }
  - { op: inspect, proc: a, region: mine, page: 0, label: in }
`);
      expect(step(r, 'scratch')).toMatchObject({ ret: 65536, errno: null, target_has_pinned: true });
      expect(step(r, 'local').ret).toBe(16384);
      expect((step(r, 'in').pages as Array<{ present: boolean }>)[0]!.present).toBe(true);
      expect(r.vmstat).toEqual({ nr_foll_pin_acquired: 32, nr_foll_pin_released: 32 });
    },
  );

  it('an unknown `local` region is a scenario error naming the field', () => {
    expect(() =>
      loadScenario(
        `
steps:
  - { op: mmap, proc: t, as: buf, size: 4KiB, type: anon }
  - { op: process_vm_readv, proc: a, target: t, region: buf, local: nope }
`,
        'bad.yaml',
      ),
    ).toThrow(/field "local".*unknown region "nope"/);
  });

  it('a vmsplice without `as` leaves a pipe nobody closes: reported as references held', () => {
    const r = run(`
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 16KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: vmsplice, proc: app, region: buf }
`);
    expect(r.pins).toEqual([{ owner: 'vmsplice@2', type: 'pipe', process: 'app', pins: 0, refs: 4 }]);
  });

  it('close: a ring is unregistered and its name is gone (-EBADF after); a GUP handle is not a file', () => {
    const r = run(`
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 16KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: io_uring_register_buffers, proc: app, region: buf, as: ring }
  - { op: close, handle: ring, label: close-ring }
  - { op: io_uring_unregister_buffers, ring: ring, label: after }
  - { op: pin_user_pages_fast, proc: app, region: buf, flags: [FOLL_WRITE], as: h }
  - { op: close, handle: h, label: close-h }
  - { op: unpin_user_pages, pins: h }
`);
    expect(step(r, 'close-ring').ret).toBe(0);
    expect(step(r, 'after').errno).toBe('EBADF');
    expect(step(r, 'close-h').errno).toBe('EBADF');
    expect(r.pins).toEqual([]);
    expect(r.vmstat).toEqual({ nr_foll_pin_acquired: 8, nr_foll_pin_released: 8 });
  });

  it('MR and DMA handles: a second release is -EBADF; a name still held is -EEXIST; close releases', () => {
    const r = run(`
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: rdma_reg_mr, proc: app, region: buf, as: mr, label: reg }
  - { op: rdma_reg_mr, proc: app, region: buf, as: mr, label: again }
  - { op: rdma_dereg_mr, mr: mr }
  - { op: rdma_dereg_mr, mr: mr, label: twice }
  - { op: vfio_map_dma, proc: app, region: buf, as: dma, write: false, label: map }
  - { op: close, handle: dma }
  - { op: vfio_unmap_dma, dma: dma, label: unmap-closed }
`);
    expect(step(r, 'reg')).toMatchObject({ ret: 0, npages: 16, pinned_vm: 16 });
    expect(step(r, 'again').errno).toBe('EEXIST');
    expect(step(r, 'twice').errno).toBe('EBADF');
    expect(step(r, 'map')).toMatchObject({ ret: 0, npages: 16, pinned: 16, pfnmap_pages: 0, locked_vm: 16 });
    expect(step(r, 'unmap-closed').errno).toBe('EBADF');
    expect(r.pins).toEqual([]);
  });

  it('hmm_range_fault reports mirrored PFNs and invalidations by event; the mirror never shows up as a holder', () => {
    const r = run(`
machine: { memory: 256MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 16KiB, type: anon }
  - { op: hmm_range_fault, proc: app, region: buf, as: gpu, write: true, label: first }
  - { op: mprotect, proc: app, region: buf, prot: r }
  - { op: hmm_range_fault, proc: app, region: buf, as: gpu, label: second }
  - { op: exit, proc: app }
`);
    expect(step(r, 'first')).toMatchObject({ ret: 0, pfns: 4, writable_pfns: 4, invalidations: 0 });
    expect(step(r, 'second')).toMatchObject({
      ret: 0,
      pfns: 4,
      writable_pfns: 0,
      invalidations: 1,
      events: { protection: 1 },
    });
    expect(r.pins).toEqual([]);
    expect(r.vmstat).toEqual({ nr_foll_pin_acquired: 0, nr_foll_pin_released: 0 });
  });
});
