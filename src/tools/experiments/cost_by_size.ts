// Experiment 7: what pin + unpin cost per page in the model, by folio size, beside the host kernel's
// io_uring registration cost (measured by the command line, src/bench/host.ts). GUP-fast grabs a PMD-
// or PUD-mapped folio once for all its pages (mm/gup.c gup_fast_pmd_leaf(), gup_fast_pud_leaf()) and
// unpin_user_pages() releases a run of pages of one folio at once (gup_folio_next()), so the work is per
// folio; only filling pages[] is per page. Timings are measured: they differ from run to run, and the
// report marks them.

import { PAGE_SIZE, PMD_ORDER } from '../../mm/memmap.js';
import { FOLL_LONGTERM, FOLL_WRITE } from '../../mm/foll_flags.js';
import { pin_user_pages_fast, unpin_user_pages } from '../../mm/gup.js';
import { buffer, FOLIO_KINDS, kindInfo, kindsOn, runProfile, type FolioKind } from './world.js';
import { median, round } from './report.js';
import { fmtBytes, fmtNumber } from './format.js';
import {
  defineExperiment,
  measured,
  type HostEnv,
  type Outcome,
  type ReportBody,
  type ShardContext,
  type ShardSpec,
  type Table,
} from './types.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
/** The host helper's buffer (whole MiB, base pages): the size the model's small-page row uses too. */
export const HOST_BYTES = 64 * MiB;
/** Pages pushed through pin and unpin before timing, so the JIT has compiled the paths measured. */
const WARMUP_PAGES = 1 << 21;

interface Params {
  kind: FolioKind;
  bytes: number;
  runs: number;
}

interface Result {
  kind: FolioKind;
  bytes: number;
  runs: number;
  pinNsPerPage: number;
  unpinNsPerPage: number;
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`gupsim experiment 7: model check failed: ${what}`);
}

/** pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM), what io_uring registration calls, then unpin_user_pages(). */
function run(p: Params, ctx: ShardContext): Result {
  const { m, p: proc, addr } = buffer(p.kind, p.bytes, { profile: ctx.profile });
  const nr = p.bytes / PAGE_SIZE;
  const pages = new Int32Array(nr);
  const warmup = Math.max(1, Math.ceil(WARMUP_PAGES / nr));
  const pinT: number[] = [];
  const unpinT: number[] = [];
  for (let r = 0; r < warmup + p.runs; r++) {
    const t0 = performance.now();
    const got = pin_user_pages_fast(m, proc, addr, nr, FOLL_WRITE | FOLL_LONGTERM, pages);
    const t1 = performance.now();
    unpin_user_pages(m, pages, got > 0 ? got : 0);
    const t2 = performance.now();
    check(got === nr, `pin_user_pages_fast returned ${got} of ${nr}`);
    if (r >= warmup) {
      pinT.push(t1 - t0);
      unpinT.push(t2 - t1);
    }
    ctx.progress(r + 1, warmup + p.runs);
  }
  check(m.vmstat.get('nr_foll_pin_acquired') === m.vmstat.get('nr_foll_pin_released'), 'pin counters unbalanced');
  check(m.warns.records.length === 0, `WARN: ${JSON.stringify(m.warns.records[0])}`);
  const perPage = (ms: number[]) => round((median(ms) * 1e6) / nr, 2);
  return { kind: p.kind, bytes: p.bytes, runs: p.runs, pinNsPerPage: perPage(pinT), unpinNsPerPage: perPage(unpinT) };
}

/** The verdict from the data: exported for the test that checks it follows from the data. */
export function verdictOf(f: {
  smallNsPerPage: number;
  smallPinNsPerPage: number;
  /** None on a release without per-size mTHP (6.1). */
  mthpPinNsPerPage?: number;
  thpNsPerPage: number;
  gigNsPerPage: number;
}): Outcome {
  // O(folios): a PMD-mapped folio of 512 pages must cost far less per page than 512 small folios.
  if (!(f.thpNsPerPage * 4 <= f.smallNsPerPage)) return 'does not hold';
  // PTE-mapped large folios (mTHP) are grabbed one PTE at a time, as the kernel's gup_fast_pte_range()
  // does: if their pin costs per page about what a small page's does, the O(folios) claim needs that caveat.
  if (f.mthpPinNsPerPage !== undefined && f.mthpPinNsPerPage * 4 > f.smallPinNsPerPage) return 'holds with a caveat';
  // pages[] keeps a per-page floor: a 1 GiB folio need not be cheaper per page than a THP, only not dearer.
  if (!(f.gigNsPerPage <= f.thpNsPerPage * 1.5)) return 'holds with a caveat';
  return 'holds';
}

