// The race explorer (issue 14; no kernel counterpart): runs every interleaving of the atomic points
// of a scenario's `concurrent` threads (threads.ts) and reports every distinct end state and every
// property an interleaving violates, with the interleaving step by step.
//
// Search: depth-first, backtracking by machine snapshot (mm/snapshot.ts, the threads and locks as
// extra roots), with state hashing (an interleaving that reaches a state already explored stops there
// and counts the end states below it) and a partial-order reduction: when exactly one thread can move
// (the others wait on a lock or are done), it moves without branching. Steps before the block run
// once; steps after it run at every end state, with the model's invariants checked there.

import { RunContext } from '../../scenario/context.js';
import type { Scenario, Step, StepOf } from '../../scenario/schema.js';
import { runScenarioStep } from '../../scenario/run.js';
import { lookupPage } from '../../scenario/inspect.js';
import { snapshotMachine, restoreMachine, type MachineSnapshot } from '../../mm/snapshot.js';
import { PAGE_SIZE } from '../../mm/memmap.js';
import { folio_maybe_dma_pinned } from '../../mm/gup.js';
import type { ProtectionName } from '../../mm/protections.js';
import { checkInvariants } from '../invariants.js';
import { Locks, makeOp, type Op, type World, type PointRecord } from './threads.js';

/** One point of an interleaving: which thread did what, in which kernel function. */
export interface TraceStep {
  thread: string;
  /** The thread's step (index in the thread) and its op. */
  step: number;
  op: string;
  fn: string;
  what: string;
}

/** A property that some interleaving violates, with the shortest such interleaving found. */
export interface Violation {
  property: string;
  message: string;
  trace: TraceStep[];
  /** The page states of the regions at the violation (end of the interleaving for end-state checks). */
  pages: string[];
}

/** A distinct end state: what it looks like and how many interleavings reach it. */
export interface EndState {
  interleavings: number;
  vmstat: { nr_foll_pin_acquired: number; nr_foll_pin_released: number };
  /** Each thread step's return value, "thread.step op = ret". */
  returns: string[];
  /** Each page of each region in each process that maps it: frame and counts. */
  pages: string[];
  /** What each handle holds. */
  handles: string[];
  /** One interleaving that reaches it. */
  example: TraceStep[];
}

export interface ExploreResult {
  scenario: string;
  /** Protections switched off (--without). */
  without: string[];
  interleavings: number;
  states: number;
  /** The search stopped at --max-states: not every interleaving was run. */
  truncated: boolean;
  ends: EndState[];
  violations: Violation[];
  seconds: number;
  states_per_second: number;
}

