// How a page of an `inspect` step reads to a person (run, probe and tour share it): its frame, the
// folio's counts, its refcount broken down by who holds it, and its flags.

import type { PageInfo, RefcountParts } from '../scenario/inspect.js';
import { formatData, hex } from '../scenario/data.js';

/** "1025 = 1 mapping + 1024 pin(h)": each part of the refcount, the unattributed rest last. */
export function refcountSum(refcount: number, parts: RefcountParts): string {
  const terms: string[] = [];
  if (parts.mappings) terms.push(`${parts.mappings} mapping${parts.mappings === 1 ? '' : 's'}`);
  if (parts.page_cache) terms.push(`${parts.page_cache} page cache`);
  if (parts.buffers) terms.push(`${parts.buffers} buffer heads`);
  for (const h of parts.holders) {
    if (h.refs) terms.push(`${h.refs} ref ${h.handle}`);
    if (h.pins) terms.push(`${h.refcount - h.refs} pin ${h.handle}${h.pins > 1 ? ` (${h.pins} pins)` : ''}`);
  }
  if (parts.lru_batch) terms.push(`${parts.lru_batch} LRU batch`);
  if (parts.unattributed) terms.push(`${parts.unattributed} unattributed`);
  return `${refcount} = ${terms.join(' + ') || '0'}`;
}

/** One line for a page: "page 0: pfn 0x100 ref 1025 = ... map 1 pin - order 0 pte pinned excl". */
export function pageLine(p: Partial<PageInfo> & { page?: unknown }): string {
  if (!p.present) return `page ${String(p.page)}: not present`;
  const pfn = typeof p.pfn === 'number' ? '0x' + p.pfn.toString(16) : '-';
  const ref = p.refcount === null || p.refcount === undefined ? '-' : String(p.refcount);
  const refText = p.refcount_parts && typeof p.refcount === 'number' ? refcountSum(p.refcount, p.refcount_parts) : ref;
  const flags = [
    p.maybe_dma_pinned ? (p.false_positive ? 'pinned (FALSE POSITIVE: no pin is held)' : 'pinned') : '',
    p.anon_exclusive ? 'excl' : '',
    p.zero_page ? 'zero' : '',
    // Dirty or clean always (case 5: whether the release marked the folio dirty); the zero page is neither.
    p.dirty ? 'dirty' : p.dirty === false && !p.zero_page ? 'clean' : '',
    p.writeback ? 'writeback' : '',
    p.mlocked ? 'mlocked' : '',
    p.lru ? 'lru' : '',
  ].filter(Boolean);
  // Small folios have no _pincount: "-", never a 0 beside "pinned".
  const data = typeof p.data === 'number' ? ` data ${hex(p.data)}` : '';
  return (
    `page ${String(p.page)}: pfn ${pfn} ref ${refText}, map ${p.mapcount ?? '-'} pin ${p.pincount ?? '-'} ` +
    `order ${p.order ?? '-'} ${p.mapped_by ?? '-'}${flags.length ? ' ' + flags.join(' ') : ''}${data}`
  );
}

/** The lines of an `inspect handle:` result. */
export function frameLines(h: Record<string, unknown>, frames: Array<Record<string, unknown>>): string[] {
  const out = [
    `${String(h.type)} ${String(h.name)} of ${String(h.process)}${h.closed ? ' (closed)' : ''}: ${String(h.pins)} ` +
      `pin(s), ${String(h.refs)} reference(s), ${frames.length} frame(s)`,
  ];
  for (const f of frames.slice(0, 8)) {
    const pfn = typeof f.pfn === 'number' ? '0x' + f.pfn.toString(16) : '-';
    const now = typeof f.mapped_pfn === 'number' ? '0x' + f.mapped_pfn.toString(16) : 'nothing';
    out.push(
      `${String(f.addr)}: pfn ${pfn}${Number(f.pages) > 1 ? ` (${String(f.pages)} pages)` : ''}, ` +
        `${f.pins ? `${String(f.pins)} pin` : `${String(f.refs)} ref`}; ` +
        (f.still_mapped ? 'still the frame the process maps' : `STALE: the process maps ${now} there`) +
        (Array.isArray(f.data) ? `; data ${formatData(f.data as number[], 4)}` : ''),
    );
  }
  if (frames.length > 8) out.push(`... ${frames.length - 8} more frames`);
  return out;
}
