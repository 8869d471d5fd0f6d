// The race explorer (issue 14; no kernel counterpart): runs every interleaving of the atomic points of a
// scenario's `concurrent` threads (op.ts and the ops it names) and reports every distinct end state and
// every property an interleaving violates, with the shortest interleaving that violates it, step by step.
//
// Search: depth-first over the graph of states (a state: the machine, the locks and every thread's
// progress; state.ts hashes it), going back by the journal (journal.ts), which logs what each point
// changed. A state reached again (with the same
// sleep set) is not explored again: the graph is a DAG, and what is below a state is counted once.
// Partial-order reduction by sleep sets over the dependency relation of footprint.ts: after exploring
// thread t first from a state, t sleeps in the states reached by points independent of t's next point
// (they reach, with t, states already explored); a sleeping thread is not run until a point dependent on
// it wakes it. With the reduction each order of dependent points (a Mazurkiewicz trace) is run once, and
// every state is still reached by an interleaving of the same length, so the end states, the violated
// properties and the shortest violations are those of the full search (a test checks it on the examples).
// After the search, interleavings per end state and the shortest path to each violation are computed
// over the DAG in topological order; the shortest violations are then replayed, point by point, with the
// pages after each point.

import { RunContext } from '../../scenario/context.js';
import type { Scenario, Step, StepOf, ThreadStep } from '../../scenario/schema.js';
import { runScenarioStep } from '../../scenario/run.js';
import { snapshotMachine, restoreMachine } from '../../mm/snapshot.js';
import type { ProtectionName } from '../../mm/protections.js';
import { checkInvariants } from '../invariants.js';
import { Footprint, independent } from './footprint.js';
import { Locks } from './locks.js';
import { AtomicOp, World, journalSafe, nameStepWrites, stepWrites, unmappedStart, type PointRecord } from './op.js';
import { makeOp } from './threads.js';
import { StateHash, type Thread } from './state.js';
import { Journal } from './journal.js';
import { ownedByOps } from './owned.js';
import { FastWalk, SlowWalk } from './gup_points.js';
import { observationKey, observed, pageLines } from './outcome.js';
import { IntTable } from './int_table.js';

/** One point of an interleaving: which thread did what, in which kernel function. */
export interface TraceStep {
  thread: string;
  /** The thread's step (index in the thread) and its op. */
  step: number;
  op: string;
  fn: string;
  what: string;
  /** In a violation's trace: the pages of the regions after this point, one line per run of pages. */
  pages?: string[];
}

/** A property that some interleaving violates, with the shortest interleaving that does. */
export interface Violation {
  property: string;
  message: string;
  trace: TraceStep[];
  /** The pages of the regions at the violation (after the steps that follow the block, for end checks). */
  pages: string[];
}

/** A distinct end state (an outcome): what it looks like and how many interleavings reach it. */
export interface EndState {
  interleavings: number;
  vmstat: { nr_foll_pin_acquired: number; nr_foll_pin_released: number };
  /** Every counter that moved since the scenario began (vmstat deltas, WARNs, misuse records). */
  counters: Record<string, number>;
  /** Each thread step's return value, "thread.step op = ret". */
  returns: string[];
  /** Each region in each live process that maps it, one line per run of pages that look alike. */
  pages: string[];
  /** What each handle holds. */
  handles: string[];
  /** One interleaving that reaches it (empty past ExploreOptions.examples end states). */
  example: TraceStep[];
}

export interface ExploreResult {
  scenario: string;
  /** Protections switched off (--without). */
  without: string[];
  /** Whether the partial-order reduction was on (interleavings then count one per order of dependent points). */
  reduction: boolean;
  interleavings: number;
  /** Distinct states explored. */
  states: number;
  /** The search stopped at --max-states: not every interleaving was run. */
  truncated: boolean;
  ends: EndState[];
  violations: Violation[];
  /** The whole run: the steps before the block, the search, the replays of the traces. */
  seconds: number;
  /** The search alone (what states_per_second is measured over). */
  search_seconds: number;
  states_per_second: number;
}

