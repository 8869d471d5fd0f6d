// gupsim's machine snapshots (no kernel counterpart: CRIU and VM snapshots play this part for a real
// machine). A snapshot holds everything that decides what the machine does next:
//   - every page's state: MemMap's pooled ArrayBuffer (and its extra arrays), copied in one memcpy;
//   - every PTE table: the used part of the machine's PteSlab, one memcpy per chunk, and its free list;
//   - the rest, structurally: the object graph reachable from the machine (and any extra roots, such
//     as a scenario's RunContext), each object's own fields, each Map, Set and array's entries and each
//     other typed array's contents; plus the side tables modules keep per machine or per VMA
//     (snapshotSideTable()).
// restore() puts that state back into the same objects, in place: identity is kept, so closures (fd
// release callbacks, exit hooks, MMU notifiers) and anything holding a process, ring or table stay
// valid, and whatever was created after the snapshot is simply no longer reachable. Functions are
// opaque (kept as they are). A snapshot can be restored any number of times; snapshotting into an
// older snapshot of the same machine reuses its buffers.

import { MemMap } from './memmap.js';
import { PteSlab } from './pgtable.js';
import type { Machine } from './machine.js';

/** A module's per-machine table that a snapshot must include. */
const sideTables: WeakMap<object, unknown>[] = [];

/**
 * Include a module-level WeakMap keyed by machine in every snapshot: the machine's entry is saved, and
 * restore() puts it back (or removes it if there was none).
 */
export function snapshotSideTable<V>(table: WeakMap<Machine, V>): void {
  sideTables.push(table as unknown as WeakMap<object, unknown>);
}

const OBJ = 0;
const ARR = 1;
const MAP = 2;
const SET = 3;
const TYPED = 4;
/** Not saved: the pooled page state and slab (copied whole), buffers, weak collections, promises. */
const SKIP = 5;

/** What each prototype's objects are (OBJ, ARR...), found once per prototype. */
const kindByProto = new Map<object | null, number>();

function kindOf(o: object): number {
  const proto = Object.getPrototypeOf(o) as object | null;
  let k = kindByProto.get(proto);
  if (k === undefined) {
    // MemMap is walked for its own fields (its Sets of mlocked and fs-private folios...); its per-page
    // arrays are the pool's views and its extras are copied with the pages (both left out below).
    if (o instanceof PteSlab) k = SKIP;
    else if (ArrayBuffer.isView(o)) k = o instanceof DataView ? SKIP : TYPED;
    else if (Array.isArray(o)) k = ARR;
    else if (o instanceof Map) k = MAP;
    else if (o instanceof Set) k = SET;
    else if (o instanceof ArrayBuffer || o instanceof WeakMap || o instanceof WeakSet || o instanceof Promise) k = SKIP;
    else {
      // An object's fields are walked by for-in, which also yields enumerable inherited ones: none may be.
      for (const key in Object.create(proto) as object)
        throw new Error(`gupsim bug: a snapshot met an object whose prototype has an enumerable field (${key})`);
      k = OBJ;
    }
    kindByProto.set(proto, k);
  }
  return k;
}

/**
 * The walk's marks: object -> the number of the walk that reached it. Kept from walk to walk, so that
 * marking an object is mostly an update, not an insertion into a table a clear() has just emptied (which
 * cost half of a snapshot); weak, so objects no longer reachable leave it.
 */
let marks = new WeakMap<object, number>();
let walk = 0;
/** The walk's stack (never shrunk: it keeps its store from walk to walk) and its top. */
const stack: object[] = [];
let sp = 0;

/** Push v if it is an object the walk has not reached. */
function reach(v: unknown): void {
  if (v !== null && typeof v === 'object' && marks.get(v) !== walk) stack[sp++] = v;
}

/** The entries of the Map or Set being saved go here (callbacks made once, not per Map). */
let entryKeys: unknown[] = [];
let entryVals: unknown[] = [];
let entryN = 0;
function takeMapEntry(v: unknown, k: unknown): void {
  entryKeys[entryN] = k;
  entryVals[entryN++] = v;
  reach(k);
  reach(v);
}
function takeSetEntry(v: unknown): void {
  entryVals[entryN++] = v;
  reach(v);
}

type Typed = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float64Array;

