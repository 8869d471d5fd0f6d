// Experiment 2: how far the pin counters go. A small folio takes GUP_PIN_COUNTING_BIAS (1024) of its
// signed 32-bit _refcount per pin; a large folio takes 1 of _refcount and 1 of _pincount per page.
// One folio of each is pinned again and again until a pin is refused, then everything is unpinned.
// What the kernel does at the limit comes from mm/gup.c: try_get_folio() (GUP-fast) and
// try_grab_folio() (the slow path) refuse a folio whose _refcount is negative (or zero), with a
// WARN_ON_ONCE; neither checks the addition itself.

import { GUP_PIN_COUNTING_BIAS, PAGE_SIZE, PUD_ORDER } from '../../mm/memmap.js';
import { FOLL_WRITE } from '../../mm/foll_flags.js';
import { folio_maybe_dma_pinned, get_user_pages_fast, pin_user_pages_fast, unpin_user_pages } from '../../mm/gup.js';
import { errnoName } from '../../uapi/errno.js';
import { buffer, frameAt, kindInfo, type FolioKind } from './world.js';
import { fmtNumber } from './format.js';
import { round } from './report.js';
import { defineExperiment, type Outcome, type ReportBody, type ShardContext, type ShardSpec } from './types.js';

/** The largest value of an atomic_t. */
const INT_MAX = 2 ** 31 - 1;

/** The two folios: a small page, and a 1 GiB hugetlb page (the largest folio, pinned whole each time). */
const KINDS: FolioKind[] = ['small', 'hugetlb-1G'];

interface Params {
  kind: FolioKind;
}

export interface LimitResult {
  kind: FolioKind;
  /** Pages per pin call (the whole folio). */
  unitsPerCall: number;
  /** _refcount added per page pinned. */
  refsPerPage: number;
  baseRefcount: number;
  /** pin_user_pages_fast() calls that pinned everything asked. */
  callsOk: number;
  /** _refcount after the last of them, as the kernel reads it (signed). */
  refcountAfterLast: number;
  pincountAfterLast: number;
  /** The refused call: its return value, errno name, and the check that refused it. */
  failRet: number;
  failErrno: string;
  failWhy: string;
  warns: string[];
  maybePinnedAfterWrap: boolean;
  /** get_user_pages_fast() (FOLL_GET, a plain reference) on the same page after the wrap. */
  getRet: number;
  getErrno: string;
  /** After unpinning every pin held. */
  refcountAfterUnpin: number;
  balanced: boolean;
  warnsDuringUnpin: number;
  /** (pages pinned, _refcount) along the way. */
  trace: Array<[number, number]>;
}

/** Calls at most, so a gupsim bug cannot loop for ever: twice what the kernel's arithmetic allows. */
function callLimit(unitsPerCall: number, refsPerPage: number): number {
  return Math.ceil((2 * 2 ** 31) / (unitsPerCall * refsPerPage));
}

