// Sizes in scenario files: a byte count, or a number with a binary suffix (K, M, G, T, KiB, MiB,
// GiB, TiB, KB, MB, GB: all powers of two, as in the kernel's memparse()).

const UNITS: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** Parse a size; returns undefined when the text is not one. */
export function parseSize(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const mt = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$/.exec(v);
  if (!mt) return undefined;
  const n = Number(mt[1]) * UNITS[mt[2]!.toLowerCase()]!;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Render bytes with the largest exact binary unit: 2097152 -> "2MiB". */
export function formatSize(n: number): string {
  for (const [u, f] of [
    ['TiB', 2 ** 40],
    ['GiB', 2 ** 30],
    ['MiB', 2 ** 20],
    ['KiB', 2 ** 10],
  ] as const) {
    if (n >= f && n % f === 0) return `${n / f}${u}`;
  }
  return `${n}B`;
}
