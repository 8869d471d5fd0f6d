// A scenario run seen step by step, for the playground: after every step, the counters (every vmstat
// item the model keeps, as deltas), the page map of each process's regions (pagemap.ts) and the
// frames each holder keeps (ring, MR, DMA map, pipe, pin handle) against what its process maps.
// Built in one run (executeScenario's onStep), so moving to any step is a lookup, not a replay.
// Unchanged maps are shared between steps, so a long scenario costs only what its steps change.

import { executeScenario } from './run.js';
import { type RunContext } from './context.js';
import type { RunResult, StepResult } from './result.js';
import type { Scenario } from './schema.js';
import type { Holder, HolderType } from '../consumers/holder.js';
import { classifyRegion, type RegionMap } from './pagemap.js';
import { PAGE_SIZE } from '../mm/memmap.js';
import type { Process } from '../mm/task.js';

// Its callers read it from here, beside the timeline it is computed from.
export { partings } from './partings.js';

/** A region as one process maps it after a step. */
export interface RegionView {
  process: string;
  region: string;
  addr: number;
  pages: number;
  /** Whether the process maps (part of) the region now, has unmapped it, or has exited. */
  status: 'mapped' | 'unmapped' | 'exited';
  map: RegionMap;
}

/** What a holder keeps after a step, and how much of it its process still maps. */
export interface HolderView {
  name: string;
  type: HolderType;
  process: string;
  pins: number;
  refs: number;
  closed: boolean;
  /**
   * The frames (PFNs) it holds, one per entry, when the model reports them (Holder.frames(), or a raw
   * GUP handle's pages[]); null when it does not.
   */
  frames: Int32Array | null;
  /** Entries of `frames` whose PFN the holder's process maps in one of its regions now. */
  attached: number;
}

export interface StepView {
  index: number;
  /** Every counter the model keeps, as deltas since the scenario began. */
  vmstat: Record<string, number>;
  regions: RegionView[];
  holders: HolderView[];
}

export interface Timeline {
  result: RunResult;
  steps: StepView[];
}

/**
 * The frames a holder keeps, if the model says: a `frames()` method on the holder (PFNs, or objects
 * with a `pfn`), or a raw GUP handle's pages[] (released entries left out).
 */
export function holderFrames(h: Holder): Int32Array | null {
  return Int32Array.from(h.frames(), (f) => f.pfn).filter((p) => p >= 0);
}

function sameMap(a: RegionMap, b: RegionMap): boolean {
  if (a.state.length !== b.state.length) return false;
  for (let i = 0; i < a.state.length; i++)
    if (a.state[i] !== b.state[i] || a.bits[i] !== b.bits[i] || a.pfn[i] !== b.pfn[i]) return false;
  return true;
}

function mapsSomething(p: Process, addr: number, len: number): boolean {
  return p.alive && p.mm.vmas.some((v) => v.start < addr + len && v.end > addr);
}

/**
 * Pins held per folio by gupsim's ledger, when every holder with pins says which frames they are;
 * undefined when one does not (then a maybe-pinned small folio cannot be called a false positive).
 */
function ledgerPins(ctx: RunContext, frames: Map<Holder, Int32Array | null>): Map<number, number> | undefined {
  const out = new Map<number, number>();
  for (const h of ctx.holders.values()) {
    if (h.pins() === 0) continue;
    const f = frames.get(h);
    // One frame per pin unit, or the ledger is incomplete and cannot clear a folio.
    if (!f || h.refs() > 0 || f.length !== h.pins()) return undefined;
    for (const pfn of f) {
      if (pfn >= ctx.m.mem.nr) continue;
      const folio = ctx.m.mem.page_folio(pfn);
      out.set(folio, (out.get(folio) ?? 0) + 1);
    }
  }
  return out;
}

/**
 * Run the scenario once and keep, after every step, what the playground shows. `onStep` sees each
 * step's view as it is made, with the run's context (the playground's worker reports progress there).
 */
export function buildTimeline(
  sc: Scenario,
  opts: { name?: string; onStep?: (view: StepView, ctx: RunContext) => void } = {},
): Timeline {
  const steps: StepView[] = [];
  const shown = new Set<string>();
  const last = new Map<string, RegionMap>();
  const onStep = (ctx: RunContext, res: StepResult): void => {
    const frames = new Map<Holder, Int32Array | null>();
    for (const h of ctx.holders.values()) frames.set(h, h.closed ? null : holderFrames(h));
    const pinsByFolio = ledgerPins(ctx, frames);
    const regions: RegionView[] = [];
    for (const p of ctx.m.processes.values()) {
      for (const r of ctx.regions.values()) {
        const key = `${p.name}\u0000${r.name}`;
        const mapped = mapsSomething(p, r.addr, r.len);
        if (!shown.has(key) && !mapped) continue;
        shown.add(key);
        const pages = Math.ceil(r.len / PAGE_SIZE);
        let map = classifyRegion(ctx.m, p, r.addr, pages, pinsByFolio ? { pinsByFolio } : {});
        const prev = last.get(key);
        if (prev && sameMap(prev, map)) map = prev;
        last.set(key, map);
        const status = !p.alive ? 'exited' : mapped ? 'mapped' : 'unmapped';
        regions.push({ process: p.name, region: r.name, addr: r.addr, pages, status, map });
      }
    }
    // Which frames each process maps: one mark per PFN, set from the maps just made (a typed array,
    // not a Set: a 1 GiB region is 262,144 entries).
    const mapped = new Map<string, Uint8Array>();
    const mappedBy = (proc: string): Uint8Array => {
      let mark = mapped.get(proc);
      if (mark) return mark;
      mark = new Uint8Array(ctx.m.mem.nr);
      for (const rv of regions) {
        if (rv.process !== proc) continue;
        for (const pfn of rv.map.pfn) if (pfn >= 0 && pfn < mark.length) mark[pfn] = 1;
      }
      mapped.set(proc, mark);
      return mark;
    };
    const holders: HolderView[] = [];
    for (const h of ctx.holders.values()) {
      const f = frames.get(h) ?? null;
      let attached = 0;
      if (f && f.length) {
        const mark = mappedBy(h.process);
        for (const pfn of f) if (mark[pfn] === 1) attached++;
      }
      holders.push({
        name: h.name,
        type: h.type,
        process: h.process,
        pins: h.pins(),
        refs: h.refs(),
        closed: h.closed,
        frames: f,
        attached,
      });
    }
    const view: StepView = { index: res.index, vmstat: ctx.vmstatDelta(), regions, holders };
    steps.push(view);
    opts.onStep?.(view, ctx);
  };
  const { result } = executeScenario(sc, { name: opts.name, onStep });
  return { result, steps };
}
