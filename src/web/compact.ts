// The timeline as the page keeps it: each region's page map once in full (the step it first shows),
// then per step only the runs of pages that changed, with their old and new values, so moving to any
// step applies the changes between the two steps (forwards or backwards) to one live map per region,
// and the map view repaints only the rows those changes touch. The worker (worker.ts) compacts the
// timeline as scenario/timeline.ts builds it; the page (app.ts) moves a MapStore over it. Pure: no DOM.

import type { HolderType } from '../consumers/holder.js';
import type { Holder } from '../consumers/holder.js';
import type { RunResult } from '../scenario/result.js';
import type { RegionMap } from '../scenario/page_states.js';
import type { StepView, Timeline } from '../scenario/timeline.js';
import { partings } from '../scenario/partings.js';

/** A region's status after a step, as a number per step (REGION_HIDDEN: not shown yet). */
export const REGION_HIDDEN = 0;
const STATUS = ['hidden', 'mapped', 'unmapped', 'exited'] as const;
export type RegionStatus = Exclude<(typeof STATUS)[number], 'hidden'>;

/** Changed pages closer than this are one run (the pages between travel with it, unchanged). */
const RUN_GAP = 8;

/** What changed in a region's map from one step to the next. */
export interface MapDiff {
  /** Runs of pages: start, length, start, length... */
  runs: Int32Array;
  /** The pages' values before and after, run after run. */
  oldState: Uint8Array;
  newState: Uint8Array;
  oldBits: Uint8Array;
  newBits: Uint8Array;
  oldPfn: Int32Array;
  newPfn: Int32Array;
}

/** One process's view of one region over the whole run. */
export interface Track {
  process: string;
  region: string;
  addr: number;
  pages: number;
  /** The first step it shows at, and its map after that step. */
  first: number;
  base: RegionMap;
  /** diffs[s]: from step s - 1 to step s (null: no change, or s <= first). */
  diffs: Array<MapDiff | null>;
  /** Per step: REGION_HIDDEN or the index of its status in STATUS. */
  status: Uint8Array;
}

/** A holder after a step (scenario/timeline.ts HolderView) and the pages its frames cover. */
export interface PageHolder {
  name: string;
  type: HolderType;
  process: string;
  pins: number;
  refs: number;
  closed: boolean;
  /** One PFN per entry (HolderView.frames); null when closed. */
  frames: Int32Array | null;
  attached: number;
  /**
   * Every frame as a first PFN and a page count (Holder.frames(): a coalesced io_uring bvec covers
   * a whole folio): what the map outlines. Null when closed.
   */
  spans: Int32Array | null;
}

export interface PageStep {
  index: number;
  vmstat: Record<string, number>;
  /** Indices into tracks of the regions shown after this step, in the timeline's order. */
  regions: number[];
  holders: PageHolder[];
}

export interface Parting {
  step: number;
  holder: string;
  parted: number;
  op: string;
}

/** Everything the page shows of a run, moved from the worker in one message. */
export interface PageTimeline {
  result: RunResult;
  steps: PageStep[];
  tracks: Track[];
  partings: Parting[];
}

/** A region as the page shows it after a step: its live map (a MapStore's, changed in place). */
export interface PageRegion {
  track: number;
  process: string;
  region: string;
  addr: number;
  pages: number;
  status: RegionStatus;
  map: RegionMap;
}

/** The runs where `b` differs from `a` (same length), or null when nothing does. */
export function diffMaps(a: RegionMap, b: RegionMap): MapDiff | null {
  const n = a.state.length;
  const runs: number[] = [];
  let start = -1;
  let lastDiff = -1;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (a.state[i] === b.state[i] && a.bits[i] === b.bits[i] && a.pfn[i] === b.pfn[i]) continue;
    if (start >= 0 && i - lastDiff <= RUN_GAP) {
      lastDiff = i;
      continue;
    }
    if (start >= 0) {
      runs.push(start, lastDiff - start + 1);
      count += lastDiff - start + 1;
    }
    start = lastDiff = i;
  }
  if (start < 0) return null;
  runs.push(start, lastDiff - start + 1);
  count += lastDiff - start + 1;
  const d: MapDiff = {
    runs: Int32Array.from(runs),
    oldState: new Uint8Array(count),
    newState: new Uint8Array(count),
    oldBits: new Uint8Array(count),
    newBits: new Uint8Array(count),
    oldPfn: new Int32Array(count),
    newPfn: new Int32Array(count),
  };
  for (let r = 0, o = 0; r < runs.length; r += 2) {
    const s = runs[r]!;
    const e = s + runs[r + 1]!;
    d.oldState.set(a.state.subarray(s, e), o);
    d.newState.set(b.state.subarray(s, e), o);
    d.oldBits.set(a.bits.subarray(s, e), o);
    d.newBits.set(b.bits.subarray(s, e), o);
    d.oldPfn.set(a.pfn.subarray(s, e), o);
    d.newPfn.set(b.pfn.subarray(s, e), o);
    o += e - s;
  }
  return d;
}

/** Write a diff's new values (forward) or old values (backward) into `map`. */
export function applyDiff(map: RegionMap, d: MapDiff, forward: boolean): void {
  const state = forward ? d.newState : d.oldState;
  const bits = forward ? d.newBits : d.oldBits;
  const pfn = forward ? d.newPfn : d.oldPfn;
  for (let r = 0, o = 0; r < d.runs.length; r += 2) {
    const s = d.runs[r]!;
    const n = d.runs[r + 1]!;
    map.state.set(state.subarray(o, o + n), s);
    map.bits.set(bits.subarray(o, o + n), s);
    map.pfn.set(pfn.subarray(o, o + n), s);
    o += n;
  }
}

