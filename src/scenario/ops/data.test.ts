// Scenario steps about contents (ops/data.ts, the write/read/inspect data, expect data:): one test
// per rule of the ops, through the scenario runner.

import { describe, it, expect } from 'vitest';
import { loadScenario, ScenarioError } from '../load.js';
import { executeScenario, runScenario } from '../run.js';
import type { RunResult, StepResult } from '../result.js';
import { fileBlockValue, freshValue } from '../data.js';

function run(yaml: string): RunResult {
  return runScenario(loadScenario(yaml, 'test.yaml'));
}
const step = (r: RunResult, label: string): StepResult => r.steps.find((s) => s.label === label)!;
const M = 'machine: { memory: 256MiB }\nsteps:\n';

describe('values and expect data:', () => {
  it('a write without value: stores a fresh value unique to the step and the repeat; read reports it', () => {
    const r = run(`${M}
  - { op: mmap, proc: a, as: b, size: 8KiB, type: anon }
  - { op: write, proc: a, region: b, repeat: 3, label: w }
  - { op: read, proc: a, region: b, label: r }
  - { op: write, proc: a, region: b, length: 4KiB, label: w2 }
  - { op: read, proc: a, region: b, label: r2 }
`);
    expect(step(r, 'w').value).toBe(freshValue(1, 2));
    expect(step(r, 'r').data).toEqual([freshValue(1, 2), freshValue(1, 2)]);
    expect(step(r, 'r2').data).toEqual([freshValue(3), freshValue(1, 2)]);
    expect(new Set([freshValue(1, 0), freshValue(1, 1), freshValue(2, 0), fileBlockValue(1, 0)]).size).toBe(4);
  });

  it('expect data: a value for every page, a list, sameAs and differentFrom, with failures that say why', () => {
    const r = run(`${M}
  - { op: mmap, proc: a, as: b, size: 8KiB, type: anon }
  - { op: write, proc: a, region: b, value: 7 }
  - { op: read, proc: a, region: b, label: one }
  - { op: read, proc: a, region: b, label: two }
  - { op: expect, step: one, data: 7 }
  - { op: expect, step: one, data: [7, 7] }
  - { op: expect, step: two, data: { sameAs: one } }
  - { op: expect, step: two, data: { differentFrom: one } }
  - { op: expect, step: one, data: [7] }
  - { op: expect, step: one, data: 8 }
`);
    expect(r.steps.slice(4, 7).map((s) => s.ret)).toEqual([0, 0, 0]);
    expect(r.steps[7]!.failures).toEqual(['"two" data: 0x00000007×2, the same as "one"']);
    expect(r.steps[8]!.failures![0]).toMatch(/got 0x00000007×2, want 0x00000007$/);
    expect(r.steps[9]!.failures![0]).toMatch(/page 0 holds 0x00000007, want 0x00000008 in every page/);
    expect(r.ok).toBe(false);
  });

  it('expect data: naming a label that does not exist is bad input', () => {
    expect(() => loadScenario(`${M}  - { op: expect, step: 0, data: { sameAs: nope } }\n`, 't.yaml')).toThrow(
      ScenarioError,
    );
  });

  it('inspect shows data per page, and per frame a handle holds', () => {
    const r = run(`${M}
  - { op: mmap, proc: a, as: b, size: 8KiB, type: anon }
  - { op: write, proc: a, region: b, value: 3 }
  - { op: pin_user_pages, proc: a, region: b, flags: [FOLL_WRITE], as: h }
  - { op: inspect, proc: a, region: b, label: pages }
  - { op: inspect, handle: h, label: frames }
  - { op: expect, step: frames, data: 3 }
  - { op: unpin_user_pages, pins: h }
`);
    expect((step(r, 'pages').pages as Array<{ data: number }>).map((p) => p.data)).toEqual([3, 3]);
    expect((step(r, 'frames').frames as Array<{ data: number[] }>).map((f) => f.data)).toEqual([[3], [3]]);
    expect(r.ok).toBe(true);
  });

  it('a scenario that stores no value allocates no contents array', () => {
    const sc = loadScenario(
      `${M}
  - { op: mmap, proc: a, as: b, size: 64KiB, type: anon }
  - { op: read, proc: a, region: b }
  - { op: pin_user_pages, proc: a, region: b, as: h }
  - { op: unpin_user_pages, pins: h }
`,
      't.yaml',
    );
    expect(executeScenario(sc).ctx.m.mem.dataIfAny).toBeUndefined();
  });
});