export interface ExploreOptions {
  maxStates?: number;
  without?: ProtectionName[];
  /** Called now and then with the states explored so far. */
  onProgress?: (states: number, max: number) => void;
  name?: string;
  /** The partial-order reduction (sleep sets); on unless false. */
  reduction?: boolean;
  /** End states that get an example interleaving (default 64). */
  examples?: number;
  /** Check the journal against full snapshots at every point (slow: for tests). */
  verify?: boolean;
  /** Milliseconds, for the timings (default performance.now(); `gupsim bench` passes CPU time). */
  clock?: () => number;
}

// The GUP walks an op keeps are its own state (the journal saves them with the op).
ownedByOps(FastWalk);
ownedByOps(SlowWalk);

/** A node that is not an end: NOT_END; an end state's index otherwise (>= 0). */
const NOT_END = -1;
/** All threads wait on each other. */
const DEADLOCK_NODE = -2;
/** Not explored: --max-states was reached. */
const CUT = -3;
const DEADLOCK = 'no deadlock';
/** Threads are bits of a sleep set. */
const MAX_THREADS = 30;
const PROGRESS_EVERY = 4096;
const NO_EDGE = -1;

/**
 * The footprints of the search's states, per depth and thread, kept from search to search (a search of a
 * small example is a millisecond: new ones for each were a tenth of what it allocated). A search runs to
 * its end before another begins (explore() is synchronous and calls nothing that explores).
 */
const FOOTPRINTS: Footprint[][] = [];
/** The thread run at each depth of the current interleaving (kept likewise; read up to the depth only). */
const PATH = new Uint8Array(1 << 16);

/** A growable Int32Array. */
class IntList {
  a = new Int32Array(1024);
  n = 0;
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
}

/** A node being explored (one per depth, reused): the threads still to run from it, as bits. */
interface Frame {
  node: number;
  depth: number;
  sleep: number;
  todo: number;
  /** Threads explored first from here (they may sleep below). */
  done: number;
}