export class MachineSnapshot {
  /** The machine it was taken of: it can only be restored there. */
  readonly machine: Machine;
  /**
   * Whether it holds the page state and page tables (false: the object graph only, for a caller that
   * keeps those itself, as the race explorer's journal does: tools/explore/journal.ts).
   */
  pages = true;
  /** A copy of MemMap.pool. */
  pool: Uint8Array;
  /** Copies of MemMap's extra arrays at the time. */
  readonly extras = new Map<string, Uint32Array>();
  /** The PTE slab's words below its high-water mark, its high-water mark and free list. */
  slab: Uint32Array;
  slabUsed = 0;
  slabFree: number[] = [];
  /** Every object reached, what it is, and its saved fields or entries. */
  objs: object[] = [];
  kinds: Uint8Array = new Uint8Array(64);
  data: unknown[] = [];
  /** The lists of the snapshot before last taken into this one (reused by the next: no garbage). */
  spareObjs: object[] = [];
  spareKinds: Uint8Array = new Uint8Array(64);
  spareData: unknown[] = [];
  /** Side-table entries: table index, key, value. */
  readonly side: [number, object, unknown][] = [];

  constructor(m: Machine) {
    this.machine = m;
    // Sized by the first snapshot that holds pages (one of the object graph alone never needs it).
    this.pool = new Uint8Array(0);
    this.slab = new Uint32Array(0);
  }

  /** Words of the slab copy in use. */
  slabWords = 0;

  /** Bytes of page state and page tables it holds (what the memcpy part copies). */
  get bytes(): number {
    let n = this.pool.byteLength + this.slabWords * 4;
    for (const a of this.extras.values()) n += a.byteLength;
    return n;
  }
}

/** Copy a typed array's contents into `into` when it fits (a reused snapshot), else a new copy. */
function copyTyped(t: Typed, into: unknown): Typed {
  if (into !== undefined && (into as Typed).constructor === t.constructor && (into as Typed).length === t.length) {
    (into as Typed).set(t);
    return into as Typed;
  }
  return t.slice();
}

/**
 * Take a snapshot of `m`, with `roots` (objects outside the machine whose state goes with it, such as
 * a RunContext) reached too. `into`: an earlier snapshot of the same machine to overwrite (its buffers
 * are reused). `constants`: objects the caller knows never change (nor does anything they reach), such
 * as the scenario: not walked.
 */