function run(kind: FolioKind, ctx: ShardContext): LimitResult {
  const info = kindInfo(kind);
  const units = 1 << info.order;
  const b = buffer(kind, PAGE_SIZE << info.order, { profile: ctx.profile });
  const { m, p, addr } = b;
  const folio = m.mem.page_folio(frameAt(p, addr)!);
  const refsPerPage = m.mem.folio_has_pincount(folio) ? 1 : GUP_PIN_COUNTING_BIAS;
  const baseRefcount = m.mem.refcount[folio]!;
  const pages = new Int32Array(units);
  const trace: Array<[number, number]> = [[0, baseRefcount]];
  const limit = callLimit(units, refsPerPage);
  const expected = Math.ceil(2 ** 31 / (units * refsPerPage));
  let calls = 0;
  let ret: number;
  let nextTrace = 1;
  let beforeLastOk = baseRefcount;
  for (;;) {
    const before = m.mem.refcount[folio]!;
    ret = pin_user_pages_fast(m, p, addr, units, FOLL_WRITE, pages);
    if (ret !== units) break;
    beforeLastOk = before;
    calls++;
    if (calls >= nextTrace) {
      trace.push([calls * units, m.mem.refcount[folio]!]);
      nextTrace *= 2;
    }
    if ((calls & 0xffff) === 0 || units > 1) ctx.progress(calls, expected);
    if (calls > limit) throw new Error(`gupsim experiment: ${info.label} took ${calls} pins without a refusal`);
  }
  const refcountAfterLast = m.mem.refcount[folio]!;
  // End the trace with the highest _refcount reached (before the last pin) and the value after it.
  while (trace.length > 1 && trace[trace.length - 1]![0] >= (calls - 1) * units) trace.pop();
  if (calls > 1) trace.push([(calls - 1) * units, beforeLastOk]);
  trace.push([calls * units, refcountAfterLast]);
  const pincountAfterLast = m.mem.folio_has_pincount(folio) ? m.mem.folioPincount(folio) : 0;
  const why = m.why;
  const warns = [...new Set(m.warns.records.map((w) => `${w.fn}: WARN_ON_ONCE(${w.condition})`))];
  const maybePinnedAfterWrap = folio_maybe_dma_pinned(m, folio);
  const one = new Int32Array(1);
  const getRet = get_user_pages_fast(m, p, addr, 1, 0, one);
  const warnsBefore = m.warns.records.length;
  for (let i = 0; i < calls; i++) unpin_user_pages(m, pages, units);
  return {
    kind,
    unitsPerCall: units,
    refsPerPage,
    baseRefcount,
    callsOk: calls,
    refcountAfterLast,
    pincountAfterLast,
    failRet: ret,
    failErrno: ret < 0 ? errnoName(-ret) : String(ret),
    failWhy: why ? `${why.fn}: ${why.rule}` : 'none recorded',
    warns,
    maybePinnedAfterWrap,
    getRet,
    getErrno: getRet < 0 ? errnoName(-getRet) : String(getRet),
    refcountAfterUnpin: m.mem.refcount[folio]!,
    balanced: m.vmstat.get('nr_foll_pin_acquired') === m.vmstat.get('nr_foll_pin_released'),
    warnsDuringUnpin: m.warns.records.length - warnsBefore,
    trace,
  };
}

/** The verdict from the data: exported for the test that checks it follows from the data. */
export function verdictOf(f: {
  smallPinsLog2: number;
  smallWrapped: boolean;
  largePagesLog2: number;
  largeFalseNegative: boolean;
}): Outcome {
  // "only 31-10==21 bits available for a counter that increments 10 bits at a time"
  if (f.smallPinsLog2 !== 21) return 'does not hold';
  // "This approach for large folios avoids the counting upper limit problems": 2^31 pages, 1024 times more.
  if (f.largePagesLog2 < 30.99) return 'does not hold';
  // The limits are as stated; how the kernel behaves at them (a wrapped count accepted, a large folio
  // reading unpinned) is the caveat.
  return f.smallWrapped || f.largeFalseNegative ? 'holds with a caveat' : 'holds';
}

