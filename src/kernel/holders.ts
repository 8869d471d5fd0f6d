// gupsim's ledger of who holds pins and references: every consumer object (io_uring buffer table,
// RDMA MR, VFIO mapping, pipe, raw GUP handle) registers here so a run can report, by owner, what is
// still held at its end (a leak) — the kernel itself keeps no such list.

import type { Machine } from './machine.js';

export type HolderType = 'ring' | 'mr' | 'dma' | 'pipe' | 'handle' | 'mirror';

export interface Holder {
  /** The scenario name of the object (ring, MR, handle...). */
  readonly name: string;
  readonly type: HolderType;
  /** Name of the process that created it. */
  readonly process: string;
  /** Pin units (FOLL_PIN) still held. */
  pins(): number;
  /** Plain references (FOLL_GET) still held. */
  refs(): number;
}

export interface OutstandingHold {
  owner: string;
  type: HolderType;
  process: string;
  pins: number;
  refs: number;
}

/** Everything still held, by owner. */
export function outstanding(m: Machine): OutstandingHold[] {
  const out: OutstandingHold[] = [];
  for (const h of m.holders.values()) {
    const pins = h.pins();
    const refs = h.refs();
    if (pins || refs) out.push({ owner: h.name, type: h.type, process: h.process, pins, refs });
  }
  return out;
}
