import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadScenario } from './load.js';
import { executeScenario } from './run.js';
import { inspectPage, type PageInfo } from './inspect.js';
import type { RunContext } from './context.js';
import {
  classifyRegion,
  countStates,
  stateRuns,
  PageState,
  PAGE_FOLIO_HEAD,
  PAGE_LARGE,
  PAGE_PMD_MAPPED,
  PAGE_WRITABLE,
  type RegionMap,
} from './pagemap.js';
import { PAGE_SIZE } from '../mm/memmap.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

/** What inspect says a page's map state must be (pins unknown: no ledger given). */
function expectedState(info: PageInfo): number {
  if (!info.present) return PageState.NOT_PRESENT;
  if (info.zero_page) return info.order ? PageState.HUGE_ZERO : PageState.ZERO;
  if (info.maybe_dma_pinned) return PageState.PINNED;
  if (info.anon_exclusive) return PageState.ANON_EXCLUSIVE;
  return -1; // anon shared or page cache: inspect has no field that tells them apart
}

const SHARED_OR_CACHE: number[] = [
  PageState.ANON_SHARED,
  PageState.CACHE_CLEAN,
  PageState.CACHE_DIRTY,
  PageState.CACHE_WRITEBACK,
];

/**
 * Every page of every region, in every live process, against `inspect`: the disagreements, in words
 * (collected rather than asserted one by one, which would cost more than the model).
 */
function disagreements(ctx: RunContext, where: string, out: string[]): number {
  let checked = 0;
  for (const p of ctx.m.processes.values()) {
    for (const r of ctx.regions.values()) {
      const n = r.len / PAGE_SIZE;
      const map = classifyRegion(ctx.m, p, r.addr, n);
      for (let i = 0; i < n; i++) {
        const info = inspectPage(ctx.m, p, r.addr + i * PAGE_SIZE, i);
        const s = map.state[i]!;
        const b = map.bits[i]!;
        const bad = (what: string) => out.push(`${where}: ${p.name} ${r.name} page ${i}: ${what}`);
        checked++;
        if (s === PageState.PFNMAP) {
          if (!info.present) bad('PFN map but inspect says not present');
          continue;
        }
        const want = expectedState(info);
        if (want >= 0 ? s !== want : !SHARED_OR_CACHE.includes(s)) bad(`state ${s}, inspect ${JSON.stringify(info)}`);
        if (!info.present) continue;
        const order = info.order!;
        if (map.pfn[i] !== info.pfn) bad(`pfn ${map.pfn[i]} vs ${info.pfn}`);
        if (((b & PAGE_LARGE) !== 0) !== order > 0) bad('large bit');
        if (((b & PAGE_FOLIO_HEAD) !== 0) !== (order > 0 && info.pfn! % (1 << order) === 0)) bad('head bit');
        if (((b & PAGE_PMD_MAPPED) !== 0) !== (info.mapped_by !== 'pte')) bad('PMD bit');
        if (((b & PAGE_WRITABLE) !== 0) !== info.writable) bad('writable bit');
      }
    }
  }
  return checked;
}

describe('classifyRegion agrees with inspect', () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'));
  it.each(files)('%s, after every step', (file) => {
    const sc = loadScenario(readFileSync(join(EXAMPLES, file), 'utf8'), file);
    let checked = 0;
    const bad: string[] = [];
    executeScenario(sc, {
      onStep: (ctx, res) => {
        checked += disagreements(ctx, `${file} step ${res.index}`, bad);
      },
    });
    expect(bad.slice(0, 10)).toEqual([]);
    expect(checked).toBeGreaterThan(0);
  });
});

function run(text: string): RunContext {
  return executeScenario(loadScenario(text)).ctx;
}

function mapOf(ctx: RunContext, proc: string, region: string, pins?: Map<number, number>): RegionMap {
  const r = ctx.regions.get(region)!;
  return classifyRegion(ctx.m, ctx.m.process(proc)!, r.addr, r.len / PAGE_SIZE, pins ? { pinsByFolio: pins } : {});
}

