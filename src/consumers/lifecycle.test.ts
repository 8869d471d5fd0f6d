// Lifecycle tests across the consumers: while each object holds its pages, the model's structural
// invariants hold exactly (refcount == mappings + page cache + 1024 per small-folio pin + FOLL_GET
// references; _pincount == pins), and once everything is released — by the API or by the
// creator's exit (exit_mm, then exit_files) — no pin or reference is left and nothing leaks.

import { describe, it, expect } from 'vitest';
import { Machine } from '../mm/machine.js';
import { type Process } from '../mm/task.js';
import { checkInvariants } from '../tools/invariants.js';
import { do_mmap } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { PAGE_SIZE, PMD_SIZE } from '../mm/memmap.js';
import { kernel_clone } from '../kernel/fork.js';
import { do_exit } from '../kernel/exit.js';
import { IoRing, io_uring_setup, io_sqe_buffers_register } from './io_uring.js';
import { pipeCreate, vmsplice_to_pipe, type Pipe } from './vmsplice.js';
import { ib_umem_get, type IbMr } from './rdma.js';
import { vfio_dma_do_map, type VfioDma } from './vfio.js';
import { hmm_range_fault, mmu_interval_notifier_insert } from './hmm.js';
import { process_vm_rw } from './process_vm.js';

function add(map: Map<number, number>, folio: number, n = 1): void {
  map.set(folio, (map.get(folio) ?? 0) + n);
}

/** The pins and FOLL_GET references the objects hold, per folio head. */
function held(
  m: Machine,
  rings: IoRing[],
  pipes: Pipe[],
  mrs: IbMr[],
  dmas: VfioDma[],
): [Map<number, number>, Map<number, number>] {
  const pins = new Map<number, number>();
  const gets = new Map<number, number>();
  for (const r of rings) for (const b of r.bufs) for (const p of b.bvecPages) add(pins, m.mem.page_folio(p));
  for (const p of pipes) for (const b of p.bufs) add(gets, m.mem.page_folio(b.page));
  for (const mr of mrs)
    for (const e of mr.sg) for (let i = 0; i < e.npages; i++) add(pins, m.mem.page_folio(e.page + i));
  for (const d of dmas)
    for (const r of d.runs) if (!r.rsvd) for (let i = 0; i < r.npages; i++) add(pins, m.mem.page_folio(r.pfn + i));
  return [pins, gets];
}

function buffer(m: Machine, p: Process, size: number, thp: boolean): number {
  const addr = do_mmap(m, p, { size, type: 'anon', align: thp ? PMD_SIZE : PAGE_SIZE });
  expect(do_madvise(m, p, addr, size, thp ? 'hugepage' : 'nohugepage')).toBe(0);
  expect(userAccess(m, p, addr, size, true)).toBe(0);
  return addr;
}

describe('consumer lifecycles keep the model consistent', () => {
  for (const thp of [false, true]) {
    it(
      `every consumer on the same ${thp ? 'THP' : 'base-page'} buffer; fork; the creator exits: exact invariants ` +
        `throughout, nothing left`,
      () => {
        const m = new Machine({ memory: 1 << 30, thp: 'madvise' });
        const p = m.spawn('app');
        const other = m.spawn('peer');
        const addr = buffer(m, p, 4 * PMD_SIZE, thp);
        const len = 4 * PMD_SIZE;
        const ring = io_uring_setup(m, 'ring', p) as IoRing;
        expect(io_sqe_buffers_register(m, ring, [{ base: addr, len: PMD_SIZE }])).toBe(0);
        const pipe = pipeCreate(m, 'pipe', p);
        expect(vmsplice_to_pipe(m, p, pipe, addr + PMD_SIZE, 16 * PAGE_SIZE)).toBe(16 * PAGE_SIZE);
        const mr = ib_umem_get(m, p, 'mr', addr, 2 * PMD_SIZE) as IbMr;
        expect(typeof mr).toBe('object');
        const dma = vfio_dma_do_map(m, p, 'dma', addr + PMD_SIZE, 3 * PMD_SIZE) as VfioDma;
        expect(typeof dma).toBe('object');
        const mirror = mmu_interval_notifier_insert(m, 'mirror', p, addr, addr + len);
        expect(hmm_range_fault(m, mirror, true).ret).toBe(0);
        const local = buffer(m, other, len, false);
        expect(process_vm_rw(m, other, p, { addr: local, len }, { addr, len }, false)).toBe(len);
        expect(checkInvariants(m, ...held(m, [ring], [pipe], [mr], [dma]))).toEqual([]);

        const child = kernel_clone(m, p, 'child') as Process;
        expect(checkInvariants(m, ...held(m, [ring], [pipe], [mr], [dma]))).toEqual([]);
        expect(userAccess(m, child, addr, len, true)).toBe(0);
        do_exit(m, child);
        expect(checkInvariants(m, ...held(m, [ring], [pipe], [mr], [dma]))).toEqual([]);
        expect(mr.pins()).toBeGreaterThan(0);

        do_exit(m, p);
        expect([ring.pins(), pipe.refs(), mr.pins(), dma.pins()]).toEqual([0, 0, 0, 0]);
        expect(mirror.closed).toBe(true);
        expect(m.vmstat.get('nr_foll_pin_acquired')).toBe(m.vmstat.get('nr_foll_pin_released'));
        expect(checkInvariants(m, new Map(), new Map())).toEqual([]);
      },
    );
  }
});
