// Helpers the tests of scenario loading share: every scenario file of the repository, and an equality
// strict enough to tell two parsers' outputs apart.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

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

/**
 * The scenarios `node ../shared/tools/fuzz-scenarios.mjs count seed` runs: the same mutations of the
 * examples (a step dropped or duplicated, a machine field or a step field set to an edge value or to
 * another step's string), drawn by the same generator, as YAML. Texts only; the tool runs them.
 */
export function fuzzCorpus(count: number, seed: number): Array<{ what: string; text: string }> {
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  const edges: unknown[] = [0, -1, 1, 4095, 4097, 2 ** 31, 2 ** 32 + 7, 2 ** 53, -(2 ** 31), 1e300, 0.5, '1P', '0KiB'];
  edges.push('-4KiB', '3MiB', '1GiB', '', 'x', null, true, [], {});
  type Doc = { steps?: Array<Record<string, unknown>>; machine?: Record<string, unknown> };
  const names = readdirSync(join(root, 'examples')).filter((f) => /\.ya?ml$/.test(f));
  const docs = names.map((f) => parse(readFileSync(join(root, 'examples', f), 'utf8')) as Doc);
  const values = docs.flatMap((d) => (d.steps ?? []).flatMap((st) => Object.values(st)));
  const strings = [...new Set(values.filter((v) => typeof v === 'string'))];
  const out: Array<{ what: string; text: string }> = [];
  for (let i = 0; i < count; i++) {
    const d = structuredClone(pick(docs));
    const steps = d.steps ?? [];
    if (!steps.length) continue;
    const k = Math.floor(rnd() * steps.length);
    const st = steps[k]!;
    const keys = Object.keys(st).filter((x) => x !== 'op');
    const r = rnd();
    let what: string;
    if (r < 0.1) {
      steps.splice(k, 1);
      what = `drop step ${k}`;
    } else if (r < 0.2) {
      steps.splice(k, 0, structuredClone(st));
      what = `duplicate step ${k}`;
    } else if (r < 0.3 && d.machine) {
      const mk = pick(Object.keys(d.machine));
      d.machine[mk] = pick(edges);
      what = `machine.${mk}=${JSON.stringify(d.machine[mk])}`;
    } else if (keys.length) {
      const f = pick(keys);
      st[f] = rnd() < 0.6 ? pick(edges) : pick(strings);
      what = `step ${k} ${String(st.op)}.${f}=${JSON.stringify(st[f])}`;
    } else continue;
    out.push({ what, text: stringify(d) });
  }
  return out;
}
