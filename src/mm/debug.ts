// Models mm/debug.c dump_page() / __dump_folio(): the lines the kernel prints for a page, in its
// order and format, per release (profile.dumpPageFormat): 6.12 and 6.18 print __dump_folio()'s
// "head:" line with the total mapcount, nr_pages_mapped and folio->_pincount; 6.1's __dump_page()
// prints "page:<ptr>", page_mapcount() (with the entire mapcount), and a "head:<ptr>" line with
// compound_mapcount and page[1].compound_pincount. The raw struct page hex dumps are not reproduced:
// the model has no struct page layout to show.

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
import type { KernelProfile } from './profile.js';

// Flags the model does not store but derives: uptodate (every allocated page), reserved (the zero
// page), active (kept aside in machine.activeFolios).
const DERIVED_UPTODATE = -1;
const DERIVED_RESERVED = -2;
const DERIVED_ACTIVE = -3;

/**
 * The flags the model keeps, in the order %pGp prints them (pageflag_names of
 * include/trace/events/mmflags.h, the same order in every release), with their bit in enum pageflags
 * of 6.12/6.18 and of 6.1 (which has PG_error and PG_slab early and PG_writeback after PG_private_2).
 */
const PAGEFLAG_BITS: Array<[model: number, folio: number, v6_1: number, name: string]> = [
  [PG_referenced, 2, 1, 'referenced'],
  [DERIVED_UPTODATE, 3, 2, 'uptodate'],
  [PG_dirty, 4, 3, 'dirty'],
  [PG_lru, 5, 4, 'lru'],
  [DERIVED_ACTIVE, 8, 5, 'active'],
  [DERIVED_RESERVED, 13, 12, 'reserved'],
  [PG_writeback, 1, 15, 'writeback'],
  [PG_head, 6, 16, 'head'],
  [PG_swapbacked, 17, 19, 'swapbacked'],
];

const ZONE_INDEX: Record<string, number> = { DMA32: 1, NORMAL: 2, MOVABLE: 3, DEVICE: 4 };

/** %p prints a hashed pointer: a stable stand-in per mapping object. */
function hashedPointer(id: number): string {
  if (id === 0) return '0000000000000000';
  const h = (Math.imul(id, 0x9e3779b1) >>> 0) | 0x10000000;
  return (h >>> 0).toString(16).padStart(16, '0');
}

/** 6.1's "page:%p" and "head:%p": a stable stand-in for the hashed struct page pointer. */
function pagePointer(pfn: number): string {
  const h = (Math.imul(pfn + 1, 0x85ebca6b) >>> 0) | 0x20000000;
  return (h >>> 0).toString(16).padStart(16, '0');
}

const hex = (n: number) => (n === 0 ? '0' : '0x' + n.toString(16));

/** The %pGp rendering of a folio's flags: value and names, with node and zone. */
function renderFlags(m: Machine, folio: number, profile: KernelProfile): string {
  const f = m.mem.flags[folio]!;
  const allocated = !(f & PG_buddy) && (m.mem.refcount[folio]! > 0 || f & PG_hugetlb);
  let value = 0n;
  const names: string[] = [];
  for (const [bit, folioBit, bit6_1, name] of PAGEFLAG_BITS) {
    const on =
      bit === DERIVED_UPTODATE
        ? allocated && !(f & PG_buddy)
        : bit === DERIVED_RESERVED
          ? folio === ZERO_PFN
          : bit === DERIVED_ACTIVE
            ? m.activeFolios.has(folio)
            : (f & bit) !== 0;
    if (!on) continue;
    value |= 1n << BigInt(profile.dumpPageFormat === '6.1' ? bit6_1 : folioBit);
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
  const profile = m.profile;
  const v6_1 = profile.dumpPageFormat === '6.1';
  const lines: string[] = [];
  const buddy = (mem.flags[pfn]! & PG_buddy) !== 0;
  const folio = buddy || !(mem.flags[pfn]! & PG_tail) ? pfn : mem.page_folio(pfn);
  const large = !buddy && mem.folio_test_large(folio);
  const typed = buddy || mem.folio_test_hugetlb(folio);
  const mappingId = buddy ? 0 : mem.mapping[folio]!;
  const index = buddy ? 0 : mem.page_pgoff(pfn);
  if (v6_1) {
    // __dump_page(): page_mapcount() adds the entire mapcount for anon and hugetlb compound pages;
    // a free page's _mapcount is its page_type (PG_buddy cleared from -1: reads as -128).
    let mapcount = buddy ? PAGE_BUDDY_MAPCOUNT_6_1 : mem.mapcount[pfn]!;
    if (large && (mem.folio_test_anon(folio) || mem.folio_test_hugetlb(folio)))
      mapcount += mem.folio_entire_mapcount(folio);
    lines.push(
      `page:${pagePointer(pfn)} refcount:${mem.refcount[folio]} mapcount:${mapcount} ` +
        `mapping:${hashedPointer(mappingId)} index:${hex(index)} pfn:${hex(pfn)}`,
    );
    if (large)
      lines.push(
        `head:${pagePointer(folio)} order:${mem.folio_order(folio)} compound_mapcount:` +
          `${mem.folio_entire_mapcount(folio)} compound_pincount:${mem.folioPincount(folio)}`,
      );
  } else {
    const mapcount = typed ? 0 : mem.mapcount[pfn]!;
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
  lines.push(`${prefix}flags: ${renderFlags(m, folio, profile)}${cma}`);
  // 6.1 has no page_type line (and hugetlb is no page type there).
  if (!v6_1) {
    if (buddy) lines.push('page_type: f0(buddy)');
    else if (mem.folio_test_hugetlb(folio)) lines.push('page_type: f4(hugetlb)');
  }
  if (reason) lines.push(`page dumped because: ${reason}`);
  return lines.join('\n') + '\n';
}

/** 6.1: a free page's _mapcount holds page_type 0xffffff7f (PG_buddy cleared), so page_mapcount() is -128. */
const PAGE_BUDDY_MAPCOUNT_6_1 = -128;
