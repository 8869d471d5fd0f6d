// Saved copies of the machine's small collections for the race explorer's journal (no kernel counterpart).
// The journal saves them before every point and puts them back on every step back, hundreds of thousands
// of times a search: each copy keeps its arrays (it never shrinks them, so V8 never reallocates their
// store), and a collection that is still as saved is left alone on restore (clearing a Map or Set frees
// its table, refilling it allocates a new one: mm/snapshot.ts's putMapEntries() and putSetValues()).

import { copyList, putMapEntries, putSetValues } from '../../mm/snapshot.js';

/** A list of values kept in a reused array: `n` of them are live. */
export class SavedList<T> {
  a: T[] = [];
  n = 0;
  reset(): void {
    this.n = 0;
  }
  push(v: T): void {
    this.a[this.n++] = v;
  }
  /** Copy `from` in. */
  copy(from: readonly T[]): void {
    this.n = 0;
    for (let i = 0; i < from.length; i++) this.a[this.n++] = from[i]!;
  }
  /** Put the saved values back into `to` (an array of the machine's): only those that differ. */
  restoreInto(to: T[]): void {
    copyList(to, this.a, this.n);
  }
}

/** A Map's entries, in its order. */
export class SavedMap<K, V> {
  private readonly keys: K[] = [];
  private readonly vals: V[] = [];
  private n = 0;
  private readonly take = (v: V, k: K): void => {
    this.keys[this.n] = k;
    this.vals[this.n++] = v;
  };
  save(m: Map<K, V>): void {
    this.n = 0;
    // Most are empty (the locks no thread holds, the misuse records of a sound run): no call into forEach.
    if (m.size === 0) return;
    Map.prototype.forEach.call(m, this.take as (v: unknown, k: unknown) => void);
  }
  restore(m: Map<K, V>): void {
    putMapEntries(m as Map<unknown, unknown>, this.keys, this.vals, this.n);
  }
}

/** A Set's values, in its order. */
export class SavedSet<T> {
  private readonly vals: T[] = [];
  private n = 0;
  private readonly take = (v: T): void => {
    this.vals[this.n++] = v;
  };
  save(s: Set<T>): void {
    this.n = 0;
    if (s.size === 0) return;
    Set.prototype.forEach.call(s, this.take as (v: unknown) => void);
  }
  restore(s: Set<T>): void {
    putSetValues(s as Set<unknown>, this.vals, this.n);
  }
}
