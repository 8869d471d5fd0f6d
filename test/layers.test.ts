// The import graph of src/: every import runs downward through the layers of DESIGN.md, no module
// takes part in a runtime import cycle, and the layers the browser playground runs import no Node API.
// The playground's page loads no model code (its Web Worker runs the model), and the worker loads
// neither the editor nor the validator: each bundle carries only its own half (npm run build:web
// holds the sum to its size budget).

import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SRC = join(import.meta.dirname, '..', 'src');

/** Bottom to top: a module may import its own layer and the layers before it. */
const LAYERS = ['uapi', 'mm', 'kernel', 'consumers', 'scenario', 'probe', 'bench', 'tools', 'web', 'cli'];
/** Layers that run unchanged in a browser (web/ is the playground, which only a browser runs). */
const PORTABLE = new Set(['uapi', 'mm', 'kernel', 'consumers', 'scenario', 'web']);
/** Layers below web/ that it must not import all the same: they drive the host (Node). */
const NOT_FOR_THE_BROWSER = new Set(['probe', 'bench']);

interface Edge {
  to: string;
  typeOnly: boolean;
  line: number;
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Static imports and re-exports of a module, and its bare (package or node:) specifiers. */
export function importsOf(file: string, text: string): { edges: Edge[]; bare: Array<{ spec: string; line: number }> } {
  const edges: Edge[] = [];
  const bare: Array<{ spec: string; line: number }> = [];
  const re = /^(import|export)\s+(type\s+)?([^;]*?)\s*from\s*'([^']+)'/gms;
  for (const m of text.matchAll(re)) {
    const line = text.slice(0, m.index).split('\n').length;
    const spec = m[4]!;
    if (!spec.startsWith('.')) {
      bare.push({ spec, line });
      continue;
    }
    const names = m[3]!;
    const braced = /^\{([^}]*)\}$/.exec(names.trim());
    const allTypes = braced !== null && braced[1]!.split(',').every((n) => !n.trim() || n.trim().startsWith('type '));
    const to = normalize(join(dirname(file), spec.replace(/\.js$/, '.ts')));
    edges.push({ to, typeOnly: m[2] !== undefined || allTypes, line });
  }
  for (const m of text.matchAll(/^import\s+'([^']+)'/gm)) bare.push({ spec: m[1]!, line: 0 });
  return { edges, bare };
}

function layerOf(file: string): string {
  return relative(SRC, file).split('/')[0]!;
}

/** Strongly connected components with more than one module (Tarjan), over runtime edges. */
function cycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(relative(SRC, w));
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

const files = sources(SRC);
const parsed = new Map(files.map((f) => [f, importsOf(f, readFileSync(f, 'utf8'))]));

/**
 * What `entry` loads at run time (type-only imports left out): each module with the module that first
 * imported it (to show the chain), and the packages imported.
 */
function runtimeClosure(entry: string): { from: Map<string, string | undefined>; packages: Set<string> } {
  const from = new Map<string, string | undefined>([[entry, undefined]]);
  const packages = new Set<string>();
  const queue = [entry];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    const p = parsed.get(f);
    if (!p) continue;
    for (const b of p.bare) packages.add(b.spec);
    for (const e of p.edges)
      if (!e.typeOnly && !from.has(e.to)) {
        from.set(e.to, f);
        queue.push(e.to);
      }
  }
  return { from, packages };
}

/** The import chain from the closure's entry to `module`. */
function chain(from: Map<string, string | undefined>, module: string): string {
  const out: string[] = [];
  for (let m: string | undefined = module; m !== undefined; m = from.get(m)) out.unshift(relative(SRC, m));
  return out.join(' -> ');
}

/** The playground's two entries: the page (main.ts) and its worker (worker.ts, loaded by URL). */
const PAGE = join(SRC, 'web', 'main.ts');
const WORKER = join(SRC, 'web', 'worker.ts');
/** The world object: every part of the model needs it, so a module that reaches it brings the model. */
const MODEL = join(SRC, 'mm', 'machine.ts');

