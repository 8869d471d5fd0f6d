// What writeback does with a folio folio_maybe_dma_pinned() reports: the question pin_user_pages.rst
// leaves open ("It's a TODO item here"). Linux 6.18 asks nothing: write_cache_pages() ->
// folio_clear_dirty_for_io() (mm/page-writeback.c) cleans and writes a pinned folio like any other
// ('linux', the machine's default). Every other policy here is a gupsim what-if, NOT kernel
// behaviour: the schemes of the document's references and of later proposals, modelled where the
// kernel would decide (folio_prepare_writeback(), per folio, before it is cleaned for I/O) so that
// experiment 5 can compare them on one workload. The first three are the generic options of that
// debate (leave a pinned folio alone, write it through a bounce copy, make writeback wait for the
// pin), modelled from that one-line description: no patch implements them as such. The fourth is a
// scheme with code to read:
//   'skip': never write a maybe-pinned folio: it stays dirty until it is unpinned and written later;
//   'bounce': write a copy of it and keep it dirty, so what a device writes later is written again;
//   'wait': data-integrity writeback (fsync, sync) waits until the pin is dropped (stable pages for
//     pins); background writeback skips it, as folio_prepare_writeback() skips a folio under
//     writeback instead of waiting for it when WB_SYNC_NONE;
//   'skip-or-bounce': J. Kara's RFC "Writeback handling of pinned pages" (linux-fsdevel, Feb 2023):
//     folio_clear_dirty_for_io() answers false for a pinned folio under WB_SYNC_NONE (after
//     folio_mkclean(): it stays dirty), and data-integrity writeback writes it through a bounce page
//     (BIO_NEED_PIN_BOUNCE, on devices that need stable pages), the folio cleaned as usual.

import type { Machine } from './machine.js';
import { folio_maybe_dma_pinned } from './dma_pinned.js';

/** The writeback policies for maybe-pinned folios: 'linux' is 6.18's; the others are what-ifs. */
export type WritebackPolicy = 'linux' | 'skip' | 'bounce' | 'wait' | 'skip-or-bounce';

export const WRITEBACK_POLICIES: readonly WritebackPolicy[] = ['linux', 'skip', 'bounce', 'wait', 'skip-or-bounce'];

/** enum writeback_sync_modes (include/linux/writeback.h): background (memory cleaning) writeback. */
export const WB_SYNC_NONE = 0;
/** Data-integrity writeback: fsync, msync(MS_SYNC), sync, O_DIRECT's flush before its I/O. */
export const WB_SYNC_ALL = 1;
export type WbSyncMode = typeof WB_SYNC_NONE | typeof WB_SYNC_ALL;

/**
 * What writeback does with one dirty folio:
 * 'write': clean it (folio_clear_dirty_for_io()) and write its pages (every folio under 'linux');
 * 'skip': folio_mkclean() its mappings, leave it dirty and unwritten;
 * 'bounce': clean it and write a copy (the copy is what reaches the disk);
 * 'bounce-keep-dirty': write a copy and leave the folio dirty (not cleaned, mappings untouched);
 * 'wait': leave it dirty and unwritten; the data-integrity caller must wait for the pin to go.
 */
export type PinnedFolioAction = 'write' | 'skip' | 'bounce' | 'bounce-keep-dirty' | 'wait';

/** The action of the machine's policy (cfg.writebackPolicy) for a dirty folio under `sync`. */
export function pinnedFolioAction(m: Machine, folio: number, sync: WbSyncMode): PinnedFolioAction {
  const policy = m.cfg.writebackPolicy;
  if (policy === 'linux' || !folio_maybe_dma_pinned(m, folio)) return 'write';
  switch (policy) {
    case 'skip':
      return 'skip';
    case 'bounce':
      return 'bounce-keep-dirty';
    case 'wait':
      return sync === WB_SYNC_ALL ? 'wait' : 'skip';
    case 'skip-or-bounce':
      return sync === WB_SYNC_ALL ? 'bounce' : 'skip';
  }
}
