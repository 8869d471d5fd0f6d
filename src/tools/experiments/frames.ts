// Where a device's write through a pin lands, by frame identity. A device (an RDMA NIC, an io_uring
// fixed buffer's DMA) writes to the physical frame it pinned; a process sees that write at an address
// only if it maps that same frame there. So after fork and copy-on-write, "the device write reaches X"
// is a function of three frames: the device's, the parent's and the child's at the address.
//
// Experiment 6 decides by data (the device writes a value, each process reads its buffer) and checks
// that this rule gives the same answer; the frames the devices write to come from here.

import { lookupPage } from '../../scenario/inspect.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import type { Process } from '../../mm/task.js';
import type { IbMr } from '../../consumers/rdma.js';
import type { MappedUbuf } from '../../consumers/io_uring.js';

export type Reach = 'parent' | 'child' | 'both' | 'nobody';

/**
 * Which processes see a device write into frame `device`: each one that maps it at the address.
 * `parent` and `child` are the frames they map there (null: nothing mapped, or no such process).
 */
export function deviceWriteReaches(device: number, parent: number | null, child: number | null): Reach {
  const p = parent === device;
  const c = child === device;
  if (p && c) return 'both';
  if (p) return 'parent';
  if (c) return 'child';
  return 'nobody';
}

/** The frame `p` maps at `addr`, or null. */
export function mappedFrame(p: Process, addr: number): number | null {
  if (!p.alive) return null;
  return lookupPage(p, addr)?.pfn ?? null;
}

/** The frames an RDMA MR's device writes to, page by page (its scatterlist, expanded). */
export function mrFrames(mr: IbMr): Int32Array {
  const out = new Int32Array(mr.npages);
  let i = 0;
  for (const e of mr.sg) for (let k = 0; k < e.npages; k++) out[i++] = e.page + k;
  return out;
}

/**
 * The frames an io_uring fixed buffer's I/O writes to, page by page. A coalesced buffer keeps one
 * entry per folio (its head); a page's frame is then the head plus its offset in the folio, the
 * offset of its address in the folio's naturally aligned virtual range (anonymous large folios are
 * mapped aligned).
 */
export function ubufFrames(buf: MappedUbuf): Int32Array {
  const first = Math.floor(buf.ubuf / PAGE_SIZE);
  const nr = Math.ceil((buf.ubuf + buf.len) / PAGE_SIZE) - first;
  const out = new Int32Array(nr);
  if (!buf.coalesced) {
    out.set(buf.bvecPages.subarray(0, nr));
    return out;
  }
  const folioPages = 1 << (buf.folioShift - Math.log2(PAGE_SIZE));
  const off = first % folioPages;
  for (let i = 0; i < nr; i++) out[i] = buf.bvecPages[Math.floor((off + i) / folioPages)]! + ((off + i) % folioPages);
  return out;
}
