// What every consumer object that holds user pages has in common (an io_uring buffer table, an RDMA
// MR, a VFIO mapping, a pipe, an HMM mirror, a raw GUP handle): a scenario name, the process that
// created it, whether it is gone, and how many pins and plain references it still holds. The kernel
// keeps no such list; gupsim uses it to report leaks and to show what a handle holds.

import type { Process } from '../mm/task.js';

export type HolderType = 'ring' | 'mr' | 'dma' | 'pipe' | 'handle' | 'mirror';

/**
 * One frame a holder keeps (or, for a mirror, knows of): the user address it was taken for, the
 * page it holds there, how many pages from it the hold covers (all in one folio), and the pin units
 * and plain references the hold costs the folio.
 */
export interface HeldFrame {
  addr: number;
  pfn: number;
  pages: number;
  pins: number;
  refs: number;
}

export abstract class Holder {
  abstract readonly type: HolderType;
  /** Released (last fd closed, deregistered, unmapped): it holds nothing any more. */
  closed = false;

  constructor(
    /** The scenario name of the object. */
    readonly name: string,
    /** The process that created it. */
    readonly owner: Process,
  ) {}

  /** Name of the process that created it. */
  get process(): string {
    return this.owner.name;
  }

  /** Pin units (FOLL_PIN) still held. */
  abstract pins(): number;

  /** Plain references (FOLL_GET) still held. */
  abstract refs(): number;

  /** The process whose address space the frames' addresses are in (remote GUP: the target). */
  get space(): Process {
    return this.owner;
  }

  /** Every frame still held, in the order the holder keeps them. */
  abstract frames(): HeldFrame[];
}
