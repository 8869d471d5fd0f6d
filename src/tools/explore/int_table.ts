// The race explorer's tables of integers by a non-negative key up to 2^52 (no kernel counterpart): the states
// it has entered (state hash -> search node), and the LRU batches' references by folio at an end state
// (outcome.ts). A search enters up to a million states; a Map keyed by 52-bit hashes (not small integers)
// boxes every key and rehashes as it grows, which cost more than the look-ups. Open addressing over two
// typed arrays allocates only when the table doubles.

/** A key none takes (StateHash.value() and folio numbers are never negative). */
const EMPTY = -1;

export class IntTable {
  private keys = new Float64Array(1024).fill(EMPTY);
  private nodes = new Int32Array(1024);
  private mask = 1023;
  private n = 0;

  /** The value under `key`; -1 if none. */
  get(key: number): number {
    const keys = this.keys;
    for (let i = slot(key) & this.mask; ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) return this.nodes[i]!;
      if (k === EMPTY) return -1;
    }
  }

  /** Record the value of a key not in the table. */
  set(key: number, value: number): void {
    if (2 * (this.n + 1) > this.keys.length) this.grow();
    this.put(key, value);
    this.n++;
  }

  /** Add `by` to the value under `key` (a key not in the table starts from 0). */
  add(key: number, by: number): void {
    const keys = this.keys;
    for (let i = slot(key) & this.mask; ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) {
        this.nodes[i] = this.nodes[i]! + by;
        return;
      }
      if (k === EMPTY) return this.set(key, by);
    }
  }

  /** Empty the table (its size stays). */
  clear(): void {
    if (this.n === 0) return;
    this.keys.fill(EMPTY);
    this.n = 0;
  }

  get size(): number {
    return this.n;
  }

  private put(key: number, node: number): void {
    const keys = this.keys;
    let i = slot(key) & this.mask;
    while (keys[i] !== EMPTY) i = (i + 1) & this.mask;
    keys[i] = key;
    this.nodes[i] = node;
  }

  private grow(): void {
    const { keys, nodes } = this;
    this.keys = new Float64Array(2 * keys.length).fill(EMPTY);
    this.nodes = new Int32Array(2 * keys.length);
    this.mask = this.keys.length - 1;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== EMPTY) this.put(keys[i]!, nodes[i]!);
  }
}

/** A slot from a 52-bit hash: its low 20 bits mixed with the high 32 (a table may outgrow 2^20 slots). */
function slot(key: number): number {
  const hi = Math.floor(key / 1048576);
  return (key - hi * 1048576) ^ Math.imul(hi, 0x9e3779b1);
}