export function snapshotMachine(
  m: Machine,
  roots: readonly object[] = [],
  into?: MachineSnapshot,
  pages = true,
  constants?: WeakSet<object>,
): MachineSnapshot {
  if (into && into.machine !== m) throw new Error('gupsim bug: snapshotting into a snapshot of another machine');
  const s = into ?? new MachineSnapshot(m);
  s.pages = pages;
  const mem = m.mem;
  const slab = m.pteSlab;
  if (pages) {
    // Page state: one memcpy of the pool, one per extra array.
    if (s.pool.byteLength !== mem.pool.byteLength) s.pool = new Uint8Array(mem.pool.byteLength);
    s.pool.set(new Uint8Array(mem.pool));
    for (const [name, a] of mem.extras) {
      const have = s.extras.get(name);
      if (have) have.set(a);
      else s.extras.set(name, a.slice());
    }
    for (const name of s.extras.keys()) if (!mem.extras.has(name)) s.extras.delete(name);
    // Page tables: the used part of the slab.
    const words = slab.usedWords();
    if (s.slab.length < words) s.slab = new Uint32Array(Math.max(words, Math.ceil(s.slab.length * 1.5)));
    slab.copyOut(s.slab, words);
    s.slabWords = words;
  }
  // The slab's allocation state goes with the object graph.
  s.slabUsed = slab.used;
  s.slabFree = slab.free.slice();
  // Everything else: the object graph, field by field. An object found at the same place as in the
  // snapshot taken into `s` before (the usual case: the graph keeps its shape) reuses that one's arrays.
  const oldObjs = s.objs;
  const oldData = s.data;
  const oldKinds = s.kinds;
  const oldN = oldObjs.length;
  const objs = (s.objs = s.spareObjs);
  const data = (s.data = s.spareData);
  s.kinds = s.spareKinds;
  s.spareObjs = oldObjs;
  s.spareData = oldData;
  s.spareKinds = oldKinds;
  let count = 0;
  s.side.length = 0;
  for (let t = 0; t < sideTables.length; t++) {
    const table = sideTables[t]!;
    if (table.has(m)) s.side.push([t, m, table.get(m)]);
  }
  if (walk === 0x3fffffff) {
    marks = new WeakMap();
    walk = 0;
  }
  const w = ++walk;
  sp = 0;
  stack[sp++] = m;
  for (const r of roots) stack[sp++] = r;
  for (const [, , v] of s.side) reach(v);
  // Typed-array copies by object, for one found elsewhere than before (made only if needed).
  let lastCopy: Map<object, unknown> | undefined;
  let shift = 0;
  try {
    while (sp > 0) {
      const o = stack[--sp]!;
      if (marks.get(o) === w) continue;
      marks.set(o, w);
      // The extra arrays are copied with the page state; an array made since a snapshot stays (zeroed).
      if (constants?.has(o) || o === mem.extras) continue;
      const kind = kindOf(o);
      if (kind === SKIP) continue;
      // Not saved, so never looked up in the last snapshot: the pool's and the slab's views, the extra
      // arrays (all copied with the page state), and frozen objects (they cannot change; what they
      // reach can).
      if (kind === TYPED && ((o as Typed).buffer === mem.pool || slab.owns(o as Typed) || isExtra(mem, o as Typed)))
        continue;
      if (kind === OBJ && Object.isFrozen(o)) {
        for (const v of Object.values(o)) reach(v);
        continue;
      }
      const i = count;
      // The object's place in the last snapshot: where the walk found it then, give or take the objects
      // made or dropped since (a new process shifts those after it), found in a small window.
      let j = i + shift;
      if (j < 0 || j >= oldN || oldObjs[j] !== o) {
        j = -1;
        for (let k = Math.max(0, i + shift - 32); k < Math.min(oldN, i + shift + 64); k++)
          if (oldObjs[k] === o) {
            j = k;
            shift = k - i;
            break;
          }
      }
      const prev = j >= 0 && oldKinds[j] === kind ? oldData[j] : undefined;
      let d: unknown;
      switch (kind) {
        case TYPED: {
          let into = prev;
          if (into === undefined && oldN > 0) {
            if (!lastCopy) {
              lastCopy = new Map();
              for (let j = 0; j < oldN; j++) if (oldKinds[j] === TYPED) lastCopy.set(oldObjs[j]!, oldData[j]);
            }
            into = lastCopy.get(o);
          }
          d = copyTyped(o as Typed, into);
          break;
        }
        case ARR: {
          const a = o as unknown[];
          const c = Array.isArray(prev) ? prev : [];
          if (c.length !== a.length) c.length = a.length;
          for (let k = 0; k < a.length; k++) {
            const v = a[k];
            c[k] = v;
            reach(v);
          }
          d = c;
          break;
        }
        case MAP: {
          const kv = (prev as [unknown[], unknown[]] | undefined) ?? [[], []];
          const keys = (entryKeys = kv[0]);
          const vals = (entryVals = kv[1]);
          entryN = 0;
          Map.prototype.forEach.call(o, takeMapEntry);
          const n = entryN;
          if (keys.length !== n) keys.length = vals.length = n;
          d = kv;
          break;
        }
        case SET: {
          const vals = (entryVals = (prev as unknown[] | undefined) ?? []);
          entryN = 0;
          Set.prototype.forEach.call(o, takeSetEntry);
          const n = entryN;
          if (vals.length !== n) vals.length = n;
          d = vals;
          break;
        }
        default: {
          // Into the last snapshot's arrays when there are some: the fresh ones die young (a snapshot kept
          // for a while would otherwise move them all to the old generation). for-in over an object of a
          // class (no enumerable inherited keys) goes by V8's enum cache: no list made per object.
          const kv = (prev as [string[], unknown[]] | undefined) ?? [[], []];
          const keys = kv[0];
          const vals = kv[1];
          let n = 0;
          for (const key in o) {
            const v = (o as Record<string, unknown>)[key];
            if (keys[n] !== key) keys[n] = key;
            vals[n++] = v;
            reach(v);
          }
          if (keys.length !== n) keys.length = vals.length = n;
          d = kv;
        }
      }
      objs[i] = o;
      if (i >= s.kinds.length) {
        const k = new Uint8Array(s.kinds.length * 2);
        k.set(s.kinds);
        s.kinds = k;
      }
      s.kinds[i] = kind;
      data[i] = d;
      count++;
    }
  } finally {
    // Nothing kept alive by the scratch lists past the walk.
    stack.fill(undefined as unknown as object, 0, stack.length);
    sp = 0;
    entryKeys = entryVals = [];
  }
  if (objs.length !== count) objs.length = data.length = count;
  return s;
}

/** Whether t is one of MemMap's extra per-page arrays (a snapshot copies those with the page state). */
function isExtra(mem: MemMap, t: Typed): boolean {
  if (t.length !== mem.nr) return false;
  for (const a of mem.extras.values()) if (a === t) return true;
  return false;
}

/** Make `to` a copy of from[0..n) (only the entries that differ are written; no length set when right). */
export function copyList<T>(to: T[], from: readonly T[], n = from.length): void {
  if (to.length !== n) to.length = n;
  for (let i = 0; i < n; i++) if (to[i] !== from[i]) to[i] = from[i]!;
}