describe('files', () => {
  it('create_file holds a value per block; pread and read_disk see it; pwrite dirties the cache only', () => {
    const r = run(`${M}
  - { op: create_file, as: f, size: 8KiB }
  - { op: pread, file: f, label: r0 }
  - { op: pwrite, file: f, offset: 4KiB, length: 4KiB, value: 9 }
  - { op: pread, file: f, label: r1 }
  - { op: read_disk, file: f, label: d1 }
  - { op: fsync, file: f, label: sync }
  - { op: read_disk, file: f, label: d2 }
`);
    expect(step(r, 'r0').data).toEqual([fileBlockValue(0, 0), fileBlockValue(0, 1)]);
    expect(step(r, 'r1').data).toEqual([fileBlockValue(0, 0), 9]);
    expect(step(r, 'd1').data).toEqual([fileBlockValue(0, 0), fileBlockValue(0, 1)]);
    // The 8 KiB file is one order-1 folio (ext4 large folios): writeback writes it whole.
    expect(step(r, 'sync').written).toBe(2);
    expect(step(r, 'd2').data).toEqual([fileBlockValue(0, 0), 9]);
  });

  it('msync writes back the file range a shared mapping maps; read_disk of tmpfs is -EINVAL', () => {
    const r = run(`${M}
  - { op: create_file, as: f, size: 16KiB }
  - { op: create_file, as: t, size: 4KiB, fs: tmpfs }
  - { op: mmap, proc: a, as: m, size: 16KiB, type: file, file: f, shared: true }
  - { op: drop_caches }
  - { op: write, proc: a, region: m, value: 5 }
  - { op: msync, proc: a, region: m, offset: 4KiB, length: 4KiB, label: ms }
  - { op: read_disk, file: f, label: d }
  - { op: read_disk, file: t, label: dt }
`);
    // After the drop, the faults read the pages back in as order-0 folios: one page is written.
    expect(step(r, 'ms').written).toBe(1);
    expect(step(r, 'd').data).toEqual([fileBlockValue(0, 0), 5, fileBlockValue(0, 2), fileBlockValue(0, 3)]);
    expect(step(r, 'dt').errno).toBe('EINVAL');
  });

  it('O_DIRECT write over a pinned cached page: the page leaves the cache all the same, the write goes to disk', () => {
    const r = run(`${M}
  - { op: create_file, as: f, size: 4KiB }
  - { op: mmap, proc: a, as: m, size: 4KiB, type: file, file: f, shared: true }
  - { op: pin_user_pages, proc: a, region: m, as: h }
  - { op: mmap, proc: a, as: buf, size: 4KiB, type: anon }
  - { op: write, proc: a, region: buf, value: 6 }
  - { op: odirect_write, proc: a, region: buf, file: f, label: dio }
  - { op: read_disk, file: f, label: d }
  - { op: read, proc: a, region: m, label: cache }
  - { op: unpin_user_pages, pins: h }
`);
    // invalidate_complete_folio2() ignores the pin's reference: no -EBUSY, so no buffered fallback
    // (ENOTBLK); the bio pins the buffer's page for the I/O. The read then faults in a new page.
    expect(step(r, 'dio')).toMatchObject({ ret: 4096, vmstat: { nr_foll_pin_acquired: 2, nr_foll_pin_released: 1 } });
    expect(step(r, 'd').data).toEqual([6]);
    expect(step(r, 'cache').data).toEqual([6]);
  });

  it('O_DIRECT read writes back a dirty page first, then reads the disk into the buffer', () => {
    const r = run(`${M}
  - { op: create_file, as: f, size: 4KiB }
  - { op: pwrite, file: f, value: 4 }
  - { op: mmap, proc: a, as: buf, size: 4KiB, type: anon }
  - { op: odirect_read, proc: a, region: buf, file: f }
  - { op: read, proc: a, region: buf, label: got }
  - { op: inspect, proc: a, region: buf, label: page }
`);
    expect(step(r, 'got').data).toEqual([4]);
    expect((step(r, 'page').pages as Array<{ dirty: boolean }>)[0]!.dirty).toBe(true); // bio_release_pages()
  });

  it('drop_caches and truncate', () => {
    const r = run(`${M}
  - { op: create_file, as: f, size: 8KiB }
  - { op: drop_caches, label: drop }
  - { op: truncate, file: f, size: 4KiB }
  - { op: truncate, file: f, size: 8KiB }
  - { op: pread, file: f, label: r }
`);
    expect(step(r, 'drop').dropped).toBe(1); // the file's one order-1 folio
    expect(step(r, 'r').data).toEqual([fileBlockValue(0, 0), 0]);
  });
});