function report(results: LimitResult[]): ReportBody {
  const small = results.find((r) => r.kind === 'small')!;
  const large = results.find((r) => r.kind !== 'small')!;
  const pagesPinned = (r: LimitResult) => r.callsOk * r.unitsPerCall;
  const log2 = (n: number) => round(Math.log2(n), 3);
  const facts = {
    smallPins: pagesPinned(small),
    smallPinsLog2: log2(pagesPinned(small)),
    smallWrapped: small.refcountAfterLast < 0,
    smallFailErrno: small.failErrno,
    largePages: pagesPinned(large),
    largePagesLog2: log2(pagesPinned(large)),
    largeCalls: large.callsOk,
    largeWrapped: large.refcountAfterLast < 0,
    largeFailErrno: large.failErrno,
    smallPinnedAfterWrap: small.maybePinnedAfterWrap,
    largeFalseNegative: !large.maybePinnedAfterWrap,
    largePincountWrapped: large.pincountAfterLast < 0,
    smallRestored: small.refcountAfterUnpin === small.baseRefcount && small.balanced,
    largeRestored: large.refcountAfterUnpin === large.baseRefcount && large.balanced,
  };
  const outcome = verdictOf(facts);
  const col = (r: LimitResult) => kindInfo(r.kind).label;
  const row = (label: string, f: (r: LimitResult) => string | number | boolean) => [label, ...results.map(f)];
  return {
    method: [
      `One folio of each kind, private anonymous memory mapped once: a small page, and a 1 GiB hugetlb page ` +
        `(order ${PUD_ORDER}, PUD-mapped: the largest folio, so the fewest calls). pin_user_pages_fast(FOLL_WRITE) ` +
        `pins the whole folio again and again, every pin kept, until a call pins less than asked. Then the ` +
        `refused call's errno and the check that refused it, the WARNs, folio_maybe_dma_pinned(), a plain ` +
        `reference (get_user_pages_fast) on the same page, and everything unpinned (unpin_user_pages).`,
    ],
    tables: [
      {
        title: 'Pinning one folio until the kernel refuses',
        columns: ['', ...results.map(col)],
        rows: [
          row('pages per pin call', (r) => r.unitsPerCall),
          row('_refcount added per page pinned', (r) => r.refsPerPage),
          row('_refcount before', (r) => r.baseRefcount),
          row('pin calls that succeeded', (r) => r.callsOk),
          row('pages pinned in all', (r) => `${fmtNumber(pagesPinned(r))} (2^${log2(pagesPinned(r))})`),
          row('_refcount after the last success (signed)', (r) => r.refcountAfterLast),
          row('_pincount after the last success', (r) => (r.refsPerPage === 1 ? r.pincountAfterLast : 'none')),
          row('the next pin_user_pages_fast()', (r) => `${r.failRet} (-${r.failErrno})`),
          row('refused by', (r) => r.failWhy),
          row('WARN_ON_ONCE', (r) => r.warns.join('; ') || 'none'),
          row('folio_maybe_dma_pinned() after the wrap', (r) => r.maybePinnedAfterWrap),
          row('get_user_pages_fast() (FOLL_GET) after the wrap', (r) => `${r.getRet} (-${r.getErrno})`),
          row('_refcount after unpinning everything', (r) => r.refcountAfterUnpin),
          row('nr_foll_pin_released == nr_foll_pin_acquired then', (r) => r.balanced),
        ],
        notes: [
          '_refcount is an atomic_t: the model keeps it in an Int32Array, so an add past 2^31 - 1 wraps as the ' +
            "kernel's does; unpinning subtracts with the same wrap and comes back to the start.",
        ],
      },
    ],
    plots: [
      {
        id: 'refcount',
        title: '_refcount (as the kernel reads it) while one folio is pinned again and again',
        x: { label: 'pages pinned', scale: 'log2' },
        y: { label: '_refcount (signed 32-bit; G = 10^9)' },
        series: [
          ...results.map((r) => ({ name: col(r), points: r.trace.filter(([x]) => x > 0) })),
          {
            name: 'INT_MAX (2^31 - 1): the largest _refcount',
            points: [
              [1, INT_MAX],
              [Math.max(...results.map(pagesPinned)), INT_MAX],
            ],
          },
        ],
        caption:
          `A small page reaches 2^31 after 2^21 pins and wraps negative; the 1 GiB folio's _refcount grows by ` +
          `one per page and wraps only after about 2^31 pages.`,
      },
    ],
    verdict: {
      outcome,
      text:
        `${fmtNumber(pagesPinned(small))} pins (2^${facts.smallPinsLog2}) of one small page, the doc's 21 bits. ` +
        (facts.smallWrapped
          ? `But the kernel does not stop at the limit: the last pin it accepts wraps _refcount to ` +
            `${fmtNumber(small.refcountAfterLast)} (no check on the addition); only the next call is refused, ` +
            `with -${small.failErrno} and a WARN. `
          : '') +
        `A large folio holds ${fmtNumber(pagesPinned(large))} page pins (2^${facts.largePagesLog2}): ` +
        `${fmtNumber(large.callsOk)} pins of a whole 1 GiB page before the same refusal` +
        (facts.largeFalseNegative
          ? `; at that point its _pincount has wrapped too, and folio_maybe_dma_pinned() answers false for a ` +
            `page pinned 2^${facts.largePagesLog2} times.`
          : '.'),
    },
    findings: [
      `The refusal is two checks: GUP-fast's try_get_folio() sees a negative _refcount (WARN) and falls back ` +
        `to the slow path, whose try_grab_folio() refuses it (WARN, -ENOMEM). pin_user_pages_fast() returns ` +
        `-${small.failErrno}, the same errno as running out of memory; plain references are refused too ` +
        `(get_user_pages_fast: -${small.getErrno}).`,
      `After the wrap the small page still reads as pinned: folio_maybe_dma_pinned() compares its _refcount ` +
        `unsigned. Unpinning every pin brings it back to ${small.refcountAfterUnpin}` +
        `${small.balanced ? ', the counters balanced' : ', the counters unbalanced'}.`,
      ...(facts.largeFalseNegative
        ? [
            `A false negative at the large folio's limit: one grab of a PUD-mapped 1 GiB page adds 262,144 to ` +
              `_refcount and to _pincount at once, and _refcount exceeds _pincount only by the page's own ` +
              `reference, so the grab that wraps _refcount (accepted: the check comes before the add) wraps ` +
              `_pincount as well, to ${fmtNumber(large.pincountAfterLast)}. folio_maybe_dma_pinned() tests ` +
              `_pincount > 0 on a large folio and answers false, which pin_user_pages.rst says must not happen ` +
              `("false negatives are not").`,
          ]
        : []),
      facts.largeRestored
        ? `Unpinning the large folio brings _refcount back to ${large.refcountAfterUnpin}, the counters balanced.`
        : `Unpinning the large folio after the wrap left _refcount at ${fmtNumber(large.refcountAfterUnpin)} and ` +
          `the counters unbalanced (${large.warnsDuringUnpin} WARN record(s) during the unpins), although ` +
          `gup_put_folio() subtracts with the same 32-bit wrap as the grabs added.`,
    ],
    limits: [
      'On a real machine other holders of references (the page cache, fork, migration) share the same 31 bits; ' +
        'here the folio is mapped once and nothing else holds it.',
    ],
    facts,
  };
}

export const counterLimits = defineExperiment<Params, LimitResult>({
  number: 2,
  name: 'counter-limits',
  title: 'Counter limits: how many pins fit in _refcount and _pincount',
  question:
    'How many times can one small page be pinned before its 32-bit _refcount overflows, and what does the ' +
    'kernel do then? How far does a large folio with _pincount go?',
  claims: [
    {
      section: 'Tracking dma-pinned pages',
      quote:
        'This also leads to limitations: there are only 31-10==21 bits available for a counter that increments ' +
        '10 bits at a time.',
    },
    {
      section: 'Which flags are set by each wrapper',
      quote: 'This approach for large folios avoids the counting upper limit problems that are discussed below.',
    },
  ],
  shards(): ShardSpec<Params>[] {
    return KINDS.map((kind) => ({
      label: `pin ${kindInfo(kind).label} to overflow`,
      params: { kind },
      cost: kind === 'small' ? 2 : 9,
    }));
  },
  runShard: (params, ctx) => run(params.kind, ctx),
  report: (results) => report(results),
});