function report(results: Result[], host: HostEnv): ReportBody {
  const total = (r: Result) => r.pinNsPerPage + r.unpinNsPerPage;
  const by = (k: FolioKind) => results.find((r) => r.kind === k)!;
  // No mTHP row on a release without per-size mTHP (6.1).
  const mthp = results.find((r) => r.kind === 'mthp-1M');
  const facts = {
    smallNsPerPage: round(total(by('small')), 2),
    smallPinNsPerPage: by('small').pinNsPerPage,
    ...(mthp ? { mthpPinNsPerPage: mthp.pinNsPerPage, mthpUnpinNsPerPage: mthp.unpinNsPerPage } : {}),
    thpNsPerPage: round(total(by('thp')), 2),
    gigNsPerPage: round(total(by('hugetlb-1G')), 2),
    speedupThp: round(total(by('small')) / total(by('thp')), 1),
    hostMeasured: !!host.ioUring && !('skipped' in host.ioUring),
  };
  const outcome = verdictOf(facts);
  const h = host.ioUring;
  // Every cell of the host row is measured: whether the host could be measured at all depends on the machine.
  const hostRow =
    h && !('skipped' in h)
      ? [
          measured(`host ${h.kernel}: io_uring register / unregister, ${kindInfo('small').label}`),
          measured(1),
          measured(fmtBytes(h.bytes)),
          measured(h.register_ns_per_page),
          measured(h.unregister_ns_per_page),
          measured(round(h.register_ns_per_page + h.unregister_ns_per_page, 2)),
          measured(round(h.register_ns_per_page + h.unregister_ns_per_page, 2)),
        ]
      : [
          measured(`host: not measured (${h ? h.skipped : 'no host: the report was made outside the command line'})`),
          ...Array.from({ length: 6 }, () => measured('-')),
        ];
  const table: Table = {
    title: 'pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM) + unpin_user_pages() in the model, by folio size',
    columns: ['folio', 'pages per folio', 'buffer', 'pin ns/page', 'unpin ns/page', 'total ns/page', 'total ns/folio'],
    align: ['left', 'right', 'left', 'right', 'right', 'right', 'right'],
    rows: [
      ...results.map((r) => {
        const per = 1 << kindInfo(r.kind).order;
        return [
          kindInfo(r.kind).label,
          per,
          fmtBytes(r.bytes),
          measured(r.pinNsPerPage),
          measured(r.unpinNsPerPage),
          measured(round(total(r), 2)),
          measured(round(total(r) * per, 1)),
        ];
      }),
      hostRow,
    ],
    notes: [
      `Medians of ${results[0]!.runs} timed runs per size after warm-up runs (at least ${fmtNumber(WARMUP_PAGES)} ` +
        'pages), one size at a time with no other shard running. The host row is the kernel pinning the same ' +
        'way for IORING_REGISTER_BUFFERS of base pages, timed by a C helper (src/bench/host_ops.c iouring).',
    ],
  };
  const small = total(by('small'));
  return {
    method: [
      'For each folio size (small pages, every mTHP size, THP, hugetlb 2 MiB and 1 GiB), a private buffer of ' +
        "that size's folios, write-faulted: pin_user_pages_fast(FOLL_WRITE | FOLL_LONGTERM) of the whole " +
        'buffer, as io_uring registration does, then unpin_user_pages(), timed separately, every result ' +
        'checked (pages pinned, counters balanced, no WARN).',
      `The host kernel's figure is io_uring buffer registration and unregistration of ${fmtBytes(HOST_BYTES)} ` +
        'of base pages (MADV_NOHUGEPAGE), measured in the same run where the host allows (Linux, a C ' +
        'compiler, io_uring).',
    ],
    tables: [table],
    plots: [
      {
        id: 'cost',
        title: 'Model pin + unpin cost per page, by folio size',
        x: { label: 'pages per folio', scale: 'log2' },
        y: { label: 'ns per page', scale: 'log2' },
        measured: true,
        series: [
          {
            name: 'model: pin_user_pages_fast (FOLL_WRITE | FOLL_LONGTERM)',
            points: results.map((r): [number, number] => [1 << kindInfo(r.kind).order, r.pinNsPerPage]),
          },
          {
            name: 'model: unpin_user_pages',
            points: results.map((r): [number, number] => [1 << kindInfo(r.kind).order, r.unpinNsPerPage]),
          },
          {
            name: 'O(folios) alone: the small-page total / pages per folio',
            points: results
              .filter((r) => kindInfo(r.kind).order <= PMD_ORDER)
              .map((r): [number, number] => [1 << kindInfo(r.kind).order, small / (1 << kindInfo(r.kind).order)]),
          },
          ...(h && !('skipped' in h)
            ? [
                {
                  name: `host kernel: io_uring register + unregister (${kindInfo('small').label})`,
                  style: 'points' as const,
                  points: [[1, h.register_ns_per_page + h.unregister_ns_per_page]] as Array<[number, number]>,
                },
              ]
            : []),
        ],
        caption:
          'Pin and unpin cost per page against the pages per folio; the dotted line is the small-page cost ' +
          'divided by the pages per folio: what a cost that only follows the folios would be.',
      },
    ],
    verdict: {
      outcome,
      measured: true,
      text:
        `A THP costs ${facts.speedupThp} times less per page than small pages (${facts.thpNsPerPage} against ` +
        `${facts.smallNsPerPage} ns in this run) and a 1 GiB page ${facts.gigNsPerPage} ns: a PMD- or PUD-mapped ` +
        `folio is grabbed once for all its pages. ` +
        (facts.mthpPinNsPerPage !== undefined && facts.mthpPinNsPerPage * 4 > facts.smallPinNsPerPage
          ? `Not so the PTE-mapped mTHP: GUP-fast grabs it one PTE at a time, as the kernel's ` +
            `gup_fast_pte_range() does, so pinning a 1 MiB mTHP costs ${facts.mthpPinNsPerPage} ns per page ` +
            `(small: ${facts.smallPinNsPerPage}); only its unpin follows the folios ` +
            `(${facts.mthpUnpinNsPerPage} ns per page, small: ${by('small').unpinNsPerPage}).`
          : 'What stays per page is writing pages[].'),
    },
    findings: [
      'unpin_user_pages() releases each run of pages of one folio with one gup_put_folio() (gup_folio_next()), ' +
        'whatever maps the folio: its cost per page falls with every folio size, mTHP included.',
      'The host kernel row is one figure, base pages only (the helper maps with MADV_NOHUGEPAGE); the ' +
        "comparison that matters here is the model's slope, which is the kernel's algorithm, not the absolute " +
        'nanoseconds of a JavaScript model against C.',
    ],
    limits: [
      "Timings depend on the machine and its load: the numbers are this run's, and the test checks only that " +
        'the verdict follows from them.',
    ],
    facts,
  };
}