describe('classifyRegion states', () => {
  it('a fork shares anon pages (COW); a write in the child gives it its own exclusive copy', () => {
    const ctx = run(`machine: { memory: 64MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 16KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: fork, proc: app, child: kid }
  - { op: write, proc: kid, region: buf, pages: 1 }
`);
    // The parent's page stays without PageAnonExclusive until it writes (do_wp_page() reuses it then).
    expect([...mapOf(ctx, 'app', 'buf').state]).toEqual([
      PageState.ANON_SHARED,
      PageState.ANON_SHARED,
      PageState.ANON_SHARED,
      PageState.ANON_SHARED,
    ]);
    expect([...mapOf(ctx, 'kid', 'buf').state]).toEqual([
      PageState.ANON_EXCLUSIVE,
      PageState.ANON_SHARED,
      PageState.ANON_SHARED,
      PageState.ANON_SHARED,
    ]);
  });

  it('the zero page, then a pinned write fault; 1023 references are a false positive only with a ledger', () => {
    const ctx = run(`machine: { memory: 64MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - { op: read, proc: app, region: buf }
  - { op: pin_user_pages_fast, proc: app, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
  - { op: write, proc: app, region: buf, offset: 4KiB }
  - { op: get_user_pages, proc: app, region: buf, offset: 4KiB, pages: 1, as: refs, repeat: 1023 }
`);
    const map = mapOf(ctx, 'app', 'buf');
    expect([...map.state]).toEqual([PageState.PINNED, PageState.PINNED]);
    const pins = new Map([[map.pfn[0]!, 1]]);
    expect([...mapOf(ctx, 'app', 'buf', pins).state]).toEqual([PageState.PINNED, PageState.FALSE_POSITIVE]);
    const read = run(`machine: { memory: 64MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - { op: read, proc: app, region: buf }
`);
    expect([...mapOf(read, 'app', 'buf').state]).toEqual([PageState.ZERO, PageState.ZERO]);
  });

  it('a THP: one folio of 512 pages, PMD-mapped, its head marked, its pin exact', () => {
    const ctx = run(`machine: { memory: 64MiB, thp: always }
steps:
  - { op: mmap, proc: app, as: buf, size: 4MiB, type: anon, align: 2MiB }
  - { op: write, proc: app, region: buf, length: 2MiB }
  - { op: pin_user_pages_fast, proc: app, region: buf, pages: 1, flags: [FOLL_WRITE], as: pin }
`);
    const map = mapOf(ctx, 'app', 'buf');
    const counts = countStates(map);
    expect(counts[PageState.PINNED]).toBe(512);
    expect(counts[PageState.NOT_PRESENT]).toBe(512);
    expect(map.bits[0]! & (PAGE_FOLIO_HEAD | PAGE_PMD_MAPPED | PAGE_LARGE)).toBe(
      PAGE_FOLIO_HEAD | PAGE_PMD_MAPPED | PAGE_LARGE,
    );
    expect(map.bits[1]! & PAGE_FOLIO_HEAD).toBe(0);
    expect(stateRuns(map)).toEqual([
      [0, 512, PageState.PINNED],
      [512, 512, PageState.NOT_PRESENT],
    ]);
  });

  it('page cache of a shared disk-file mapping: clean after a read fault, dirty after a write fault', () => {
    const text = `machine: { memory: 64MiB }
steps:
  - { op: create_file, as: f, size: 64KiB, fs: disk }
  - { op: mmap, proc: app, as: m, size: 64KiB, type: file, file: f, shared: true }
  - { op: read, proc: app, region: m, pages: 1 }
`;
    expect(mapOf(run(text), 'app', 'm').state[0]).toBe(PageState.CACHE_CLEAN);
    const written = run(text + '  - { op: write, proc: app, region: m, pages: 1 }\n');
    expect(mapOf(written, 'app', 'm').state[0]).toBe(PageState.CACHE_DIRTY);
  });

  it('a process that exited maps nothing', () => {
    const ctx = run(`machine: { memory: 64MiB }
steps:
  - { op: mmap, proc: app, as: buf, size: 8KiB, type: anon }
  - { op: write, proc: app, region: buf }
  - { op: exit, proc: app }
`);
    expect([...mapOf(ctx, 'app', 'buf').state]).toEqual([PageState.NOT_PRESENT, PageState.NOT_PRESENT]);
  });
});