/** Run every interleaving of the scenario's concurrent blocks (one after the other). */
export function explore(sc: Scenario, opts: ExploreOptions = {}): ExploreResult {
  const clock = opts.clock ?? (() => performance.now());
  const t0 = clock();
  const maxStates = opts.maxStates ?? 1_000_000;
  const reduce = opts.reduction ?? true;
  const maxExamples = opts.examples ?? 64;
  // Several concurrent blocks run one after the other: a block's threads start when every thread of the
  // block before has ended and the steps between have run (one atomic point each, as thread '-').
  const blocks = sc.steps.flatMap((s, i) => (s.op === 'concurrent' ? [i] : []));
  if (blocks.length === 0) throw new RangeError('the scenario has no concurrent step: nothing to explore');
  const at = blocks[0]!;
  const lastBlock = blocks[blocks.length - 1]!;
  const ctx = new RunContext(sc);
  for (const w of opts.without ?? []) ctx.m.protections[w] = false;
  sc.steps.slice(0, at).forEach((s, i) => runScenarioStep(ctx, s, i, []));
  const after = sc.steps.slice(lastBlock + 1);
  ctx.m.warns.step = at;
  ctx.m.misuse.step = at;
  const threads: Thread[] = [];
  blocks.forEach((b, k) => {
    if (k > 0) {
      const prev = blocks[k - 1]!;
      const between = sc.steps.slice(prev + 1, b) as ThreadStep[];
      if (between.length)
        threads.push({
          name: '-',
          ops: between.map((s) => new AtomicOp('-', s)),
          pc: 0,
          stage: 2 * k - 1,
          steps: between.map((_, i) => prev + 1 + i),
        });
    }
    const block = sc.steps[b] as StepOf<'concurrent'>;
    for (const [name, steps] of Object.entries(block.threads))
      threads.push({
        name: k ? `${name}/${k + 1}` : name,
        ops: steps.map((s) => makeOp(name, s)),
        pc: 0,
        stage: 2 * k,
      });
  });
  const T = threads.length;
  if (T > MAX_THREADS) throw new RangeError(`at most ${MAX_THREADS} threads in the concurrent steps`);
  const locks = new Locks();
  const world = new World(ctx, locks);
  world.describe = false;
  const roots: object[] = [ctx, locks, threads];
  const rootSnap = snapshotMachine(ctx.m, roots);
  const journal = new Journal(ctx, locks, threads, roots, opts.verify ?? false);
  const hasher = new StateHash(ctx, locks, threads, journal);

  // --- running points ---------------------------------------------------------------------
  const enabledMask = (): number => {
    // Only the threads of the earliest stage with a thread still running may run.
    let stage = Infinity;
    for (let i = 0; i < T; i++) {
      const t = threads[i]!;
      if (t.pc < t.ops.length && t.stage < stage) stage = t.stage;
    }
    let en = 0;
    for (let i = 0; i < T; i++) {
      const t = threads[i]!;
      const op = t.ops[t.pc];
      if (op && t.stage === stage && !locks.unborn(op.step) && op.enabled(world)) en |= 1 << i;
    }
    return en;
  };
  const allDone = (): boolean => threads.every((t) => t.pc >= t.ops.length);
  const runPoint = (ti: number): PointRecord => {
    const t = threads[ti]!;
    const op = t.ops[t.pc]!;
    const rec = (!op.started && unmappedStart(world, op)) || op.point(world);
    if (op.done) t.pc++;
    return rec;
  };
  /** Run a point forward in the search: the journal records what it changes. */
  // A point whose footprint writes no page state (a lock taken, a seqcount read) needs no page compare.
  const stepFp = new Footprint();
  stepFp.forJournal = true;
  const endFp = new Footprint();
  // `known`: the footprint the reduction found for the point when the search entered this state (the search
  // is back in that state whenever it steps from it), made for the journal too.
  // `tail`: the last point the search runs from this state (the journal's record of the point before serves it).
  const step = (ti: number, known: Footprint | undefined, tail: boolean): PointRecord => {
    const t = threads[ti]!;
    const op = t.ops[t.pc]!;
    const fp = known ?? stepFp;
    if (!known) op.footprint(world, stepFp);
    journal.begin(op.structural(world), fp, ti, tail);
    const rec = runPoint(ti);
    journal.commit(fp);
    return rec;
  };
  const traceStep = (ti: number, rec: PointRecord, pc: number): TraceStep => {
    const t = threads[ti]!;
    return { thread: t.name, step: t.steps?.[pc] ?? pc, op: t.ops[pc]!.step.op, fn: rec.fn, what: rec.what };
  };
  // Each thread step's "thread.step op = ret": the part before the value made once.
  const retOps = threads.flatMap((t) => t.ops);
  const retNames = threads.flatMap((t) => t.ops.map((o, j) => `${t.name}.${t.steps?.[j] ?? j} ${o.step.op} = `));
  const returns = (): string[] => retOps.map((o, k) => retNames[k]! + o.ret);
  const deadlocked = (): string =>
    `threads ${threads
      .filter((t) => t.pc < t.ops.length)
      .map((t) => t.name)
      .join(', ')} wait forever`;

  // --- properties -----------------------------------------------------------------------------
  const props: string[] = [];
  const propIdx = new Map<string, number>();
  const prop = (name: string): number => {
    let i = propIdx.get(name);
    if (i === undefined) {
      propIdx.set(name, (i = props.length));
      props.push(name);
    }
    return i;
  };

  // --- end states -------------------------------------------------------------------------------
  const ends: EndState[] = [];
  const endPaths: Uint8Array[] = [];
  /** End node -> the properties broken there (asserts after the block, the model's invariants). */
  const endBroken = new Map<number, number[]>();

  /** End states by observationKey(); in verify mode, observe()'s key of each number and the number of each key. */
  const endByKey = new Map<number, number>();
  const keyString = new Map<number, string>();
  const keyNumber = new Map<string, number>();

  /**
   * Run the steps after the block and check the invariants (the caller puts the state back). `pages`: the
   * lines of the pages are wanted (a replay); the search compares end states by their key alone.
   */
  const finishEnd = (
    trace: TraceStep[] | undefined,
    pages = false,
  ): { idx: number; broken: Map<string, string>; pages: string[] } => {
    const broken = new Map<string, string>();
    const breaks = (p: string, msg: string) => {
      if (!broken.has(p)) broken.set(p, msg);
    };
    after.forEach((s, i) => {
      const res = runScenarioStep(ctx, s as Step, lastBlock + 1 + i, []);
      if (res.failures?.length) breaks(failureName(s as Step), res.failures.join('; '));
      trace?.push({ thread: '-', step: lastBlock + 1 + i, op: s.op, fn: s.op, what: `ret ${res.ret}` });
    });
    for (const v of checkInvariants(ctx.m)) breaks('model invariants', v);
    const key = observationKey(ctx, retOps);
    let idx = endByKey.get(key);
    if (idx !== undefined && !pages && !opts.verify) return { idx, broken, pages: [] };
    const o = observed(returns(), !!opts.verify);
    if (opts.verify) {
      // The number stands for the string: one number per key, one key per number.
      if ((keyString.get(key) ?? o.key) !== o.key || (keyNumber.get(o.key) ?? key) !== key)
        throw new Error('gupsim bug: the hash of an observation key and the key disagree');
      keyString.set(key, o.key);
      keyNumber.set(o.key, key);
    }
    if (idx === undefined) {
      idx = ends.length;
      endByKey.set(key, idx);
      ends.push({
        interleavings: 0,
        vmstat: {
          nr_foll_pin_acquired: o.counters.nr_foll_pin_acquired ?? 0,
          nr_foll_pin_released: o.counters.nr_foll_pin_released ?? 0,
        },
        counters: o.counters,
        returns: o.returns,
        pages: o.pages,
        handles: o.handles,
        example: [],
      });
    }
    return { idx, broken, pages: o.pages };
  };

  // --- the search -------------------------------------------------------------------------------
  const memo = new IntTable();
  const nodeEnd = new IntList();
  const nodePost = new IntList();
  const eFrom = new IntList();
  const eTo = new IntList();
  const eThread = new IntList();
  const eViol = new IntList();
  const path = PATH;
  // Per depth, a footprint per thread (from the pool: the search sets each before it reads it).
  const fpAt = (depth: number): Footprint[] => {
    const f = (FOOTPRINTS[depth] ??= []);
    while (f.length < T) {
      const fp = new Footprint();
      fp.forJournal = true;
      f.push(fp);
    }
    return f;
  };
  let post = 0;
  let states = 0;
  let truncated = false;
  let lastProgress = 0;
  const frames: Frame[] = [];
  let top = -1;

  const newNode = (kind: number): number => {
    nodeEnd.push(kind);
    nodePost.push(-1);
    return nodeEnd.n - 1;
  };
  const finish = (node: number): void => {
    nodePost.a[node] = post++;
  };

  /**
   * Enter the current state with sleep set `sleep` at `depth`: its node. A frame is pushed when its
   * successors are to be explored (`pushed`); the caller steps back from a state that pushed none.
   */
  let pushed = false;
  const enter = (sleep: number, depth: number): number => {
    pushed = false;
    const key = hasher.value(sleep);
    const seen = memo.get(key);
    if (seen >= 0) {
      if (nodePost.a[seen] === -1) throw new Error('gupsim bug: the explorer went round a cycle of states');
      return seen;
    }
    if (states >= maxStates) {
      truncated = true;
      const cut = newNode(CUT);
      finish(cut);
      return cut;
    }
    states++;
    if (opts.onProgress && states - lastProgress >= PROGRESS_EVERY) {
      lastProgress = states;
      opts.onProgress(states, maxStates);
    }
    if (depth >= path.length) throw new RangeError(`an interleaving longer than ${path.length} points`);
    const en = enabledMask();
    if (en === 0) {
      const node = newNode(NOT_END);
      memo.set(key, node);
      if (allDone()) {
        // The steps after the block are journalled as one point when each can be (op.ts journalSafe()),
        // with the frames and tables they may write named.
        const safe = after.every((s) => journalSafe(ctx, s));
        if (safe) {
          // What they may write (stepWrites()); anything, when one makes a process.
          let w: number | undefined = 0;
          for (let i = 0; i < after.length && w !== undefined; i++) {
            const sw = stepWrites(ctx, after[i]!);
            w = sw === undefined ? undefined : w | sw;
          }
          if (w === undefined) endFp.any();
          else endFp.set(0, w);
          endFp.namesFrames();
          endFp.namesTables();
          for (const s of after) nameStepWrites(ctx, s, endFp, false);
        }
        journal.begin(!safe, endFp);
        const { idx, broken } = finishEnd(undefined);
        journal.commit(safe ? endFp : undefined);
        journal.undo();
        nodeEnd.a[node] = idx;
        if (idx === ends.length - 1 && endPaths.length <= idx) endPaths.push(path.slice(0, depth));
        if (broken.size) endBroken.set(node, [...broken.keys()].map(prop));
        for (const [p, msg] of broken) if (!messages.has(p)) messages.set(p, msg);
      } else {
        nodeEnd.a[node] = DEADLOCK_NODE;
        prop(DEADLOCK);
      }
      finish(node);
      return node;
    }
    const node = newNode(NOT_END);
    memo.set(key, node);
    const todo = en & ~sleep;
    if (todo === 0) {
      finish(node); // every enabled thread sleeps: what follows was explored from elsewhere
      return node;
    }
    if (reduce) {
      const f = fpAt(depth);
      for (let i = 0; i < T; i++) {
        const t = threads[i]!;
        const op = t.ops[t.pc];
        if (op && en & (1 << i)) op.footprint(world, f[i]!);
        else f[i]!.any();
      }
    }
    const f = (frames[++top] ??= { node: 0, depth: 0, sleep: 0, todo: 0, done: 0 });
    f.node = node;
    f.depth = depth;
    f.sleep = sleep;
    f.todo = todo;
    f.done = 0;
    pushed = true;
    return node;
  };

  /** The sleep set after running ti from a frame (its sleeping threads and those explored before ti). */
  const sleepAfter = (f: Frame, ti: number): number => {
    if (!reduce) return 0;
    const fp = fpAt(f.depth);
    const carried = f.sleep | f.done;
    let out = 0;
    for (let u = 0; u < T; u++) if (carried & (1 << u) && independent(fp[u]!, fp[ti]!)) out |= 1 << u;
    return out;
  };

  const messages = new Map<string, string>();
  const tSearch = clock();
  const root = enter(0, 0);
  while (top >= 0) {
    const f = frames[top]!;
    if (f.todo === 0) {
      top--;
      finish(f.node);
      if (f.depth > 0) journal.undo(); // back over the point that led here
      continue;
    }
    const ti = 31 - Math.clz32(f.todo & -f.todo);
    const childSleep = sleepAfter(f, ti);
    f.todo &= f.todo - 1;
    f.done |= 1 << ti;
    path[f.depth] = ti;
    const rec = step(ti, reduce ? fpAt(f.depth)[ti] : undefined, f.todo === 0);
    let viol = NO_EDGE;
    if (rec.violation) {
      viol = prop(rec.violation.property);
      if (!messages.has(rec.violation.property)) messages.set(rec.violation.property, rec.violation.message);
    }
    const child = enter(childSleep, f.depth + 1);
    if (!pushed) journal.undo();
    eFrom.push(f.node);
    eTo.push(child);
    eThread.push(ti);
    eViol.push(viol);
  }
  const searchSeconds = (clock() - tSearch) / 1000;
  journal.close();

  // --- counting over the DAG, in topological order (reverse postorder) --------------------------
  const N = nodeEnd.n;
  const E = eFrom.n;
  const order = new Int32Array(N);
  for (let v = 0; v < N; v++) order[N - 1 - nodePost.a[v]!] = v;
  const firstOut = new Int32Array(N + 1);
  for (let e = 0; e < E; e++) firstOut[eFrom.a[e]! + 1]!++;
  for (let v = 0; v < N; v++) firstOut[v + 1]! += firstOut[v]!;
  const outEdges = new Int32Array(E);
  const fill = firstOut.slice(0, N);
  for (let e = 0; e < E; e++) outEdges[fill[eFrom.a[e]!]!++] = e;
  const paths = new Float64Array(N);
  const dist = new Int32Array(N).fill(0x7fffffff);
  const viaEdge = new Int32Array(N).fill(NO_EDGE);
  paths[root] = 1;
  dist[root] = 0;
  for (let k = 0; k < N; k++) {
    const v = order[k]!;
    for (let x = firstOut[v]!; x < firstOut[v + 1]!; x++) {
      const e = outEdges[x]!;
      const to = eTo.a[e]!;
      paths[to]! += paths[v]!;
      if (dist[v]! + 1 < dist[to]!) {
        dist[to] = dist[v]! + 1;
        viaEdge[to] = e;
      }
    }
  }
  let interleavings = 0;
  for (let v = 0; v < N; v++) {
    const idx = nodeEnd.a[v]!;
    if (idx >= 0) {
      ends[idx]!.interleavings += paths[v]!;
      interleavings += paths[v]!;
    }
  }

  // --- the shortest violation of each property ---------------------------------------------------
  /** The threads run from the root to node v along the shortest path. */
  const pathTo = (v: number): number[] => {
    const out: number[] = [];
    for (let e = viaEdge[v]!; e !== NO_EDGE; e = viaEdge[eFrom.a[e]!]!) out.push(eThread.a[e]!);
    return out.reverse();
  };
  const best = props.map(() => ({ len: Infinity, path: [] as number[], atEnd: false }));
  for (let e = 0; e < E; e++) {
    const p = eViol.a[e]!;
    if (p === NO_EDGE) continue;
    const from = eFrom.a[e]!;
    const len = dist[from]! + 1;
    if (len < best[p]!.len) best[p] = { len, path: [...pathTo(from), eThread.a[e]!], atEnd: false };
  }
  for (let v = 0; v < N; v++) {
    const kind = nodeEnd.a[v]!;
    const broken = kind === DEADLOCK_NODE ? [propIdx.get(DEADLOCK)!] : (endBroken.get(v) ?? []);
    for (const p of broken) if (dist[v]! < best[p]!.len) best[p] = { len: dist[v]!, path: pathTo(v), atEnd: true };
  }

  /** Replay an interleaving from the start, describing each point, with the pages after each. */
  const replay = (choices: ArrayLike<number>, withPages: boolean): { trace: TraceStep[]; last?: PointRecord } => {
    restoreMachine(ctx.m, rootSnap);
    world.describe = true;
    const trace: TraceStep[] = [];
    let last: PointRecord | undefined;
    for (let i = 0; i < choices.length; i++) {
      const ti = choices[i]!;
      const pc = threads[ti]!.pc;
      last = runPoint(ti);
      const s = traceStep(ti, last, pc);
      if (withPages) s.pages = pageLines(ctx);
      trace.push(s);
    }
    world.describe = false;
    return last ? { trace, last } : { trace };
  };
  const violations: Violation[] = [];
  props.forEach((name, p) => {
    const b = best[p]!;
    if (b.len === Infinity) return;
    const { trace, last } = replay(b.path, true);
    let message = messages.get(name) ?? '';
    let pages = trace[trace.length - 1]?.pages ?? pageLines(ctx);
    if (name === DEADLOCK) message = deadlocked();
    else if (b.atEnd) {
      const mark = trace.length;
      const r = finishEnd(trace, true);
      message = r.broken.get(name) ?? message;
      pages = r.pages;
      for (let i = mark; i < trace.length; i++) trace[i]!.pages = r.pages;
    } else if (last?.violation?.property === name) message = last.violation.message;
    violations.push({ property: name, message, trace, pages });
  });
  ends.forEach((e, i) => {
    if (i >= maxExamples || !endPaths[i]) return;
    const { trace } = replay(endPaths[i]!, false);
    finishEnd(trace);
    e.example = trace;
  });
  restoreMachine(ctx.m, rootSnap);
  const seconds = (clock() - t0) / 1000;
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
    search_seconds: searchSeconds,
    states_per_second: searchSeconds > 0 ? Math.round(states / searchSeconds) : 0,
  };
}

function failureName(s: Step): string {
  if (s.op === 'assert') return s.says ?? `assert ${s.that}`;
  return s.label ? `${s.op} ${s.label}` : s.op;
}
