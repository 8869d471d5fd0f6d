// Models mm/vmstat.c: the node and event counters gupsim keeps, and their /proc/vmstat text.
// NR_FOLL_PIN_ACQUIRED / NR_FOLL_PIN_RELEASED are node_stat items: they count pages (pin units),
// move only for FOLL_PIN on folios other than the zero page, and never go down.

/** Counters in /proc/vmstat order (the subset the model maintains). */
export const VMSTAT_ITEMS = [
  'nr_free_pages',
  'nr_zone_inactive_anon',
  'nr_zone_active_anon',
  'nr_inactive_anon',
  'nr_inactive_file',
  'nr_isolated_anon',
  'nr_isolated_file',
  'nr_anon_pages',
  'nr_mapped',
  'nr_file_pages',
  'nr_dirty',
  'nr_writeback',
  'nr_shmem',
  'nr_anon_transparent_hugepages',
  'nr_foll_pin_acquired',
  'nr_foll_pin_released',
  'pgfault',
  'pgmigrate_success',
  'pgmigrate_fail',
  'thp_fault_alloc',
  'thp_fault_fallback',
  'thp_split_pmd',
  'thp_zero_page_alloc',
  'mthp_anon_fault_alloc',
  'cow_ksm',
] as const;

export type VmstatItem = (typeof VMSTAT_ITEMS)[number];

export class Vmstat {
  private readonly v = new Float64Array(VMSTAT_ITEMS.length);
  private static readonly idx = new Map<string, number>(VMSTAT_ITEMS.map((k, i) => [k, i]));

  /** mod_node_page_state() / count_vm_events(). */
  mod(item: VmstatItem, delta: number): void {
    this.v[Vmstat.idx.get(item)!] += delta;
  }

  get(item: VmstatItem): number {
    return this.v[Vmstat.idx.get(item)!]!;
  }

  snapshot(): Record<VmstatItem, number> {
    const out = {} as Record<VmstatItem, number>;
    VMSTAT_ITEMS.forEach((k, i) => { out[k] = this.v[i]!; });
    return out;
  }

  /** /proc/vmstat text: "name value" per line. */
  text(overrides: Partial<Record<VmstatItem, number>> = {}): string {
    return VMSTAT_ITEMS.map((k, i) => `${k} ${overrides[k] ?? this.v[i]!}`).join('\n') + '\n';
  }
}
