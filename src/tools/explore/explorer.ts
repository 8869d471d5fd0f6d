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
import {
  Locks,
  makeOp,
  independent,
  FOOTPRINT_ALL,
  type Footprint,
  type Op,
  type World,
  type PointRecord,
} from './threads.js';
import { Hash, WordHash } from './state_hash.js';

/** One point of an interleaving: which thread did what, in which kernel function. */
export interface TraceStep {
  thread: string;
  /** The thread's step (index in the thread) and its op. */
  step: number;
  op: string;
  fn: string;
  what: string;
  /** In a violation's trace: the pages of the regions after this point. */
  pages?: string[];
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
  /** Whether the partial-order reduction was on (interleavings then count one per order of dependent points). */
  reduction: boolean;
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
  /** The partial-order reduction (sleep sets over independent points); on unless false. */
  reduction?: boolean;
}

const hex = (n: number): string => `0x${n.toString(16)}`;

interface Thread {
  name: string;
  ops: Op[];
  pc: number;
}

/** What the search keeps per node (a state and its sleep set): its end states and shortest violations. */
interface Node {
  /** End-state index -> interleavings from this node that reach it. */
  ends: Map<number, number>;
  /** Property -> the fewest points from here to its violation, and the thread to run first (-1: here). */
  best: Map<string, { dist: number; thread: number }>;
}