describe('devices', () => {
  it('io_uring fixed reads and writes go through the registration, and check the buffer range', () => {
    const r = run(`${M}
  - { op: create_file, as: f, size: 8KiB }
  - { op: mmap, proc: a, as: b, size: 8KiB, type: anon }
  - { op: write, proc: a, region: b, value: 1 }
  - { op: io_uring_register_buffers, proc: a, region: b, as: ring }
  - { op: fork, proc: a, child: c }
  - { op: io_uring_read_fixed, ring: ring, file: f, label: rd }
  - { op: read, proc: a, region: b, label: parent }
  - { op: read, proc: c, region: b, label: child }
  - { op: io_uring_read_fixed, ring: ring, buf_index: 1, file: f, label: noidx }
  - { op: io_uring_read_fixed, ring: ring, offset: 4KiB, length: 8KiB, file: f, label: outside }
  - { op: io_uring_read_fixed, ring: ring, offset: 100, length: 4KiB, file: f, direct: true, label: unaligned }
  - { op: write, proc: a, region: b, value: 2 }
  - { op: io_uring_write_fixed, ring: ring, file: f, direct: true, label: wr }
  - { op: read_disk, file: f, label: d }
`);
    expect(step(r, 'rd')).toMatchObject({ ret: 8192, vmstat: { nr_foll_pin_acquired: 2, nr_foll_pin_released: 0 } });
    expect(step(r, 'parent').data).toEqual([fileBlockValue(0, 0), fileBlockValue(0, 1)]);
    expect(step(r, 'child').data).toEqual([1, 1]);
    expect(step(r, 'noidx').errno).toBe('EFAULT');
    expect(step(r, 'outside').errno).toBe('EFAULT');
    expect(step(r, 'unaligned').errno).toBe('EINVAL');
    expect(step(r, 'd').data).toEqual([2, 2]);
  });

  it('dma_write writes exactly the held entries; released entries, read-only IOMMU mappings and MRs refuse', () => {
    const r = run(`${M}
  - { op: mmap, proc: a, as: b, size: 8KiB, type: anon }
  - { op: write, proc: a, region: b, value: 1 }
  - { op: pin_user_pages, proc: a, region: b, flags: [FOLL_WRITE], as: h }
  - { op: dma_write, handle: h, offset: 4KiB, value: 5, label: one }
  - { op: read, proc: a, region: b, label: seen }
  - { op: unpin_user_page, pins: h, index: 0 }
  - { op: dma_write, handle: h, label: released }
  - { op: vfio_map_dma, proc: a, region: b, as: ro, write: false }
  - { op: dma_write, handle: ro, label: iommu }
  - { op: dma_read, handle: ro, label: iommu_read }
  - { op: rdma_reg_mr, proc: a, region: b, as: mr, writable: false }
  - { op: rdma_write, mr: mr, label: nic }
`);
    expect(step(r, 'one').ret).toBe(4096);
    expect(step(r, 'seen').data).toEqual([1, 5]);
    expect(step(r, 'released')).toMatchObject({ errno: 'EFAULT' });
    expect(String((step(r, 'released').why as { rule: string }).rule)).toMatch(/released/);
    expect(step(r, 'iommu').errno).toBe('EFAULT');
    expect(step(r, 'iommu_read').data).toEqual([1, 5]);
    expect(step(r, 'nic').errno).toBe('EFAULT');
  });

  it('a device write through a read-only pin of the zero page writes the zero page (and says so)', () => {
    const r = run(`${M}
  - { op: mmap, proc: a, as: b, size: 4KiB, type: anon }
  - { op: read, proc: a, region: b }
  - { op: pin_user_pages, proc: a, region: b, as: h }
  - { op: dma_write, handle: h, value: 3, label: oops }
  - { op: mmap, proc: z, as: other, size: 4KiB, type: anon }
  - { op: read, proc: z, region: other, label: elsewhere }
  - { op: unpin_user_pages, pins: h }
`);
    expect(String(step(r, 'oops').note)).toMatch(/zero page/);
    expect(step(r, 'elsewhere').data).toEqual([3]);
  });

  it('an HMM device loses its mirror on invalidation and faults until hmm_range_fault runs again', () => {
    const r = run(`${M}
  - { op: mmap, proc: a, as: b, size: 4KiB, type: anon }
  - { op: write, proc: a, region: b, value: 1 }
  - { op: hmm_range_fault, proc: a, region: b, as: mir, write: true }
  - { op: dma_write, handle: mir, value: 2, label: ok }
  - { op: fork, proc: a, child: c }
  - { op: dma_read, handle: mir, label: lost }
  - { op: hmm_range_fault, proc: a, region: b, as: mir, write: true }
  - { op: dma_write, handle: mir, value: 3 }
  - { op: read, proc: a, region: b, label: parent }
  - { op: read, proc: c, region: b, label: child }
`);
    expect(step(r, 'ok').ret).toBe(4096);
    expect(step(r, 'lost')).toMatchObject({ errno: 'EFAULT', why: { fn: 'hmm_range_fault' } });
    expect(step(r, 'parent').data).toEqual([3]);
    expect(step(r, 'child').data).toEqual([2]);
  });

  it('pipe_read: EAGAIN when empty, EBADF for a process without the pipe, data as the page is at read time', () => {
    const r = run(`${M}
  - { op: mmap, proc: a, as: b, size: 4KiB, type: anon }
  - { op: write, proc: a, region: b, value: 1 }
  - { op: vmsplice, proc: a, region: b, as: p }
  - { op: pipe_read, pipe: p, proc: x, label: nofd }
  - { op: write, proc: a, region: b, value: 2 }
  - { op: pipe_read, pipe: p, label: got }
  - { op: pipe_read, pipe: p, label: empty }
`);
    expect(step(r, 'nofd').errno).toBe('EBADF');
    expect(step(r, 'got')).toMatchObject({ ret: 4096, data: [2] });
    expect(step(r, 'empty').errno).toBe('EAGAIN');
  });

  it('process_vm_readv reports what arrived; writev from a scratch buffer writes its value', () => {
    const r = run(`${M}
  - { op: mmap, proc: t, as: b, size: 8KiB, type: anon }
  - { op: process_vm_writev, proc: a, target: t, region: b, value: 8, label: w }
  - { op: process_vm_readv, proc: a, target: t, region: b, label: r }
`);
    expect(step(r, 'w')).toMatchObject({ ret: 8192, value: 8 });
    expect(step(r, 'r').data).toEqual([8, 8]);
  });
});
