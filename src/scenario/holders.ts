// gupsim's ledger of who holds pins and references in a scenario run: every consumer object and raw
// GUP handle a step creates is registered by name, so a run can report, by owner, what is still held
// at its end (a leak). The kernel itself keeps no such list.

import type { Holder, HolderType } from '../consumers/holder.js';

export interface OutstandingHold {
  owner: string;
  type: HolderType;
  process: string;
  pins: number;
  refs: number;
}

/** Everything still held, by owner. */
export function outstanding(holders: Iterable<Holder>): OutstandingHold[] {
  const out: OutstandingHold[] = [];
  for (const h of holders) {
    const pins = h.pins();
    const refs = h.refs();
    if (pins || refs) out.push({ owner: h.name, type: h.type, process: h.process, pins, refs });
  }
  return out;
}
