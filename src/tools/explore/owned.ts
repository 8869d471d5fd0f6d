// The race explorer's ops' own state (no kernel counterpart): a point changes the fields of the op that runs
// it (its phase, cursor, the pages it holds so far), which the journal saves before the point and puts back
// on a step back (journal.ts). The fields are saved in place, recursively through the objects the ops own
// (FastWalk, SlowWalk, plain records): a typed array or an array is copied, anything else (a process, a
// VMA) is kept by reference.
//
// Hundreds of thousands of saves a search, each of a few dozen fields: read by name in a loop, every field
// access would be a dictionary look-up (V8's keyed access to objects of many shapes). So each shape (its
// list of field names) gets a saver and a restorer of its own, compiled once with plain property accesses;
// where code cannot be compiled (a page whose Content-Security-Policy forbids it), the loop does the work.

import { copyList } from '../../mm/snapshot.js';
import type { SavedList } from './saved.js';

/** Objects the explorer's ops own (their fields are saved and put back in place, recursively). */
const OWNED = new Set<unknown>([Object.prototype]);

/** Register a class whose instances ops keep as their own state (FastWalk, SlowWalk...). */
export function ownedByOps(ctor: { prototype: object }): void {
  OWNED.add(ctor.prototype);
}

/** An op's fields that never change (its thread and scenario step). */
const CONSTANT = new Set(['thread', 'step']);

/**
 * The copies of typed arrays and arrays saved at one depth, reused by the next save there when they fit
 * (a copy is never handed to the ops: restoreOwned() copies out of it).
 */
export class Copies {
  list: unknown[] = [];
  n = 0;
  typed(v: Int32Array): Int32Array {
    const old = this.list[this.n];
    if (ArrayBuffer.isView(old) && old.constructor === v.constructor && (old as Int32Array).length === v.length) {
      (old as Int32Array).set(v);
      this.n++;
      return old as Int32Array;
    }
    return (this.list[this.n++] = v.slice());
  }
  array(v: unknown[]): unknown[] {
    const old = this.list[this.n];
    if (Array.isArray(old)) {
      copyList(old, v);
      this.n++;
      return old;
    }
    return (this.list[this.n++] = v.slice());
  }
}

type Obj = Record<string, unknown>;
/** Save an object's fields: each value, then what an object value needs (saveValue()). */
type Saver = (o: Obj, out: SavedList<unknown>, copies: Copies, more: typeof saveValue) => void;
/** Put them back from s[at...]; returns where it ended. */
type Restorer = (o: Obj, s: unknown[], at: number, back: typeof restoreValue) => number;

interface Shape {
  keys: string[];
  save: Saver;
  restore: Restorer;
}

/**
 * Where a shape is kept once found: for an instance of a class, on the class's prototype with the prototype
 * it was found for (a subclass's prototype inherits its parent's entry, not its shape; every instance of a
 * class has the same fields: the compiler targets ES2022, whose class fields the constructor defines, all
 * of them); for a plain record, on the record itself. A symbol-keyed property: a side table's look-up cost
 * more than the save it serves, and ops are made anew for every search. Object.keys() and the machine's
 * snapshots see string keys only.
 */
const SHAPE = Symbol('gupsim.shape');
interface ClassShape {
  proto: object;
  shape: Shape;
}
type Shaped = { [SHAPE]?: Shape | ClassShape };
/** Shapes by their field names: every object with the same fields shares the compiled pair. */
const BY_KEYS = new Map<string, Shape>();

function shapeOf(o: object): Shape {
  const known = (o as Shaped)[SHAPE];
  if (known !== undefined) {
    if (!('proto' in known)) return known;
    if (known.proto === Object.getPrototypeOf(o)) return known.shape;
  }
  const keys = Object.keys(o).filter((x) => !CONSTANT.has(x));
  const id = JSON.stringify(keys); // a key may hold a comma
  let s = BY_KEYS.get(id);
  if (!s) BY_KEYS.set(id, (s = compile(keys)));
  const proto = Object.getPrototypeOf(o) as Shaped | null;
  const at = proto === null || proto === Object.prototype ? (o as Shaped) : proto;
  const value = at === o ? s : { proto: at, shape: s };
  if (Object.isExtensible(at)) Object.defineProperty(at, SHAPE, { value, enumerable: false, writable: true });
  return s;
}

/** The saver and restorer of objects with these fields (the loops below where code cannot be compiled). */
function compile(keys: string[]): Shape {
  const save: string[] = ['let v;'];
  const restore: string[] = ['let r;'];
  for (const k of keys) {
    const f = `o[${JSON.stringify(k)}]`;
    save.push(`v = ${f}; out.a[out.n++] = v; if (v !== null && typeof v === 'object') more(v, out, copies);`);
    restore.push(`r = s[at++]; ${f} = r; if (r !== null && typeof r === 'object') at = back(r, s, at);`);
  }
  restore.push('return at;');
  try {
    return {
      keys,
      save: new Function('o', 'out', 'copies', 'more', save.join('\n')) as Saver,
      restore: new Function('o', 's', 'at', 'back', restore.join('\n')) as Restorer,
    };
  } catch {
    return { keys, save: saveByName, restore: restoreByName };
  }
}

function saveByName(o: Obj, out: SavedList<unknown>, copies: Copies): void {
  for (const k of shapeOf(o).keys) {
    const v = o[k];
    out.push(v);
    if (v !== null && typeof v === 'object') saveValue(v, out, copies);
  }
}

function restoreByName(o: Obj, s: unknown[], at: number): number {
  for (const k of shapeOf(o).keys) {
    const r = s[at++];
    o[k] = r;
    if (r !== null && typeof r === 'object') at = restoreValue(r, s, at);
  }
  return at;
}

/**
 * Save an op-owned object's fields, in its shape's order: each value, followed by a copy of it when it is a
 * typed array or an array, or by the fields of an owned object (restoreOwned() tells which from the value).
 */
export function saveOwned(o: object, out: SavedList<unknown>, copies: Copies): void {
  shapeOf(o).save(o as Obj, out, copies, saveValue);
}

/** Put back what saveOwned() saved, from `at`; returns where it ended. */
export function restoreOwned(o: object, s: unknown[], at: number): number {
  return shapeOf(o).restore(o as Obj, s, at, restoreValue);
}

/** What follows an object value saved: a copy of an array, or an owned object's fields. */
function saveValue(v: object, out: SavedList<unknown>, copies: Copies): void {
  if (ArrayBuffer.isView(v)) out.push(copies.typed(v as Int32Array));
  else if (Array.isArray(v)) out.push(copies.array(v));
  else if (OWNED.has(Object.getPrototypeOf(v))) saveOwned(v, out, copies);
}

/** Put an object value back as saveValue() saved it. */
function restoreValue(r: object, s: unknown[], at: number): number {
  if (ArrayBuffer.isView(r)) (r as Int32Array).set(s[at++] as Int32Array);
  else if (Array.isArray(r)) copyList(r, s[at++] as unknown[]);
  else if (OWNED.has(Object.getPrototypeOf(r))) at = restoreOwned(r, s, at);
  return at;
}
