// Saved copies of the machine's small collections for the race explorer's journal (no kernel counterpart).
// The journal saves them before every point and puts them back on every step back, hundreds of thousands
// of times a search: each copy keeps its arrays (it never shrinks them, so V8 never reallocates their
// store), and a collection that is still as saved is left alone on restore (clearing a Map or Set frees
// its table, refilling it allocates a new one). Maps and Sets go through Map.prototype / Set.prototype's
// own methods, so a subclass (the PMD directory) cannot act on the change.

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
  /** Put the saved values back into `to` (an array of the machine's), if they differ. */
  restoreInto(to: T[]): void {
    const n = this.n;
    const a = this.a;
    if (to.length === n) {
      let i = 0;
      while (i < n && to[i] === a[i]) i++;
      if (i === n) return;
    }
    to.length = n;
    for (let i = 0; i < n; i++) to[i] = a[i]!;
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
    Map.prototype.forEach.call(m, this.take as (v: unknown, k: unknown) => void);
  }
  /** Whether `m` holds exactly the saved entries, in the saved order. */
  private same(m: Map<K, V>): boolean {
    if (m.size !== this.n) return false;
    let i = 0;
    for (const [k, v] of Map.prototype.entries.call(m) as IterableIterator<[K, V]>) {
      if (k !== this.keys[i] || v !== this.vals[i]) return false;
      i++;
    }
    return true;
  }
  restore(m: Map<K, V>): void {
    if (this.same(m)) return;
    Map.prototype.clear.call(m);
    for (let i = 0; i < this.n; i++) Map.prototype.set.call(m, this.keys[i], this.vals[i]);
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
    Set.prototype.forEach.call(s, this.take as (v: unknown) => void);
  }
  restore(s: Set<T>): void {
    if (s.size === this.n) {
      let i = 0;
      for (const v of s) {
        if (v !== this.vals[i]) break;
        i++;
      }
      if (i === this.n) return;
    }
    Set.prototype.clear.call(s);
    for (let i = 0; i < this.n; i++) Set.prototype.add.call(s, this.vals[i]);
  }
}