export const costBySize = defineExperiment<Params, Result>({
  number: 7,
  name: 'cost',
  title: 'Cost of pin and unpin by folio size',
  question:
    'What does pinning and unpinning cost per page for base pages, each mTHP size, THP and hugetlb, beside the ' +
    "host kernel's io_uring registration: does the cost follow the folios rather than the pages?",
  claims: [
    {
      source: 'DESIGN.md',
      section: 'Performance targets (pin_user_pages.rst says nothing of cost)',
      quote: 'O(folios) rather than O(pages) on large folios, as the kernel is.',
    },
  ],
  host: { ioUringBytes: HOST_BYTES },
  shards(o): ShardSpec<Params>[] {
    const runs = o.mode === 'quick' ? 5 : 15;
    const bytes = o.mode === 'quick' ? HOST_BYTES : 256 * MiB;
    const kinds = kindsOn(
      FOLIO_KINDS.map((k) => k.kind),
      runProfile(o),
    ).map(kindInfo);
    return kinds.map((k) => ({
      label: `time ${k.label}`,
      params: { kind: k.kind, bytes: k.kind === 'hugetlb-1G' ? GiB : bytes, runs },
      cost: k.kind === 'small' ? 2 : 1,
      timing: true,
    }));
  },
  runShard: (params, ctx) => run(params, ctx),
  report: (results, _o, host) => report(results, host),
});