export interface ExploreOptions {
  maxStates?: number;
  without?: ProtectionName[];
  /** Called now and then with the states explored so far. */
  onProgress?: (states: number, max: number) => void;
  name?: string;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

/** A 32-bit FNV-1a-style mix, two lanes (64 bits) to keep collisions out of reach. */
class Hash {
  a = 0x811c9dc5;
  b = 0x01000193;
  word(x: number): void {
    this.a = Math.imul(this.a ^ (x | 0), 0x01000193);
    this.b = Math.imul(this.b ^ (x | 0), 0x5bd1e995) ^ (this.b >>> 15);
  }
  num(x: number): void {
    if (Number.isInteger(x) && Math.abs(x) < 2 ** 31) this.word(x);
    else {
      this.word(Math.floor(x / 2 ** 32));
      this.word(x % 2 ** 32);
    }
  }
  ints(v: Int32Array | Uint32Array, n = v.length): void {
    let a = this.a;
    let b = this.b;
    for (let i = 0; i < n; i++) {
      const x = v[i]! | 0;
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul(b ^ x, 0x5bd1e995) ^ (b >>> 15);
    }
    this.a = a;
    this.b = b;
  }
  key(): string {
    return `${(this.a >>> 0).toString(36)}.${(this.b >>> 0).toString(36)}`;
  }
}

interface Thread {
  name: string;
  ops: Op[];
  pc: number;
}

/** Run every interleaving of the scenario's (first) concurrent block. */
export function explore(sc: Scenario, opts: ExploreOptions = {}): ExploreResult {
  const t0 = performance.now();
  const maxStates = opts.maxStates ?? 1_000_000;
  const at = sc.steps.findIndex((s) => s.op === 'concurrent');
  if (at < 0) throw new RangeError('the scenario has no concurrent step: nothing to explore');
  const block = sc.steps[at] as StepOf<'concurrent'>;
  const ctx = new RunContext(sc);
  for (const w of opts.without ?? []) ctx.m.protections[w] = false;
  sc.steps.slice(0, at).forEach((s, i) => runScenarioStep(ctx, s, i, []));
  const after = sc.steps.slice(at + 1);
  ctx.m.warns.step = at;
  ctx.m.misuse.step = at;
  const threads: Thread[] = Object.entries(block.threads).map(([name, steps]) => ({
    name,
    ops: steps.map((s) => makeOp(name, s)),
    pc: 0,
  }));
  const world: World = { ctx, locks: new Locks() };
  const roots: object[] = [ctx, world, threads];
  const opKeys = threads.map((t) => t.ops.map((o) => Object.keys(o)));
  const slabBuf = { words: new Uint32Array(0) };

  const hashState = (): string => {
    const h = new Hash();
    const m = ctx.m;
    h.ints(new Int32Array(m.mem.pool));
    const slab = m.pteSlab;
    const words = slab.usedWords();
    if (slabBuf.words.length < words) slabBuf.words = new Uint32Array(words);
    slab.copyOut(slabBuf.words, words);
    h.ints(slabBuf.words, words);
    for (const p of m.processes.values()) {
      h.num(p.alive ? p.pid : -p.pid);
      const mm = p.mm;
      h.num(mm.write_protect_seq);
      h.num(mm.vmas.length);
      for (const v of mm.vmas) {
        h.num(v.start);
        h.num(v.end);
      }
      for (const [k, s] of mm.pt.pmds) {
        h.num(k);
        h.num(typeof s === 'number' ? s : -1 - s.byteOffset);
      }
      for (const [k, s] of mm.pt.puds) {
        h.num(k);
        h.num(s);
      }
    }
    for (const o of ctx.objects.values()) for (const f of o.frames()) h.num(f.pfn);
    threads.forEach((t, i) => {
      h.num(t.pc);
      t.ops.forEach((o, j) => {
        for (const k of opKeys[i]![j]!) {
          const v = (o as unknown as Record<string, unknown>)[k];
          if (typeof v === 'number') h.num(v);
          else if (typeof v === 'boolean') h.num(v ? 1 : 0);
          else if (v instanceof Int32Array) h.ints(v);
          else if (v instanceof Uint8Array) h.ints(new Int32Array(v));
        }
      });
    });
    for (const map of [world.locks.writer, world.locks.ptl])
      for (const [k, v] of map) {
        h.num(k);
        h.num(v.length);
      }
    for (const map of [world.locks.readers, world.locks.irqsOff, world.locks.migrating])
      for (const [k, v] of map) {
        h.num(k);
        h.num(v);
      }
    return h.key();
  };

  const pageLines = (): string[] => {
    const out: string[] = [];
    const m = ctx.m;
    for (const r of ctx.regions.values())
      for (const p of m.processes.values()) {
        if (!p.alive) continue;
        for (let a = r.addr; a < r.addr + r.len; a += PAGE_SIZE) {
          const hit = lookupPage(p, a);
          if (!hit) continue;
          const folio = m.mem.page_folio(hit.pfn);
          const pinned = folio_maybe_dma_pinned(m, folio) ? ', maybe pinned' : '';
          const excl = m.mem.folio_test_anon(folio) && m.mem.PageAnonExclusive(hit.pfn) ? ', exclusive' : '';
          out.push(
            `${p.name} ${r.name}[${(a - r.addr) / PAGE_SIZE}]: frame ${hex(hit.pfn)} ${hit.writable ? 'rw' : 'ro'}, ` +
              `refcount ${m.mem.refcount[folio]}, mapcount ${m.mem.mapcount[hit.pfn]}${pinned}${excl}`,
          );
          if (r.len / PAGE_SIZE > PAGES_LISTED && (a - r.addr) / PAGE_SIZE >= PAGES_LISTED - 1) break;
        }
      }
    return out;
  };

  const trace: TraceStep[] = [];
  const violations = new Map<string, Violation>();
  const violate = (property: string, message: string): void => {
    const have = violations.get(property);
    if (have && have.trace.length <= trace.length) return;
    violations.set(property, { property, message, trace: trace.slice(), pages: pageLines() });
  };
  const ends: EndState[] = [];
  const endIndex = new Map<string, number>();
  /** Per explored state: end-state index -> interleavings from it. */
  const seen = new Map<string, Map<number, number>>();
  const snaps: MachineSnapshot[] = [];
  let states = 0;
  let truncated = false;
  let lastProgress = 0;

  const finishEnd = (): number => {
    const m = ctx.m;
    after.forEach((s, i) => {
      const res = runScenarioStep(ctx, s as Step, at + 1 + i, []);
      if (res.failures?.length) violate(failureName(s as Step), res.failures.join('; '));
      trace.push({ thread: '-', step: at + 1 + i, op: s.op, fn: s.op, what: `ret ${res.ret}` });
    });
    for (const v of checkInvariants(m)) violate('model invariants', v);
    const d = ctx.vmstatDelta();
    const end: EndState = {
      interleavings: 0,
      vmstat: { nr_foll_pin_acquired: d.nr_foll_pin_acquired ?? 0, nr_foll_pin_released: d.nr_foll_pin_released ?? 0 },
      returns: threads.flatMap((t) => t.ops.map((o, j) => `${t.name}.${j} ${o.step.op} = ${o.ret}`)),
      pages: pageLines(),
      handles: [...ctx.objects.values()].map(
        (h) =>
          `${h.name}: ${
            h
              .frames()
              .map((f) => `${hex(f.addr)} -> frame ${hex(f.pfn)}`)
              .join(', ') || 'nothing'
          }`,
      ),
      example: [],
    };
    // Distinct as a person sees them: counters, returns, pages and handles (not every bit of the machine).
    const key = JSON.stringify([end.vmstat, end.returns, end.pages, end.handles]);
    let idx = endIndex.get(key);
    if (idx === undefined) {
      idx = ends.length;
      endIndex.set(key, idx);
      end.example = trace.slice();
      ends.push(end);
    }
    trace.length -= after.length;
    return idx;
  };

  const enabledThreads = (): number[] => {
    const out: number[] = [];
    threads.forEach((t, i) => {
      const op = t.ops[t.pc];
      if (op && op.enabled(world)) out.push(i);
    });
    return out;
  };

  const runPoint = (ti: number): void => {
    const t = threads[ti]!;
    const op = t.ops[t.pc]!;
    const rec: PointRecord = op.point(world);
    trace.push({ thread: t.name, step: t.pc, op: op.step.op, fn: rec.fn, what: rec.what });
    if (rec.violation) violate(rec.violation.property, rec.violation.message);
    if (op.done) t.pc++;
  };

  const visit = (depth: number): Map<number, number> => {
    const key = hashState();
    const memo = seen.get(key);
    if (memo) return memo;
    const result = new Map<number, number>();
    if (states >= maxStates) {
      truncated = true;
      return result;
    }
    states++;
    if (opts.onProgress && states - lastProgress >= PROGRESS_EVERY) {
      lastProgress = states;
      opts.onProgress(states, maxStates);
    }
    const en = enabledThreads();
    if (en.length === 0) {
      if (threads.every((t) => t.pc >= t.ops.length)) result.set(finishEnd(), 1);
      else
        violate(
          'no deadlock',
          `threads ${threads
            .filter((t) => t.pc < t.ops.length)
            .map((t) => t.name)
            .join(', ')} wait forever`,
        );
      seen.set(key, result);
      return result;
    }
    let snap: MachineSnapshot | undefined;
    if (en.length > 1) snap = snaps[depth] = snapshotMachine(ctx.m, roots, snaps[depth]);
    const mark = trace.length;
    en.forEach((ti, k) => {
      if (k > 0) {
        restoreMachine(ctx.m, snap!);
        trace.length = mark;
      }
      runPoint(ti);
      for (const [e, n] of visit(depth + 1)) result.set(e, (result.get(e) ?? 0) + n);
    });
    trace.length = mark;
    seen.set(key, result);
    return result;
  };

  const root = visit(0);
  let interleavings = 0;
  for (const [e, n] of root) {
    ends[e]!.interleavings += n;
    interleavings += n;
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    scenario: sc.name ?? opts.name ?? 'scenario',
    without: opts.without ?? [],
    interleavings,
    states,
    truncated,
    ends,
    violations: [...violations.values()],
    seconds,
    states_per_second: seconds > 0 ? Math.round(states / seconds) : 0,
  };
}

/** Pages listed per region in a state (a race needs a few; a big region is cut). */
const PAGES_LISTED = 8;
const PROGRESS_EVERY = 2000;

function failureName(s: Step): string {
  if (s.op === 'assert') return s.says ?? `assert ${s.that}`;
  return s.label ? `${s.op} ${s.label}` : s.op;
}