/**
 * Make Map m hold exactly keys[i] -> vals[i] for i < n, in that order. One that already does is left
 * alone (clearing a Map frees its table, refilling it makes a new one). Map.prototype's own methods: a
 * subclass (the PMD directory) must not act on the change.
 */
export function putMapEntries(
  m: Map<unknown, unknown>,
  keys: readonly unknown[],
  vals: readonly unknown[],
  n = keys.length,
): void {
  const size = m.size; // no subclass overrides the getter
  if (size === 0 && n === 0) return;
  if (size === n) {
    // forEach with a shared callback: an iterator would allocate an entry per element.
    cmpKeys = keys;
    cmpVals = vals;
    cmpAt = 0;
    cmpSame = true;
    Map.prototype.forEach.call(m, sameEntry);
    cmpKeys = cmpVals = EMPTY;
    if (cmpSame) return;
  }
  Map.prototype.clear.call(m);
  for (let i = 0; i < n; i++) Map.prototype.set.call(m, keys[i], vals[i]);
}

/** Make Set s hold exactly vals[i] for i < n, in that order (one that already does is left alone). */
export function putSetValues(s: Set<unknown>, vals: readonly unknown[], n = vals.length): void {
  const size = s.size;
  if (size === 0 && n === 0) return;
  if (size === n) {
    cmpVals = vals;
    cmpAt = 0;
    cmpSame = true;
    Set.prototype.forEach.call(s, sameValue);
    cmpVals = EMPTY;
    if (cmpSame) return;
  }
  Set.prototype.clear.call(s);
  for (let i = 0; i < n; i++) Set.prototype.add.call(s, vals[i]);
}

/** The compare putMapEntries() and putSetValues() run (module state: no closure per call). */
const EMPTY: readonly unknown[] = [];
let cmpKeys: readonly unknown[] = EMPTY;
let cmpVals: readonly unknown[] = EMPTY;
let cmpAt = 0;
let cmpSame = true;
function sameEntry(v: unknown, k: unknown): void {
  if (k !== cmpKeys[cmpAt] || v !== cmpVals[cmpAt]) cmpSame = false;
  cmpAt++;
}
function sameValue(v: unknown): void {
  if (v !== cmpVals[cmpAt]) cmpSame = false;
  cmpAt++;
}

/** Put the machine (and the roots snapshotted with it) back into the state of `s`. */
export function restoreMachine(m: Machine, s: MachineSnapshot): void {
  if (s.machine !== m) throw new Error('gupsim bug: restoring a snapshot of another machine');
  const mem = m.mem;
  const slab = m.pteSlab;
  if (s.pages) {
    new Uint8Array(mem.pool).set(s.pool);
    for (const [name, a] of mem.extras) {
      const saved = s.extras.get(name);
      if (saved) a.set(saved);
      else a.fill(0); // allocated since: as it was before its first use
    }
    slab.copyIn(s.slab, s.slabWords);
  }
  slab.used = s.slabUsed;
  slab.free = s.slabFree.slice();
  // Side tables first: the machine's entries go back to what they were, entries made since are dropped.
  for (const table of sideTables) table.delete(m);
  for (const [t, o, v] of s.side) sideTables[t]!.set(o, v);
  const objs = s.objs;
  for (let i = 0; i < objs.length; i++) {
    const o = objs[i]!;
    const d = s.data[i];
    switch (s.kinds[i]) {
      case TYPED:
        (o as Typed).set(d as Typed);
        break;
      case ARR: {
        const a = o as unknown[];
        const v = d as unknown[];
        if (a.length !== v.length) a.length = v.length;
        for (let k = 0; k < v.length; k++) a[k] = v[k];
        break;
      }
      case MAP: {
        const [keys, vals] = d as [unknown[], unknown[]];
        putMapEntries(o as Map<unknown, unknown>, keys, vals);
        break;
      }
      case SET: {
        putSetValues(o as Set<unknown>, d as unknown[]);
        break;
      }
      default: {
        const [keys, vals] = d as [string[], unknown[]];
        const rec = o as Record<string, unknown>;
        // Only the fields that changed are stored (most have not). The usual case, the same keys in the
        // same order, by for-in (V8's enum cache: no list made per object).
        let n = 0;
        for (const key in rec) {
          if (keys[n] !== key) {
            n = -1;
            break;
          }
          if (rec[key] !== vals[n]) rec[key] = vals[n];
          n++;
        }
        if (n !== keys.length) {
          for (const k of Object.keys(rec)) if (!keys.includes(k)) delete rec[k];
          for (let k = 0; k < keys.length; k++) if (rec[keys[k]!] !== vals[k]) rec[keys[k]!] = vals[k];
        }
      }
    }
  }
}
