// Models include/linux/huge_mm.h: the inline helpers every THP user needs, kept apart from
// huge_memory.ts so that the reference paths (swap.ts) can use them without an import cycle.

import type { Machine } from './machine.js';
import { NO_FOLIO } from './memmap.js';

/** is_huge_zero_folio(). */
export function is_huge_zero_folio(m: Machine, folio: number): boolean {
  return folio === m.huge_zero_folio && folio !== NO_FOLIO;
}
