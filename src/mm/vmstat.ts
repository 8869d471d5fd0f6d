// Models mm/vmstat.c: the node and event counters gupsim keeps, and their /proc/vmstat text.
// NR_FOLL_PIN_ACQUIRED / NR_FOLL_PIN_RELEASED are node_stat items: they count pages (pin units),
// move only for FOLL_PIN on folios other than the zero page, and never go down.

/** Counters in /proc/vmstat order: the ones the model maintains (no others are shown). */
export const VMSTAT_ITEMS = [
  'nr_free_pages',
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
] as const;

export type VmstatItem = (typeof VMSTAT_ITEMS)[number];

/**
 * A counter's slot in VMSTAT_ITEMS (the kernel's enum node_stat_item / vm_event_item value).
 * A switch rather than a Map or an object: mod() runs on every page GUP pins and every fault, from
 * many call sites, so a keyed lookup goes megamorphic (15-25 ns); a switch on a literal name folds
 * to a constant once mod() is inlined, and is a few pointer compares when it is not. The compiler
 * checks every item has a case (the default is unreachable); the check below checks the numbers.
 */
function vmstatIndex(item: VmstatItem): number {
  switch (item) {
    case 'nr_free_pages':
      return 0;
    case 'nr_isolated_anon':
      return 1;
    case 'nr_isolated_file':
      return 2;
    case 'nr_anon_pages':
      return 3;
    case 'nr_mapped':
      return 4;
    case 'nr_file_pages':
      return 5;
    case 'nr_dirty':
      return 6;
    case 'nr_writeback':
      return 7;
    case 'nr_shmem':
      return 8;
    case 'nr_anon_transparent_hugepages':
      return 9;
    case 'nr_foll_pin_acquired':
      return 10;
    case 'nr_foll_pin_released':
      return 11;
    case 'pgfault':
      return 12;
    case 'pgmigrate_success':
      return 13;
    case 'pgmigrate_fail':
      return 14;
    case 'thp_fault_alloc':
      return 15;
    case 'thp_fault_fallback':
      return 16;
    case 'thp_split_pmd':
      return 17;
    case 'thp_zero_page_alloc':
      return 18;
    default: {
      const missing: never = item;
      throw new Error(`gupsim bug: vmstat item ${String(missing)} has no slot`);
    }
  }
}

VMSTAT_ITEMS.forEach((k, i) => {
  if (vmstatIndex(k) !== i) throw new Error(`gupsim bug: vmstatIndex('${k}') is not ${i}: update the switch`);
});

/**
 * enum node_stat_item values of the counters GUP moves for every folio it pins or unpins. mod()
 * takes these as well as names: a slot needs no lookup at all, whether or not the JIT inlined mod()
 * into the caller (when it does not, even the switch costs ~10 ns of string compares per call).
 */
export const NR_FOLL_PIN_ACQUIRED = vmstatIndex('nr_foll_pin_acquired');
export const NR_FOLL_PIN_RELEASED = vmstatIndex('nr_foll_pin_released');
/** The slots every fault, zap and free moves (same reason: per page, whatever the JIT inlines). */
export const NR_FREE_PAGES = vmstatIndex('nr_free_pages');
export const NR_ANON_MAPPED = vmstatIndex('nr_anon_pages');
export const NR_FILE_MAPPED = vmstatIndex('nr_mapped');
export const PGFAULT = vmstatIndex('pgfault');

export class Vmstat {
  private readonly v = new Float64Array(VMSTAT_ITEMS.length);

  /** mod_node_page_state() / count_vm_events(): by name, or by slot (NR_FOLL_PIN_ACQUIRED...). */
  mod(item: VmstatItem | number, delta: number): void {
    const i = typeof item === 'number' ? item : vmstatIndex(item);
    this.v[i] = this.v[i]! + delta;
  }

  get(item: VmstatItem): number {
    return this.v[vmstatIndex(item)]!;
  }

  /** Every counter, in VMSTAT_ITEMS order: the array itself (the race explorer saves and puts it back). */
  values(): Float64Array {
    return this.v;
  }

  /**
   * Per-size mTHP statistics (/sys/kernel/mm/transparent_hugepage/hugepages-<size>kB/stats/*):
   * count_mthp_stat(order, MTHP_STAT_ANON_FAULT_ALLOC / _FALLBACK). Not part of /proc/vmstat.
   */
  readonly mthp = new Map<number, { anon_fault_alloc: number; anon_fault_fallback: number }>();

  count_mthp_stat(order: number, item: 'anon_fault_alloc' | 'anon_fault_fallback'): void {
    let st = this.mthp.get(order);
    if (!st) this.mthp.set(order, (st = { anon_fault_alloc: 0, anon_fault_fallback: 0 }));
    st[item]++;
  }

  snapshot(): Record<VmstatItem, number> {
    const out = {} as Record<VmstatItem, number>;
    VMSTAT_ITEMS.forEach((k, i) => {
      out[k] = this.v[i]!;
    });
    return out;
  }

  /** /proc/vmstat text: "name value" per line. */
  text(overrides: Partial<Record<VmstatItem, number>> = {}): string {
    return VMSTAT_ITEMS.map((k, i) => `${k} ${overrides[k] ?? this.v[i]!}`).join('\n') + '\n';
  }
}