describe('the import graph of src/', () => {
  it('every module is in a known layer', () => {
    const unknown = files.filter((f) => !LAYERS.includes(layerOf(f))).map((f) => relative(SRC, f));
    expect(unknown).toEqual([]);
  });

  it('no module imports a layer above its own (type-only imports included)', () => {
    const upward: string[] = [];
    for (const [file, { edges }] of parsed) {
      const from = LAYERS.indexOf(layerOf(file));
      for (const e of edges) {
        const to = LAYERS.indexOf(layerOf(e.to));
        if (to > from) upward.push(`${relative(SRC, file)}:${e.line} imports ${relative(SRC, e.to)}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('no runtime import cycles', () => {
    const graph = new Map<string, string[]>();
    for (const [file, { edges }] of parsed)
      graph.set(
        file,
        edges.filter((e) => !e.typeOnly).map((e) => e.to),
      );
    expect(cycles(graph)).toEqual([]);
  });

  it('the playground (web/) imports no host-side layer (probe/, bench/), not even types', () => {
    const bad: string[] = [];
    for (const [file, { edges }] of parsed)
      if (layerOf(file) === 'web')
        for (const e of edges)
          if (NOT_FOR_THE_BROWSER.has(layerOf(e.to)))
            bad.push(`${relative(SRC, file)}:${e.line} imports ${relative(SRC, e.to)}`);
    expect(bad).toEqual([]);
  });

  it('the layers the browser runs import no Node API', () => {
    const node: string[] = [];
    for (const [file, { bare }] of parsed) {
      if (!PORTABLE.has(layerOf(file))) continue;
      for (const b of bare)
        if (b.spec.startsWith('node:') || ['fs', 'path', 'os', 'child_process'].includes(b.spec))
          node.push(`${relative(SRC, file)} imports ${b.spec}`);
    }
    expect(node).toEqual([]);
  });

  it('the playground page loads no model code at run time (the worker runs the model)', () => {
    const { from } = runtimeClosure(PAGE);
    expect(from.has(join(SRC, 'web', 'app.ts')), 'the closure follows the imports').toBe(true);
    expect(from.has(MODEL) ? chain(from, MODEL) : 'no model').toBe('no model');
    expect(from.has(WORKER)).toBe(false);
  });

  it('the worker loads neither the editor nor the validator (yaml, zod)', () => {
    const { from, packages } = runtimeClosure(WORKER);
    expect(from.has(MODEL), 'the closure follows the imports').toBe(true);
    const page = [...packages].filter((p) => /^(zod|yaml|codemirror|@codemirror\/|@lezer\/)/.test(p));
    expect(page).toEqual([]);
    const views = [...from.keys()]
      .filter((m) => /web\/(app|editor|main|.*_view)\.ts$/.test(m))
      .map((m) => chain(from, m));
    expect(views).toEqual([]);
  });

  it('the checks see a violation when there is one', () => {
    // The parser must not miss multi-line and type-only imports, or the checks above pass vacuously.
    const f = join(SRC, 'mm', 'x.ts');
    const text = [
      'import {',
      '  a,',
      '  b,',
      "} from '../cli/main.js';",
      "import type { T } from '../kernel/fork.js';",
      "import { type U } from './y.js';",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    const { edges, bare } = importsOf(f, text);
    expect(edges.map((e) => [relative(SRC, e.to), e.typeOnly, e.line])).toEqual([
      ['cli/main.ts', false, 1],
      ['kernel/fork.ts', true, 5],
      ['mm/y.ts', true, 6],
    ]);
    expect(bare).toEqual([{ spec: 'node:fs', line: 7 }]);
    const g = new Map([
      ['a', ['b']],
      ['b', ['a']],
      ['c', ['a']],
    ]);
    expect(cycles(g)).toHaveLength(1);
  });
});
