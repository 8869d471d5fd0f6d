// Models folio_maybe_dma_pinned() of include/linux/mm.h: the question every consumer of pin
// tracking asks (fork's early copy, writeback policies), kept apart from mm/gup.c so that modules
// gup.ts depends on (page-writeback.ts) can ask it too.

import type { Machine } from './machine.js';
import { GUP_PIN_COUNTING_BIAS } from './memmap.js';

/**
 * folio_maybe_dma_pinned(): exact (_pincount > 0) for large folios; for small folios any refcount of
 * at least GUP_PIN_COUNTING_BIAS, compared unsigned so a wrapped count still reads as pinned.
 */
export function folio_maybe_dma_pinned(m: Machine, folio: number): boolean {
  if (m.mem.folio_has_pincount(folio)) return m.mem.folioPincount(folio) > 0;
  return m.mem.refcount[folio]! >>> 0 >= GUP_PIN_COUNTING_BIAS;
}
