// Models mm/debug.c dump_page() / __dump_folio(): the lines the kernel prints for a page, in its
// order and format (6.18: the large-folio "head:" line carries the total mapcount, nr_pages_mapped
// and the exact _pincount). The raw struct page hex dumps are not reproduced: the model has no
// struct page layout to show.

import type { Machine } from './machine.js';
import {
  ZERO_PFN,
  PG_dirty,
  PG_head,
  PG_lru,
  PG_referenced,
  PG_swapbacked,
  PG_writeback,
  PG_buddy,
  PG_hugetlb,
  PG_tail,
} from './memmap.js';
import { AddressSpace } from './fs.js';
import type { WarnRecord } from './warn.js';

// Flags the model does not store but derives: uptodate (every allocated page), reserved (the zero page).
const DERIVED_UPTODATE = -1;
const DERIVED_RESERVED = -2;

/** Kernel bit numbers of enum pageflags (6.18) for the flags the model keeps. */
const PAGEFLAG_BITS: Array<[number, number, string]> = [
  [PG_writeback, 1, 'writeback'],
  [PG_referenced, 2, 'referenced'],
  [DERIVED_UPTODATE, 3, 'uptodate'],
  [PG_dirty, 4, 'dirty'],
  [PG_lru, 5, 'lru'],
  [PG_head, 6, 'head'],
  [DERIVED_RESERVED, 13, 'reserved'],
  [PG_swapbacked, 17, 'swapbacked'],
];

const ZONE_INDEX: Record<string, number> = { DMA32: 1, NORMAL: 2, MOVABLE: 3, DEVICE: 4 };

/** %p prints a hashed pointer: a stable stand-in per mapping object. */
function hashedPointer(id: number): string {
  if (id === 0) return '0000000000000000';
  const h = (Math.imul(id, 0x9e3779b1) >>> 0) | 0x10000000;
  return (h >>> 0).toString(16).padStart(16, '0');
}

const hex = (n: number) => (n === 0 ? '0' : '0x' + n.toString(16));

/** The %pGp rendering of a folio's flags: value and names, with node and zone. */
function renderFlags(m: Machine, folio: number): string {
  const f = m.mem.flags[folio]!;
  const allocated = !(f & PG_buddy) && (m.mem.refcount[folio]! > 0 || f & PG_hugetlb);
  let value = 0n;
  const names: string[] = [];
  for (const [bit, kbit, name] of PAGEFLAG_BITS) {
    const on =
      bit === DERIVED_UPTODATE
        ? allocated && !(f & PG_buddy)
        : bit === DERIVED_RESERVED
          ? folio === ZERO_PFN
          : (f & bit) !== 0;
    if (!on) continue;
    value |= 1n << BigInt(kbit);
    names.push(name);
  }
  const zone = ZONE_INDEX[m.alloc.zoneOf(folio)] ?? 1;
  value |= BigInt(zone) << 62n;
  names.push('node=0', `zone=${zone}`);
  return `0x${value.toString(16)}(${names.join('|')})`;
}

/**
 * dump_page(): the kernel's text for a page, one line per pr_warn. `reason` is printed last as
 * "page dumped because: ...".
 */
export function dump_page(m: Machine, pfn: number, reason?: string): string {
  const mem = m.mem;
  const lines: string[] = [];
  const buddy = (mem.flags[pfn]! & PG_buddy) !== 0;
  const folio = buddy || !(mem.flags[pfn]! & PG_tail) ? pfn : mem.page_folio(pfn);
  const large = !buddy && mem.folio_test_large(folio);
  const typed = buddy || mem.folio_test_hugetlb(folio);
  const mapcount = typed ? 0 : mem.mapcount[pfn]!;
  const mappingId = buddy ? 0 : mem.mapping[folio]!;
  const index = buddy ? 0 : mem.page_pgoff(pfn);
  lines.push(
    `page: refcount:${mem.refcount[folio]} mapcount:${mapcount} mapping:${hashedPointer(mappingId)} ` +
      `index:${hex(index)} pfn:${hex(pfn)}`,
  );
  if (large) {
    lines.push(
      `head: order:${mem.folio_order(folio)} mapcount:${mem.folio_mapcount(folio)} ` +
        `entire_mapcount:${mem.folio_entire_mapcount(folio)} nr_pages_mapped:${mem.folio_nr_pages_mapped(folio)} ` +
        `pincount:${mem.folio_has_pincount(folio) ? mem.folioPincount(folio) : 0}`,
    );
  }
  let prefix = '';
  if (!buddy && mem.folio_test_anon(folio)) prefix = 'anon ';
  else if (mappingId) {
    const obj = m.mappingObj(mappingId);
    if (obj instanceof AddressSpace) {
      const aops =
        obj.fs === 'tmpfs'
          ? 'shmem_aops'
          : obj.fs === 'hugetlbfs'
            ? 'hugetlbfs_aops'
            : obj.fs === 'dax'
              ? 'ext4_dax_aops'
              : 'ext4_aops';
      lines.push(`aops:${aops} ino:${obj.id.toString(16)} dentry name(?):"${obj.name.replace(/^.*\//, '')}"`);
    }
  }
  const cma = m.alloc.is_migrate_cma_page(pfn) ? ' CMA' : '';
  lines.push(`${prefix}flags: ${renderFlags(m, folio)}${cma}`);
  if (buddy) lines.push('page_type: f0(buddy)');
  else if (mem.folio_test_hugetlb(folio)) lines.push('page_type: f4(hugetlb)');
  if (reason) lines.push(`page dumped because: ${reason}`);
  return lines.join('\n') + '\n';
}

/** WARN sites outside mm/gup.c. */
const FN_FILE: Record<string, string> = {
  io_pin_pages: 'io_uring/memmap.c',
  verify_dma_pinned: 'mm/gup_test.c',
};

/** A WARN record in the shape of the kernel's splat header. */
export function formatWarn(w: WarnRecord): string {
  const file = FN_FILE[w.fn] ?? 'mm/gup.c';
  const step = w.step !== undefined ? ` (step ${w.step})` : '';
  return (
    `WARNING: at ${file} ${w.fn}: ` +
    `${w.condition}${w.once ? '' : ' [repeat: not ' + 'printed again by ' + 'WARN_ON_ONCE]'}${step}`
  );
}