function copyMap(m: RegionMap): RegionMap {
  return { state: m.state.slice(), bits: m.bits.slice(), pfn: m.pfn.slice() };
}

/** The frames of a holder as [first PFN, pages] pairs, as Holder.frames() reports them. */
export function holderSpans(h: Holder): Int32Array {
  const frames = h.frames().filter((f) => f.pfn >= 0);
  const out = new Int32Array(frames.length * 2);
  frames.forEach((f, i) => {
    out[2 * i] = f.pfn;
    out[2 * i + 1] = Math.max(1, f.pages);
  });
  return out;
}

/**
 * Compacts a timeline step by step, as buildTimeline() makes it (its onStep): each region's first
 * map in full, then only diffs. `spans` gives the frames of the open holders after the step.
 */
export class Compactor {
  private readonly tracks: Track[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly last: RegionMap[] = [];
  private readonly steps: PageStep[] = [];

  constructor(private readonly total: number) {}

  add(view: StepView, spans: ReadonlyMap<string, Int32Array>): void {
    const s = view.index;
    const regions: number[] = [];
    for (const rv of view.regions) {
      const key = `${rv.process}\u0000${rv.region}`;
      let t = this.byKey.get(key);
      if (t === undefined) {
        t = this.tracks.length;
        this.byKey.set(key, t);
        this.tracks.push({
          process: rv.process,
          region: rv.region,
          addr: rv.addr,
          pages: rv.pages,
          first: s,
          base: copyMap(rv.map),
          diffs: new Array<MapDiff | null>(this.total).fill(null),
          status: new Uint8Array(this.total),
        });
        this.last[t] = rv.map;
      } else {
        const prev = this.last[t]!;
        if (prev !== rv.map) this.tracks[t]!.diffs[s] = diffMaps(prev, rv.map);
        this.last[t] = rv.map;
      }
      this.tracks[t]!.status[s] = STATUS.indexOf(rv.status);
      regions.push(t);
    }
    const holders = view.holders.map((hv): PageHolder => ({
      name: hv.name,
      type: hv.type,
      process: hv.process,
      pins: hv.pins,
      refs: hv.refs,
      closed: hv.closed,
      frames: hv.frames,
      attached: hv.attached,
      spans: hv.closed ? null : (spans.get(hv.name) ?? null),
    }));
    this.steps.push({ index: s, vmstat: view.vmstat, regions, holders });
  }

  /** The page's timeline, and the buffers to transfer with it (nothing is shared between them). */
  finish(t: Timeline): { timeline: PageTimeline; transfer: ArrayBuffer[] } {
    const timeline: PageTimeline = { result: t.result, steps: this.steps, tracks: this.tracks, partings: partings(t) };
    const seen = new Set<ArrayBuffer>();
    const add = (a: ArrayBufferView | null | undefined) => {
      if (a && a.buffer instanceof ArrayBuffer) seen.add(a.buffer);
    };
    for (const st of this.steps)
      for (const h of st.holders) {
        add(h.frames);
        add(h.spans);
      }
    for (const tr of this.tracks) {
      add(tr.base.state);
      add(tr.base.bits);
      add(tr.base.pfn);
      add(tr.status);
      for (const d of tr.diffs)
        if (d) for (const a of [d.runs, d.oldState, d.newState, d.oldBits, d.newBits, d.oldPfn, d.newPfn]) add(a);
    }
    return { timeline, transfer: [...seen] };
  }
}

/** Pages changed by a move, per track: runs (start, length...), or 'all' for a map shown afresh. */
export type Changes = Map<number, number[] | 'all'>;

/** One live map per region, moved to any step by applying the diffs between. */
export class MapStore {
  private readonly live: Array<RegionMap | undefined> = [];
  /** The step each live map shows. */
  private readonly at: number[] = [];

  constructor(readonly t: PageTimeline) {}

  /** The regions shown after `step`, their live maps brought there; `changes` gets what moved. */
  moveTo(step: number, changes: Changes = new Map()): PageRegion[] {
    const st = this.t.steps[step];
    if (!st) return [];
    const out: PageRegion[] = [];
    for (const k of st.regions) {
      const tr = this.t.tracks[k]!;
      out.push({
        track: k,
        process: tr.process,
        region: tr.region,
        addr: tr.addr,
        pages: tr.pages,
        status: STATUS[tr.status[step]!] as RegionStatus,
        map: this.bring(k, step, changes),
      });
    }
    return out;
  }

  private bring(k: number, step: number, changes: Changes): RegionMap {
    const tr = this.t.tracks[k]!;
    let map = this.live[k];
    if (!map) {
      map = this.live[k] = copyMap(tr.base);
      this.at[k] = tr.first;
      changes.set(k, 'all');
    }
    let runs = changes.get(k);
    const record = (d: MapDiff): void => {
      if (runs === 'all') return;
      if (!runs) changes.set(k, (runs = []));
      for (const x of d.runs) runs.push(x);
    };
    let at = this.at[k]!;
    for (; at < step; at++) {
      const d = tr.diffs[at + 1];
      if (d) {
        applyDiff(map, d, true);
        record(d);
      }
    }
    for (; at > step; at--) {
      const d = tr.diffs[at];
      if (d) {
        applyDiff(map, d, false);
        record(d);
      }
    }
    this.at[k] = at;
    return map;
  }
}
