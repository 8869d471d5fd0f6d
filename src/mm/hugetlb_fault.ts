// Models the fault side of mm/hugetlb.c: hugetlb_no_page() (page cache for shared mappings, a new
// anon folio for private ones) and hugetlb_wp() (reuse an exclusive or singly referenced anon folio,
// otherwise copy into a new pool folio). A hugetlb folio is mapped by one PMD (2M) or PUD (1G).

import type { Machine } from './machine.js';
import { NO_FOLIO, NO_PFN, PAGE_SIZE, PUD_ORDER } from './memmap.js';
import { VM_SHARED, VM_WRITE, type Vma, FAULT_FLAG_UNSHARE, FAULT_FLAG_WRITE, VM_FAULT_SIGBUS } from './mm_types.js';
import {
  mk_pte,
  pte_pfn,
  pte_present,
  pte_write,
  pte_mkwrite,
  pte_mkdirty,
  pte_mkyoung,
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
} from './pgtable.js';
import { folio_add_new_anon_rmap, folioAddRmapEntire, folioRemoveRmapEntire } from './rmap.js';
import { filemap_add_folio } from './filemap.js';
import { folio_put_refs, folio_ref_add } from './swap.js';

/** Read the hugetlb leaf entry covering addr. */
export function hugePte(vma: Vma, addr: number): number {
  const pt = vma.mm.pt;
  return vma.hugeOrder === PUD_ORDER ? pt.pudLeaf(addr) : pt.pmdLeaf(addr);
}

export function setHugePte(vma: Vma, haddr: number, e: number): void {
  const pt = vma.mm.pt;
  if (vma.hugeOrder === PUD_ORDER) pt.setPudLeaf(haddr, e);
  else pt.setPmdLeaf(haddr, e);
}

/** @see mm/hugetlb.c hugetlb_fault() */
export function hugetlb_fault(m: Machine, vma: Vma, addr: number, flags: number): number {
  const size = PAGE_SIZE << vma.hugeOrder;
  const haddr = addr - (addr % size);
  const e = hugePte(vma, haddr);
  if (!pte_present(e)) return hugetlb_no_page(m, vma, haddr, flags);
  if (flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE) && !pte_write(e)) return hugetlb_wp(m, vma, haddr, flags);
  setHugePte(vma, haddr, pte_mkyoung(flags & FAULT_FLAG_WRITE ? pte_mkdirty(e) : e));
  return 0;
}

function hugetlb_no_page(m: Machine, vma: Vma, haddr: number, flags: number): number {
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  const file = vma.file!;
  const idx = vma.pgoff + (haddr - vma.start) / PAGE_SIZE;
  if (idx >= file.sizePages) return VM_FAULT_SIGBUS;
  let page = file.lookup(idx);
  if (shared || page !== NO_PFN) {
    if (page === NO_PFN) {
      const folio = m.hugetlb.alloc(vma.hugeOrder, true);
      if (folio === NO_FOLIO) return VM_FAULT_SIGBUS;
      filemap_add_folio(m, folio, file, idx);
      page = folio;
    }
    if (!shared && write) return hugetlb_wp(m, vma, haddr, flags, page);
    folio_ref_add(m, page, 1);
    folioAddRmapEntire(m, page);
    let bits = _PAGE_ACCESSED;
    if (shared && vma.flags & VM_WRITE) bits |= _PAGE_RW | (write ? _PAGE_DIRTY : 0);
    setHugePte(vma, haddr, mk_pte(page, bits));
    vma.mm.rss_file += 1 << vma.hugeOrder;
    return 0;
  }
  // Private anonymous hugetlb: a new exclusive anon folio, writable right away on a write fault.
  const folio = m.hugetlb.alloc(vma.hugeOrder, true);
  if (folio === NO_FOLIO) return VM_FAULT_SIGBUS;
  folio_add_new_anon_rmap(m, folio, vma, haddr, vma.hugeOrder === PUD_ORDER ? 'pud' : 'pmd');
  let bits = _PAGE_ACCESSED;
  if (write) bits |= _PAGE_DIRTY | (vma.flags & VM_WRITE ? _PAGE_RW : 0);
  setHugePte(vma, haddr, mk_pte(folio, bits));
  vma.mm.rss_anon += 1 << vma.hugeOrder;
  return 0;
}

/**
 * hugetlb_wp(): anon folios that are exclusive or only referenced by this mapping are reused; others
 * (and page-cache folios of private mappings) are copied into a new pool folio.
 * `cachePage` is set when called from a first write to a private file mapping.
 */
function hugetlb_wp(m: Machine, vma: Vma, haddr: number, flags: number, cachePage = NO_PFN): number {
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  const mem = m.mem;
  const e = hugePte(vma, haddr);
  const old = cachePage !== NO_PFN ? cachePage : pte_pfn(e);
  if (vma.flags & VM_SHARED) {
    if (unshare) return 0;
    setHugePte(vma, haddr, pte_mkyoung(pte_mkdirty(pte_mkwrite(e))));
    return 0;
  }
  // Reuse when this is the only mapping: folio_mapcount() == 1, deliberately not the refcount, so
  // extra (FOLL_GET) references do not force a copy. @see mm/hugetlb.c hugetlb_wp()
  if (cachePage === NO_PFN && mem.folio_test_anon(old) && mem.folio_mapcount(old) === 1) {
    mem.SetPageAnonExclusive(old);
    if (!unshare) setHugePte(vma, haddr, pte_mkyoung(pte_mkdirty(vma.flags & VM_WRITE ? pte_mkwrite(e) : e)));
    return 0;
  }
  const folio = m.hugetlb.alloc(vma.hugeOrder, false);
  // vmf_error(PTR_ERR(new_folio)): alloc_hugetlb_folio() fails with -ENOSPC when the pool is
  // exhausted, which is VM_FAULT_SIGBUS for unshare and write faults alike. @see mm/hugetlb.c hugetlb_wp()
  if (folio === NO_FOLIO) return VM_FAULT_SIGBUS;
  if (cachePage === NO_PFN && pte_present(e)) {
    const wasAnon = mem.folio_test_anon(old);
    folioRemoveRmapEntire(m, old);
    folio_put_refs(m, old, 1);
    if (wasAnon) vma.mm.rss_anon -= 1 << vma.hugeOrder;
    else vma.mm.rss_file -= 1 << vma.hugeOrder;
  }
  folio_add_new_anon_rmap(m, folio, vma, haddr, vma.hugeOrder === PUD_ORDER ? 'pud' : 'pmd');
  let bits = _PAGE_ACCESSED;
  if (!unshare) bits |= _PAGE_DIRTY | (vma.flags & VM_WRITE ? _PAGE_RW : 0);
  setHugePte(vma, haddr, mk_pte(folio, bits));
  vma.mm.rss_anon += 1 << vma.hugeOrder;
  return 0;
}
