// Experiment 5: Case 5 of pin_user_pages.rst and its writeback TODO. One workload
// (writeback_workload.ts: a dirty-tracked shared file mapping written by devices through short-term
// pins or references and a long-term MR, by the CPU, with background writeback, fsync and reclaim)
// is drawn from the seed and run on the model once per setup: Linux 6.18 as it is (which refuses the
// long-term pin, so the application copies instead), 6.18's writeback without that refusal, and
// gupsim's what-if writeback policies for maybe-pinned folios (mm/writeback_pinned.ts: skip, bounce,
// wait, Kara's skip-or-bounce). Each short-term driver releases its pages right
// (unpin_user_pages_dirty_lock(true)) or wrong (unpin_user_pages(), put_page()). A ledger follows
// every written value to the disk: writes lost, how long the disk stays stale, fsyncs that return
// with data off the disk, copies, fsyncs blocked, and what false positives of
// folio_maybe_dma_pinned() cost.

import type { WritebackPolicy } from '../../mm/writeback_pinned.js';
import {
  makePlan,
  RELEASES,
  runSetup,
  WORKLOAD,
  type Outcomes,
  type Release,
  type Setup,
} from './writeback_workload.js';
import { shardSeed } from './rng.js';
import { comparisonTable, pct, round } from './report.js';
import { fmtNumber } from './format.js';
import {
  defineExperiment,
  type Outcome,
  type Plot,
  type ReportBody,
  type ShardContext,
  type ShardSpec,
  type Table,
} from './types.js';

export interface SetupInfo extends Setup {
  label: string;
  /** The plots' axis label. */
  short: string;
}

/** The rows of every comparison, in the order. */
export const SETUPS: readonly SetupInfo[] = [
  row('a', 'linux', true, '(a) Linux 6.18 as it is', '(a) 6.18'),
  row('a2', 'linux', false, "(a') 6.18 writeback, long-term pin allowed (as 6.1)", "(a') 6.1-like"),
  row('b', 'skip', false, '(b) skip maybe-pinned folios [what-if]', '(b) skip'),
  row('c', 'bounce', false, '(c) bounce: write a copy, keep dirty [what-if]', '(c) bounce'),
  row('d', 'wait', false, '(d) fsync waits for the unpin [what-if]', '(d) wait'),
  row('e', 'skip-or-bounce', false, '(e) skip background, bounce on fsync (Kara 2023) [what-if]', '(e) Kara'),
];

function row(id: string, policy: WritebackPolicy, refuseLongterm: boolean, label: string, short: string): SetupInfo {
  return { id, policy, refuseLongterm, label, short };
}

const RELEASE_LABEL: Record<Release, string> = {
  'unpin-dirty': 'FOLL_PIN, released with unpin_user_pages_dirty_lock(make_dirty = true)',
  unpin: 'FOLL_PIN, released with unpin_user_pages() (nothing marks the pages dirty)',
  put_page: 'FOLL_GET (get_user_pages), released with put_page()',
};
const RELEASE_SHORT: Record<Release, string> = {
  'unpin-dirty': 'pin, unpin dirty',
  unpin: 'pin, unpin',
  put_page: 'get, put_page',
};

/** The run's size: file pages, ticks, and replicas (plans) per release. */
export const SIZES = {
  quick: { pages: 64, ticks: 400, replicas: 1 },
  full: { pages: 256, ticks: 2000, replicas: 4 },
};

interface Params {
  release: Release;
  replica: number;
  /** The plan's seed: the same for every release of a replica, so all of them see the same events. */
  planSeed: number;
  pages: number;
  ticks: number;
}

interface Result {
  release: Release;
  replica: number;
  /** One per SETUPS entry, in order. */
  setups: Outcomes[];
}

function run(p: Params, ctx: ShardContext): Result {
  const plan = makePlan({ pages: p.pages, ticks: p.ticks }, p.planSeed);
  const setups = SETUPS.map((s, i) => {
    const o = runSetup(plan, s, p.release, ctx.profile);
    ctx.progress(i + 1, SETUPS.length);
    return o;
  });
  return { release: p.release, replica: p.replica, setups };
}

