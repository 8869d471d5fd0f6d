// Helpers the tests of scenario loading share: every scenario file of the repository, and an equality
// strict enough to tell two parsers' outputs apart.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Equal as values and in shape: the same keys in the same order, undefined members, NaN, -0. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (Array.isArray(a)) {
    const y = b as unknown[];
    return a.length === y.length && a.every((v, i) => i in y === i in a && sameValue(v, y[i]));
  }
  const ka = Reflect.ownKeys(a);
  const kb = Reflect.ownKeys(b);
  const av = a as Record<PropertyKey, unknown>;
  const bv = b as Record<PropertyKey, unknown>;
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameValue(av[k], bv[k]));
}

const root = join(import.meta.dirname, '..');

/** Every scenario file of the repository: examples/ and the shared conformance set (when present). */
export function scenarioCorpus(): Array<{ file: string; text: string }> {
  const dirs = [join(root, 'examples'), join(root, '..', 'shared', 'conformance')];
  return dirs.flatMap((d) => {
    let names: string[];
    try {
      names = readdirSync(d).filter((f) => /\.ya?ml$/.test(f));
    } catch {
      return [];
    }
    return names.sort().map((f) => ({ file: join(d, f), text: readFileSync(join(d, f), 'utf8') }));
  });
}