/** Run every interleaving of the scenario's (first) concurrent block. */
export function explore(sc: Scenario, opts: ExploreOptions = {}): ExploreResult {
  const t0 = performance.now();
  const maxStates = opts.maxStates ?? 1_000_000;
  const reduce = opts.reduction ?? true;
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
  if (threads.length > MAX_THREADS) throw new RangeError(`at most ${MAX_THREADS} threads in a concurrent step`);
  const world: World = { ctx, locks: new Locks() };
  const roots: object[] = [ctx, world, threads];
  const opKeys = threads.map((t) => t.ops.map((o) => Object.keys(o)));

  // The page state and the PTE slab: hashed incrementally (state_hash.ts); the rest word by word.
  const poolHash = new WordHash();
  const extraHash = new Map<string, WordHash>();
  const slabHash: WordHash[] = [];
  const slabViews: Int32Array[] = [];
  const hashState = (): string => {
    const m = ctx.m;
    const mem = m.mem;
    poolHash.update(new Int32Array(mem.pool), mem.pool.byteLength >> 2);
    const h = new Hash();
    h.word(poolHash.a);
    h.word(poolHash.b);
    for (const [name, arr] of mem.extras) {
      let x = extraHash.get(name);
      if (!x) extraHash.set(name, (x = new WordHash()));
      x.update(new Int32Array(arr.buffer, arr.byteOffset, arr.length), arr.length);
      // All zeros (0, 0) hashes as no array: one allocated since a snapshot is zeroed by its restore.
      if (x.a !== 0 || x.b !== 0) {
        h.word(x.a);
        h.word(x.b);
      }
    }
    const slab = m.pteSlab;
    const used = slab.usedWords();
    // Chunks above the high-water mark hold nothing: a chunk allocated since a snapshot must not count.
    slab.chunks.forEach((c, k) => {
      const v = (slabViews[k] ??= new Int32Array(c.buffer, c.byteOffset, c.length));
      const x = (slabHash[k] ??= new WordHash());
      x.update(v, Math.max(0, Math.min(c.length, used - k * c.length)));
      if (k * c.length < used) {
        h.word(x.a);
        h.word(x.b);
      }
    });
    for (const p of m.processes.values()) {
      h.num(p.alive ? p.pid : -p.pid);
      const mm = p.mm;
      h.num(mm.write_protect_seq);
      h.num(mm.has_pinned ? 1 : 0);
      h.num(mm.rss_anon);
      h.num(mm.rss_file);
      h.num(mm.vmas.length);
      for (const v of mm.vmas) {
        h.num(v.start);
        h.num(v.end);
        h.num(v.flags);
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
          else if (v instanceof Int32Array || v instanceof Uint8Array) h.words(v);
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
  /** Messages of the violations seen, by property (the replay gives the shortest one's own). */
  const seenViolations = new Map<string, string>();
  const ends: EndState[] = [];
  const endIndex = new Map<string, number>();
  const memo = new Map<string, Node>();
  const snaps: MachineSnapshot[] = [];
  let states = 0;
  let truncated = false;
  let lastProgress = 0;

  /** Run the steps after the block and check the invariants: the end state's index and what broke. */
  const finishEnd = (record: boolean): { idx: number; broken: Map<string, string> } => {
    const m = ctx.m;
    const broken = new Map<string, string>();
    const breaks = (p: string, msg: string) => {
      if (!broken.has(p)) broken.set(p, msg);
    };
    after.forEach((s, i) => {
      const res = runScenarioStep(ctx, s as Step, at + 1 + i, []);
      if (res.failures?.length) breaks(failureName(s as Step), res.failures.join('; '));
      if (record) trace.push({ thread: '-', step: at + 1 + i, op: s.op, fn: s.op, what: `ret ${res.ret}` });
    });
    for (const v of checkInvariants(m)) breaks('model invariants', v);
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
    return { idx, broken };
  };

  const deadlocked = (): string =>
    `threads ${threads
      .filter((t) => t.pc < t.ops.length)
      .map((t) => t.name)
      .join(', ')} wait forever`;

  const enabledThreads = (): number[] => {
    const out: number[] = [];
    threads.forEach((t, i) => {
      const op = t.ops[t.pc];
      if (op && op.enabled(world)) out.push(i);
    });
    return out;
  };

  const runPoint = (ti: number): PointRecord => {
    const t = threads[ti]!;
    const op = t.ops[t.pc]!;
    const rec: PointRecord = op.point(world);
    trace.push({ thread: t.name, step: t.pc, op: op.step.op, fn: rec.fn, what: rec.what });
    if (op.done) t.pc++;
    return rec;
  };

  /** The footprint of each thread's next point (FOOTPRINT_ALL for a finished one). */
  const footprints = (): Footprint[] => threads.map((t) => t.ops[t.pc]?.footprint(world) ?? FOOTPRINT_ALL);

  /** The sleep set after running `ti` from a node with sleep set `sleep`, where `done` ran first. */
  const sleepAfter = (fps: Footprint[], sleep: number, done: number, ti: number): number => {
    if (!reduce) return 0;
    let out = 0;
    const carried = sleep | done;
    for (let u = 0; u < threads.length; u++) if (carried & (1 << u) && independent(fps[u]!, fps[ti]!)) out |= 1 << u;
    return out;
  };

  const visit = (depth: number, sleep: number): Node => {
    const key = `${hashState()}/${sleep}`;
    const memoed = memo.get(key);
    if (memoed) return memoed;
    const node: Node = { ends: new Map(), best: new Map() };
    if (states >= maxStates) {
      truncated = true;
      return node;
    }
    states++;
    if (opts.onProgress && states - lastProgress >= PROGRESS_EVERY) {
      lastProgress = states;
      opts.onProgress(states, maxStates);
    }
    const en = enabledThreads();
    if (en.length === 0) {
      if (threads.every((t) => t.pc >= t.ops.length)) {
        const mark = trace.length;
        const { idx, broken } = finishEnd(true);
        trace.length = mark;
        node.ends.set(idx, 1);
        for (const [p, msg] of broken) {
          node.best.set(p, { dist: 0, thread: AT_END });
          if (!seenViolations.has(p)) seenViolations.set(p, msg);
        }
      } else {
        node.best.set(DEADLOCK, { dist: 0, thread: AT_END });
        if (!seenViolations.has(DEADLOCK)) seenViolations.set(DEADLOCK, deadlocked());
      }
      memo.set(key, node);
      return node;
    }
    // Sleep sets: a thread asleep here ran first from an ancestor, and nothing it depends on ran since.
    const todo = en.filter((t) => !(sleep & (1 << t)));
    const fps = reduce && todo.length > 0 ? footprints() : [];
    let snap: MachineSnapshot | undefined;
    if (todo.length > 1) snap = snaps[depth] = snapshotMachine(ctx.m, roots, snaps[depth]);
    const mark = trace.length;
    let done = 0;
    todo.forEach((ti, k) => {
      if (k > 0) {
        restoreMachine(ctx.m, snap!);
        trace.length = mark;
      }
      const rec = runPoint(ti);
      if (rec.violation) {
        const p = rec.violation.property;
        if (!seenViolations.has(p)) seenViolations.set(p, rec.violation.message);
        const have = node.best.get(p);
        if (!have || have.dist > 1) node.best.set(p, { dist: 1, thread: ti });
      }
      const child = visit(depth + 1, sleepAfter(fps, sleep, done, ti));
      for (const [e, n] of child.ends) node.ends.set(e, (node.ends.get(e) ?? 0) + n);
      for (const [p, b] of child.best) {
        const have = node.best.get(p);
        if (!have || have.dist > b.dist + 1) node.best.set(p, { dist: b.dist + 1, thread: ti });
      }
      done |= 1 << ti;
    });
    trace.length = mark;
    memo.set(key, node);
    return node;
  };

  const rootSnap = snapshotMachine(ctx.m, roots);
  const root = visit(0, 0);
  let interleavings = 0;
  for (const [e, n] of root.ends) {
    ends[e]!.interleavings += n;
    interleavings += n;
  }
  const seconds = (performance.now() - t0) / 1000;

  /**
   * The shortest interleaving that violates `property`: replayed from the start along the choices the
   * search recorded, with the pages after every point.
   */
  const shortest = (property: string): Violation => {
    restoreMachine(ctx.m, rootSnap);
    trace.length = 0;
    const steps: TraceStep[] = [];
    let sleep = 0;
    let message = seenViolations.get(property) ?? '';
    for (;;) {
      const node = memo.get(`${hashState()}/${sleep}`);
      const b = node?.best.get(property);
      if (!b) break; // cut by --max-states: the trace found so far
      if (b.thread === AT_END) {
        if (property === DEADLOCK) message = deadlocked();
        else {
          const { broken } = finishEnd(true);
          message = broken.get(property) ?? message;
          for (const s of trace.slice(steps.length)) steps.push({ ...s, pages: pageLines() });
        }
        break;
      }
      const en = enabledThreads().filter((t) => !(sleep & (1 << t)));
      const fps = reduce ? footprints() : [];
      let done = 0;
      for (const t of en) {
        if (t === b.thread) break;
        done |= 1 << t;
      }
      const rec = runPoint(b.thread);
      steps.push({ ...trace[trace.length - 1]!, pages: pageLines() });
      if (b.dist === 1 && rec.violation?.property === property) {
        message = rec.violation.message;
        break;
      }
      sleep = sleepAfter(fps, sleep, done, b.thread);
    }
    return { property, message, trace: steps, pages: steps[steps.length - 1]?.pages ?? pageLines() };
  };
  const violations = [...seenViolations.keys()].filter((p) => root.best.has(p)).map(shortest);
  return {
    scenario: sc.name ?? opts.name ?? 'scenario',
    without: opts.without ?? [],
    reduction: reduce,
    interleavings,
    states,
    truncated,
    ends,
    violations,
    seconds,
    states_per_second: seconds > 0 ? Math.round(states / seconds) : 0,
  };
}

/** The thread index a node's best path gives when the violation is at that node (its end, or a deadlock). */
const AT_END = -1;
const DEADLOCK = 'no deadlock';
/** Threads are bits of a sleep set. */
const MAX_THREADS = 30;

/** Pages listed per region in a state (a race needs a few; a big region is cut). */
const PAGES_LISTED = 8;
const PROGRESS_EVERY = 2000;

function failureName(s: Step): string {
  if (s.op === 'assert') return s.says ?? `assert ${s.that}`;
  return s.label ? `${s.op} ${s.label}` : s.op;
}