/** Outcomes summed over replicas (longest-of measures: the maximum). */
function sum(os: Outcomes[]): Outcomes {
  const out = { ...os[0]! };
  for (const o of os.slice(1))
    for (const k of Object.keys(out) as Array<keyof Outcomes>)
      out[k] =
        k === 'latencyMax' || k === 'longestStale' || k === 'blockedMax' ? Math.max(out[k], o[k]) : out[k] + o[k];
  return out;
}

/** The measures of one setup on one release, as the tables and the verdict use them. */
export interface Measures {
  deviceWrites: number;
  lost: number;
  lostPct: number;
  fsyncs: number;
  fsyncsShort: number;
  fsyncsShortPct: number;
  stalePct: number;
  longestStale: number;
  meanToDisk: number;
  bounces: number;
  appCopies: number;
  fsyncsBlocked: number;
  blockedMax: number;
  fsyncsMissed: number;
  falsePositiveBounces: number;
  falsePositiveDecisions: number;
  pinnedDecisions: number;
  falsePositivePageTicks: number;
  pageTicks: number;
  refusals: number;
  lostCpu: number;
}

function measures(o: Outcomes): Measures {
  return {
    deviceWrites: o.deviceWrites,
    lost: o.lostDevice,
    lostPct: pct(o.lostDevice, o.deviceWrites, 1),
    fsyncs: o.fsyncs,
    fsyncsShort: o.fsyncsShort,
    fsyncsShortPct: pct(o.fsyncsShort, o.fsyncs, 1),
    stalePct: pct(o.stalePageTicks, o.pageTicks, 1),
    longestStale: o.longestStale,
    meanToDisk: o.reached ? round(o.latencySum / o.reached, 1) : 0,
    bounces: o.bounces,
    appCopies: o.appCopies,
    fsyncsBlocked: o.fsyncsBlocked,
    blockedMax: o.blockedMax,
    fsyncsMissed: o.fsyncsMissed,
    falsePositiveBounces: o.falsePositiveBounces,
    falsePositiveDecisions: o.falsePositiveDecisions,
    pinnedDecisions: o.pinnedDecisions,
    falsePositivePageTicks: o.falsePositivePageTicks,
    pageTicks: o.pageTicks,
    refusals: o.refusals,
    lostCpu: o.lostCpu,
  };
}

/** The comparison table's measures (columns), with the Measures field each shows. */
export const COLUMNS: Array<{ label: string; key: keyof Measures }> = [
  { label: 'device writes lost', key: 'lost' },
  { label: 'fsyncs leaving data off the disk (%)', key: 'fsyncsShortPct' },
  { label: 'disk stale (% of page-ticks)', key: 'stalePct' },
  { label: 'longest stale (ticks)', key: 'longestStale' },
  { label: 'bounce copies', key: 'bounces' },
  { label: 'application copies', key: 'appCopies' },
  { label: 'fsyncs blocked', key: 'fsyncsBlocked' },
  { label: 'longest block (ticks)', key: 'blockedMax' },
  { label: 'bounces from false positives', key: 'falsePositiveBounces' },
];

/** What a policy must be judged on, summed over the FOLL_PIN releases (put_page defeats every policy). */
export interface Score {
  id: string;
  lost: number;
  /** Percent of fsyncs that returned short (summed over the releases scored). */
  fsyncsShort: number;
  blockedMax: number;
  copies: number;
  stalePct: number;
}

/**
 * The recommendation's order: fewer device writes lost, then fewer fsyncs that return with data off
 * the disk, then the shortest fsync block, then fewer copies, then a less stale disk. Returns the
 * scores best first (exported for the test that recomputes it from the tables).
 */
