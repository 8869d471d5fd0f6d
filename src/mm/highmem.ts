// Models the page-content helpers of include/linux/highmem.h and mm/util.c (clear_highpage(),
// copy_highpage(), copy_user_highpage(), folio_copy(), copy_user_large_folio(), memcpy_to_page(),
// memcpy_from_page()) on the model's contents: each page holds one 32-bit value standing for its
// bytes (a page-granular simplification: a write stores one value over the whole page). Every place
// the kernel moves page bytes calls one of these, so the values travel as the kernel's bytes do.
//
// The values live in MemMap.data, allocated on first use: until some page gets a non-zero value
// there is no array and every page reads 0, so a run that never uses contents pays nothing for them.

import type { Machine } from './machine.js';

/** The value a page holds (what kmap_local_page() would show of it). */
export function pageValue(m: Machine, pfn: number): number {
  const d = m.mem.dataIfAny;
  return d ? d[pfn]! : 0;
}

/** memcpy_to_page(): store a value over the whole page (a CPU store or a device's DMA write). */
export function memcpy_to_page(m: Machine, pfn: number, value: number): void {
  const d = value === 0 ? m.mem.dataIfAny : m.mem.data;
  if (!d) return;
  d[pfn] = value >>> 0;
  m.mem.onExtraWrite?.(pfn, 1);
}

/** memcpy_from_page(): the page's value (a CPU load or a device's DMA read). */
export function memcpy_from_page(m: Machine, pfn: number): number {
  return pageValue(m, pfn);
}

/** clear_highpage() of each of nr pages from pfn (the kernel loops; gupsim fills the run). */
export function clearPages(m: Machine, pfn: number, nr: number): void {
  const d = m.mem.dataIfAny;
  if (!d) return;
  d.fill(0, pfn, pfn + nr);
  m.mem.onExtraWrite?.(pfn, nr);
}

/** clear_highpage(). */
export function clear_highpage(m: Machine, pfn: number): void {
  clearPages(m, pfn, 1);
}

/**
 * kernel_init_pages(): a new folio handed out zeroed. The kernel zeroes user pages when it hands
 * them out (__GFP_ZERO, folio_zero_user()) or overwrites them whole (a copy, a read from disk), so
 * the model zeroes every new folio and lets the copy or the read overwrite it.
 */
export function kernel_init_pages(m: Machine, pfn: number, nr: number): void {
  clearPages(m, pfn, nr);
}

/** copy_highpage(): the bytes of `from` into `to`. */
export function copy_highpage(m: Machine, to: number, from: number): void {
  const d = m.mem.dataIfAny;
  if (!d) return;
  d[to] = d[from]!;
  m.mem.onExtraWrite?.(to, 1);
}

/** copy_user_highpage(): the copy a COW fault or fork's early copy makes of a user page. */
export function copy_user_highpage(m: Machine, to: number, from: number): void {
  copy_highpage(m, to, from);
}

/** folio_copy(): every page of src into dst (same size), as migration moves a folio's bytes. */
export function folio_copy(m: Machine, dst: number, src: number): void {
  const d = m.mem.dataIfAny;
  if (!d) return;
  const nr = m.mem.folio_nr_pages(src);
  d.copyWithin(dst, src, src + nr);
  m.mem.onExtraWrite?.(dst, nr);
}

/** copy_user_large_folio(): a hugetlb folio's COW copy (hugetlb_wp(), fork's early copy). */
export function copy_user_large_folio(m: Machine, dst: number, src: number): void {
  folio_copy(m, dst, src);
}