export function rank(scores: Score[]): Score[] {
  const keys: Array<keyof Omit<Score, 'id'>> = ['lost', 'fsyncsShort', 'blockedMax', 'copies', 'stalePct'];
  return [...scores].sort((x, y) => {
    for (const k of keys) if (x[k] !== y[k]) return x[k] - y[k];
    return 0;
  });
}

/**
 * Case 5's claim ("pin, write, unpin" needs FOLL_PIN; get_user_pages() + put_page() is INCORRECT) from
 * the data: it does not hold if some setup loses a write with the right FOLL_PIN release, or some
 * setup loses nothing with put_page(); it holds with a caveat when Linux 6.18 loses writes with the
 * release the document shows (unpin_user_pages(), which marks nothing dirty).
 */
export function verdictOf(f: { pinDirtyLostMax: number; putPageLostMin: number; unpinLost618: number }): Outcome {
  if (f.pinDirtyLostMax > 0 || f.putPageLostMin === 0) return 'does not hold';
  return f.unpinLost618 > 0 ? 'holds with a caveat' : 'holds';
}

/** How experiment 1's false positives arise, for the findings. */
const GUP_BIAS_TEXT = "the sender's plain references: GUP_PIN_COUNTING_BIAS on a small folio";

function report(results: Result[], mode: 'quick' | 'full'): ReportBody {
  const size = SIZES[mode];
  const by = new Map<Release, Measures[]>();
  for (const rel of RELEASES) {
    const rs = results.filter((r) => r.release === rel);
    by.set(
      rel,
      SETUPS.map((_, i) => measures(sum(rs.map((r) => r.setups[i]!)))),
    );
  }
  const get = (rel: Release, id: string): Measures => by.get(rel)![SETUPS.findIndex((s) => s.id === id)]!;
  const scores: Score[] = SETUPS.map((s) => {
    const pin = (['unpin-dirty', 'unpin'] as Release[]).map((rel) => get(rel, s.id));
    return {
      id: s.id,
      lost: pin[0]!.lost + pin[1]!.lost,
      fsyncsShort: round(pin[0]!.fsyncsShortPct + pin[1]!.fsyncsShortPct, 1),
      blockedMax: Math.max(pin[0]!.blockedMax, pin[1]!.blockedMax),
      copies: pin[0]!.bounces + pin[0]!.appCopies + pin[1]!.bounces + pin[1]!.appCopies,
      stalePct: round((pin[0]!.stalePct + pin[1]!.stalePct) / 2, 1),
    };
  });
  const ranked = rank(scores);
  const best = SETUPS.find((s) => s.id === ranked[0]!.id)!;
  const second = SETUPS.find((s) => s.id === ranked[1]!.id)!;
  const a = (rel: Release) => get(rel, 'a');
  const facts = {
    pinDirtyLostMax: Math.max(...SETUPS.map((s) => get('unpin-dirty', s.id).lost)),
    putPageLostMin: Math.min(...SETUPS.map((s) => get('put_page', s.id).lost)),
    unpinLost618: a('unpin').lost,
    unpinLostBySetup: SETUPS.map((s) => `${s.id}=${get('unpin', s.id).lost}`).join(' '),
    deviceWrites: a('unpin-dirty').deviceWrites,
    refusals618: a('unpin-dirty').refusals,
    appCopies618: a('unpin-dirty').appCopies,
    cpuWritesLost: Math.max(...RELEASES.flatMap((rel) => SETUPS.map((s) => get(rel, s.id).lostCpu))),
    recommended: best.id,
    runnerUp: second.id,
    bounceCopies: get('unpin-dirty', 'c').bounces,
    bounceFalsePositive: get('unpin-dirty', 'c').falsePositiveBounces,
    waitBlockedMax: get('unpin-dirty', 'd').blockedMax,
    waitMissed: get('unpin-dirty', 'd').fsyncsMissed,
    falsePositivePageTicks: get('unpin-dirty', 'a').falsePositivePageTicks,
  };
  const outcome = verdictOf(facts);

  const tables: Table[] = RELEASES.map((rel) =>
    comparisonTable(
      `Drivers' pins: ${RELEASE_LABEL[rel]} (${fmtNumber(get(rel, 'a').deviceWrites)} device writes)`,
      'setup',
      COLUMNS.map((c) => ({ label: c.label, better: 'lower' as const })),
      SETUPS.map((s) => ({ name: s.label, values: COLUMNS.map((c) => get(rel, s.id)[c.key]) })),
      [
        '[what-if]: a gupsim writeback policy, not kernel behaviour. A device write is lost when the disk never ' +
          'gets its value although nothing newer replaced it in memory first; the disk is stale while it holds ' +
          "an older value than the page's last write.",
      ],
    ),
  );
  tables.push({
    title: 'Details: the setups on each release',
    columns: [
      'release',
      'setup',
      'mean ticks to disk',
      'fsyncs made',
      'fsyncs not made (blocked)',
      'folios treated as pinned',
      'of them false positives',
      'page-ticks maybe-pinned without a pin',
      'long-term pins refused',
    ],
    rows: RELEASES.flatMap((rel) =>
      SETUPS.map((s) => {
        const x = get(rel, s.id);
        return [
          RELEASE_SHORT[rel],
          s.short,
          x.meanToDisk,
          x.fsyncs,
          x.fsyncsMissed,
          x.pinnedDecisions,
          x.falsePositiveDecisions,
          x.falsePositivePageTicks,
          x.refusals,
        ];
      }),
    ),
    notes: [
      'Mean ticks to disk: from a device write to the disk holding its value, over the writes that got there. ' +
        'Folios treated as pinned: writeback decisions (skip, bounce, wait) on maybe-pinned folios; a false ' +
        'positive is one on a folio no pin held (plain references only: GUP_PIN_COUNTING_BIAS on a small folio).',
    ],
  });

  const categories = SETUPS.map((s) => s.short);
  const perRelease = (key: keyof Measures): Plot['series'] =>
    RELEASES.map((rel) => ({
      name: RELEASE_SHORT[rel],
      style: 'points' as const,
      points: SETUPS.map((s, i): [number, number] => [i, get(rel, s.id)[key]]),
    }));
  const plots: Plot[] = [
    {
      id: 'lost',
      title: 'Device writes lost, by writeback setup and by how drivers release their pages',
      x: { label: 'setup', categories },
      y: { label: 'device writes lost (% of device writes)', min: 0 },
      series: perRelease('lostPct'),
      caption:
        "Each point: the share of the devices' writes the disk never got, for one release (marker) under one " +
        'setup (column).',
    },
    {
      id: 'fsync',
      title: 'fsync calls that returned with data off the disk',
      x: { label: 'setup', categories },
      y: { label: 'fsyncs leaving data off the disk (%)', min: 0, max: 100 },
      series: perRelease('fsyncsShortPct'),
      caption: 'Each point: the share of fsync calls after which a page written before the call was not on disk.',
    },
    {
      id: 'stale',
      title: 'How long the disk stays behind the page cache',
      x: { label: 'setup', categories },
      y: { label: 'disk stale (% of page-ticks)', min: 0 },
      series: perRelease('stalePct'),
      caption: "Each point: the share of page-ticks at which the disk held an older value than the page's last write.",
    },
  ];

  const pinDirty = (id: string) => get('unpin-dirty', id);
  const labelOf = (id: string) => SETUPS.find((x) => x.id === id)!.label.replace(/ \[what-if\]$/, '');
  /** "(a')" of "(a') 6.18 writeback...". */
  const tag = (id: string) => labelOf(id).slice(0, labelOf(id).indexOf(')') + 1);
  const name = (id: string) => `${tag(id)} (${labelOf(id).slice(tag(id).length + 1)})`;
  const putLost618 = a('put_page').lost;
  const verdictText =
    (outcome === 'does not hold'
      ? `With the right FOLL_PIN release at most ${facts.pinDirtyLostMax} device writes were lost and with ` +
        `put_page() at least ${facts.putPageLostMin}: Case 5's rule is not what decides here. `
      : `With FOLL_PIN and unpin_user_pages_dirty_lock(true) no setup lost a device write; with get_user_pages() and ` +
        `put_page() every setup lost some (at least ${facts.putPageLostMin} of ${fmtNumber(facts.deviceWrites)}): ` +
        'no writeback policy sees a FOLL_GET reference, so Case 5 needs FOLL_PIN. ') +
    (facts.unpinLost618 > 0
      ? 'Caveat: the pattern the document shows as correct ends in unpin_user_pages(), which marks nothing dirty; ' +
        `with it Linux 6.18 loses ${facts.unpinLost618} device writes` +
        (facts.unpinLost618 === putLost618 ? ' (as many as put_page())' : ` (put_page(): ${putLost618})`) +
        ': the release must dirty the pages (unpin_user_pages_dirty_lock(true)). '
      : '') +
    `For the TODO, the numbers recommend ${name(best.id)}, then ${name(second.id)}, ranking on device writes ` +
    'lost with either FOLL_PIN release, then fsyncs that return with data off the disk, then the longest ' +
    'fsync block, then copies, then staleness.';

  const a2 = pinDirty('a2');
  const b = pinDirty('b');
  const c = pinDirty('c');
  const d = pinDirty('d');
  const eRight = pinDirty('e');
  const eUnpin = get('unpin', 'e');
  const plural = (n: number, one: string, many = `${one}s`) => `${fmtNumber(n)} ${n === 1 ? one : many}`;
  const right = rank(
    SETUPS.map((x) => {
      const m = pinDirty(x.id);
      return {
        id: x.id,
        lost: m.lost,
        fsyncsShort: m.fsyncsShortPct,
        blockedMax: m.blockedMax,
        copies: m.bounces + m.appCopies,
        stalePct: m.stalePct,
      };
    }),
  );
  const findings = [
    `Counting only drivers that release right, the same ranking gives ${right.map((x) => tag(x.id)).join(', ')}: ` +
      `Linux 6.18 as it is loses ${pinDirty('a').lost} writes and returns ${pinDirty('a').fsyncsShortPct}% of fsyncs ` +
      'short there; what it pays is the refused long-term pin.',
    `Linux 6.18 refuses the long-term registration (${plural(facts.refusals618, 'refusal')}: -EFAULT from ` +
      'writable_file_mapping_allowed()); the application registers an anonymous buffer instead and copies ' +
      `${plural(facts.appCopies618, 'NIC write')} into the file mapping itself. Allowed, as in (a'), the pin ` +
      `leaves ${a2.fsyncsShortPct}% of fsyncs returning with data off the disk (the NIC writes into pages ` +
      "writeback has cleaned; only the MR's release dirties them) and the disk stale for up to " +
      `${a2.longestStale} ticks, against ${pinDirty('a').fsyncsShortPct}% and ${pinDirty('a').longestStale} under (a).`,
    `(b) skip: ${b.fsyncsShortPct}% of fsyncs return with data off the disk and the disk stays stale up to ` +
      `${b.longestStale} ticks, since a pinned folio is not written while the MR holds it; ` +
      `${plural(get('unpin', 'b').lost, 'device write')} lost with unpin_user_pages(), as a skipped folio stays dirty.`,
    `(c) bounce: ${plural(c.bounces, 'bounce copy', 'bounce copies')} for ${plural(c.deviceWrites, 'device write')} ` +
      '(every writeback copies every maybe-pinned dirty folio again, changed or not: a pinned folio never ' +
      `becomes clean), ${c.falsePositiveBounces} of them of folios no pin held (${GUP_BIAS_TEXT}); in return ` +
      `${c.fsyncsShortPct}% of fsyncs return short and the disk is stale ${c.stalePct}% of the time.`,
    `(d) wait: an fsync that meets the long-term pin blocks until the MR is released: ` +
      `${plural(d.fsyncsBlocked, 'fsync call')} blocked, the longest for ${d.blockedMax} ticks, and ` +
      `${plural(d.fsyncsMissed, 'fsync call')} never made while the syncing thread waited.`,
    `(e) Kara 2023: the fsync bounce cleans the folio, so a NIC write after it waits for the next dirtying: ` +
      `${eRight.fsyncsShortPct}% of fsyncs return short even with the right release, and with ` +
      `unpin_user_pages() ${plural(eUnpin.lost, 'device write')} are lost; ` +
      `${plural(eRight.bounces, 'bounce copy', 'bounce copies')}.`,
    `False positives: ${plural(facts.falsePositivePageTicks, 'page-tick')} of ` +
      `${fmtNumber(pinDirty('a').pageTicks)} had a page read ` +
      `"maybe pinned" with no pin held; ${fmtNumber(c.falsePositiveDecisions)} of (c)'s ` +
      `${fmtNumber(c.pinnedDecisions)} decisions on maybe-pinned folios were on such folios.`,
    `No CPU store was lost in any setup (${facts.cpuWritesLost}): a store write-faults and dirties the page.`,
  ];

  return {
    method: [
      `A ${size.pages}-page file on a disk file system (ext4-like: shared writable mappings are dirty-tracked), ` +
        `mapped MAP_SHARED by one process, run for ${fmtNumber(size.ticks)} ticks ` +
        `(${size.replicas} plan${size.replicas === 1 ? '' : 's'} per release, drawn from the seed; every setup ` +
        "runs the same plan on a fresh machine). The page cache holds order-0 folios (the model's mmap faults), " +
        'where false positives of folio_maybe_dma_pinned() can occur.',
      `Writers: ${WORKLOAD.drivers} drivers (Case 5) each take a run of 1-${WORKLOAD.maxPinPages} pages for ` +
        `1-${WORKLOAD.maxHoldTicks} ticks with pin_user_pages(FOLL_WRITE) or get_user_pages(FOLL_WRITE), their ` +
        `device writes a page of the run with chance ${WORKLOAD.dmaChance} a tick, then they release it (three ` +
        'ways, one table each). An RDMA MR (ib_umem_get(): FOLL_PIN | FOLL_LONGTERM | FOLL_WRITE) covers the last ' +
        `${Math.round(size.pages * WORKLOAD.longtermShare)} pages from 10% to 90% of the run, its NIC writing with ` +
        `chance ${WORKLOAD.longtermDmaChance} a tick, released by ib_umem_release() (which dirties). The process ` +
        `stores into a random page with chance ${WORKLOAD.cpuChance} a tick, and a zero-copy sender ships a ` +
        `stored page with chance ${WORKLOAD.sendChance}: ${WORKLOAD.burstRefsMin}-` +
        `${WORKLOAD.burstRefsMin + WORKLOAD.burstRefsSpan} FOLL_GET references (get_user_pages_fast()) held ` +
        `1-${WORKLOAD.burstMaxTicks} ticks, enough on a small folio for folio_maybe_dma_pinned() to answer ` +
        'true with no pin held (experiment 1).',
      `Writeback and reclaim: the flusher (WB_SYNC_NONE) every ${WORKLOAD.flushEvery} ticks, fsync ` +
        `(WB_SYNC_ALL) with chance ${WORKLOAD.fsyncChance} a tick from one syncing thread, reclaim every ` +
        `${WORKLOAD.reclaimEvery} ticks (the process drops its mapping with MADV_DONTNEED, then drop_caches: ` +
        'clean, unpinned, unreferenced pages leave the cache and are read back from the disk). At the end ' +
        'everything is released, the file fsynced, unmapped and dropped: what the disk does not hold then is lost.',
      "Setups: (a) Linux 6.18 as it is: writeback ignores pins, and the MR's registration is refused, so the " +
        'application registers an anonymous buffer and copies each NIC write into the file mapping (a store: the ' +
        "write fault dirties the page); (a') the same writeback with the long-term pin allowed (6.1 has no " +
        "refusal); (b)-(e) gupsim's what-if policies (machine option writebackPolicy, src/mm/writeback_pinned.ts), " +
        'with the long-term pin allowed, since making such pins safe is their purpose: (b) never write a maybe-' +
        'pinned folio; (c) write a bounce copy and keep the folio dirty; (d) fsync waits until the pin is dropped ' +
        "(the flusher skips); (e) J. Kara's 2023 RFC: the flusher skips, fsync writes a bounce copy and cleans.",
      'The ledger: every write stores a value never used before, so a value names its write. A write resolves ' +
        'when the disk holds it, is superseded when a newer write replaces it in memory first, and is lost when ' +
        'its page leaves the cache (or the run ends) with the disk behind. An fsync leaves data off the disk when, ' +
        'as it returns, some page written before the call is not on the disk.',
    ],
    tables,
    plots,
    verdict: { outcome, text: verdictText },
    findings,
    limits: [
      "A page holds one value and writeback's I/O is instant: the model cannot show a device changing a page " +
        'while it is being written (torn writes, checksum or DIF/DIX failures), the reason stable pages and ' +
        'bounce copies exist; the bounce is counted, not allocated.',
      "The what-if policies are gupsim's, modelled from their descriptions (and, for (e), from the RFC's " +
        'patches): no released kernel has them. They lift the long-term refusal; a kernel adopting one might not.',
      'Time is in ticks of a synthetic workload (a tick read as a second: the flusher every 5 s); the flusher ' +
        'writes every dirty page, without dirty_expire_centisecs. No memory pressure: reclaim is MADV_DONTNEED ' +
        'plus drop_caches, the model has no page-out.',
      'The application fallback under 6.18 is one of several (ODP MRs, buffered I/O): it copies every NIC write; ' +
        'the ranking of the recommendation is a choice stated in the verdict (losing data first, then durability, ' +
        'then blocking, then cost).',
    ],
    facts,
  };
}

export const writeback = defineExperiment<Params, Result>({
  number: 5,
  name: 'writeback',
  title: 'Case 5 and the writeback TODO',
  question:
    'A file-backed buffer (a dirty-tracked shared mapping) is written by devices through short-term pins or ' +
    'references and a long-term pin, at random times, with periodic writeback and reclaim; drivers release their ' +
    'pages right (unpin_user_pages_dirty_lock) or wrong (unpin without dirtying, put_page). How many device ' +
    'writes never reach the disk, how long is the disk stale, what do copies and blocked fsyncs cost, under ' +
    'Linux 6.18 and under what-if writeback policies for folios folio_maybe_dma_pinned() reports?',
  claims: [
    {
      section: 'CASE 5: Pinning in order to write to the data within the page',
      quote:
        'Even though neither DMA nor Direct IO is involved, just a simple case of "pin, write to a page\'s data, ' +
        'unpin" can cause a problem. [...] INCORRECT (uses FOLL_GET calls): get_user_pages() / write to the data ' +
        'within the pages / put_page()',
    },
    {
      section: 'folio_maybe_dma_pinned(): the whole point of pinning',
      quote:
        'What to do in those cases is the subject of a years-long series of discussions and debates (see the ' +
        "References at the end of this document). It's a TODO item here: fill in the details once that's worked out.",
    },
  ],
  shards(o): ShardSpec<Params>[] {
    const size = SIZES[o.mode];
    const out: ShardSpec<Params>[] = [];
    for (let replica = 0; replica < size.replicas; replica++)
      for (const release of RELEASES)
        out.push({
          label: `writeback policies, ${RELEASE_SHORT[release]}, plan ${replica + 1}`,
          params: {
            release,
            replica,
            planSeed: shardSeed(o.seed, 'writeback-plan', replica),
            pages: size.pages,
            ticks: size.ticks,
          },
          cost: (size.pages * size.ticks) / 200_000,
        });
    return out;
  },
  runShard: (params, ctx) => run(params, ctx),
  report: (results, o) => report(results, o.mode),
});
