// The compiled CLI as a user runs it (npm test builds dist/ first).
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'gupsim.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root });
const tmp = mkdtempSync(join(tmpdir(), 'gupsim-cli-'));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe('gupsim run', () => {
  it('--json follows the DESIGN.md result contract', () => {
    const r = run('run', 'examples/doc-bias-small-folio.yaml', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      schemaVersion: 1,
      scenario: 'doc-bias-small-folio',
      engine: 'model',
      ok: true,
      pins: [],
      warnings: [],
      misuse: [],
    });
    expect(j.kernel).toMatch(/^model of Linux 6\.18/);
    const pin = j.steps.find((s: { label?: string }) => s.label === 'pin');
    expect(pin).toMatchObject({
      op: 'pin_user_pages',
      ret: 1,
      errno: null,
      vmstat: { nr_foll_pin_acquired: 1, nr_foll_pin_released: 0 },
    });
    const look = j.steps.find((s: { label?: string }) => s.label === 'pinned');
    expect(Object.keys(look.pages[0])).toEqual(
      expect.arrayContaining([
        'pfn',
        'refcount',
        'mapcount',
        'pincount',
        'order',
        'zone',
        'mapped_by',
        'maybe_dma_pinned',
        'anon_exclusive',
        'zero_page',
      ]),
    );
  });
  it('a failed step carries why', () => {
    const r = run('run', 'examples/doc-case2-longterm.yaml', '--json');
    const j = JSON.parse(r.stdout);
    const dax = j.steps.find((s: { label?: string }) => s.label === 'daxpin');
    expect(dax.errno).toBe('EOPNOTSUPP');
    expect(dax.why).toEqual({ fn: 'check_vma_flags', rule: expect.stringContaining('fsdax') });
  });
  it('a fork step says what it shared, copied early and split (THP and hugetlb included)', () => {
    const forks = (f: string) =>
      JSON.parse(run('run', f, '--json').stdout)
        .steps.filter((s: { op: string }) => s.op === 'fork')
        .map((s: { fork: unknown }) => s.fork);
    // A registered buffer of a pinned THP and 64 pinned base pages: the PMD is split, all copied.
    expect(forks('examples/probe-fork-iouring.yaml')).toEqual([{ shared: 0, copied: 576, pmd_split: 1 }]);
    // Two hugetlb pages shared, copied while pinned, shared again once unpinned (MAP_SHARED ones are not copied).
    expect(forks('examples/probe-hugetlb-fork.yaml')).toEqual([
      { shared: 1024, copied: 0, pmd_split: 0 },
      { shared: 0, copied: 1024, pmd_split: 0 },
      { shared: 1024, copied: 0, pmd_split: 0 },
    ]);
    expect(run('run', 'examples/probe-fork-iouring.yaml').stdout).toMatch(
      /fork .* 0 page\(s\) shared, 576 copied early \(maybe pinned\), 1 PMD\(s\) split/,
    );
  });
  it('a failing expect exits 1 and says what differed', () => {
    const f = file(
      'bad-expect.yaml',
      'steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n  - { op: write, proc: a, region: b }\n  - { ' +
        'op: pin_user_pages, proc: a, region: b, as: p }\n  - { op: expect, vmstat: { nr_foll_pin_acquired: 2 } }\n',
    );
    const r = run('run', f);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('vmstat nr_foll_pin_acquired: got 1, want 2');
  });
  it('--strict exits 1 on a leak, naming the owner', () => {
    const r = run('run', '--strict', 'examples/leak-detected.yaml');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/LEAK[\s\S]*handle forgotten \(process app\): 16 pinned page/);
    expect(run('run', 'examples/leak-detected.yaml').status).toBe(0);
  });
  it('--strict also exits 1 on a kernel WARN and on a misuse record, saying which; clean runs pass', () => {
    const misuse = file(
      'double-unpin.yaml',
      'steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n  - { op: write, proc: a, region: b }\n' +
        '  - { op: pin_user_pages, proc: a, region: b, as: p }\n  - { op: unpin_user_pages, pins: p }\n' +
        '  - { op: unpin_user_pages, pins: p }\n  - { op: exit, proc: a }\n',
    );
    expect(run('run', misuse).status).toBe(0);
    const r = run('run', '--strict', misuse);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/4 +unpin_user_pages .*MISUSE \(p\): double unpin: 1 of the 1 entry passed was already/);
    expect(r.stdout).toMatch(/misuse \(gupsim's diagnosis[\s\S]*step 4 "p": double unpin[\s\S]*kernel: folio 0x/);
    // The double unpin, then the leak the exit left (a count below zero is never freed).
    expect(r.stdout).toMatch(/1 folio\(s\) \(1 page\(s\)\) leaked[\s\S]*_refcount -1024/);
    expect(r.stdout).toMatch(/FAILED \(--strict\): 2 misuse record\(s\)\n$/);
    const json = JSON.parse(run('run', '--json', misuse).stdout);
    expect(json.misuse).toHaveLength(2);
    expect(json.steps[4].misuse).toEqual([expect.objectContaining({ step: 4, handle: 'p' })]);
    expect(json.warnings).toEqual([]);
    const warn = file(
      'warn.yaml',
      'steps:\n  - { op: mmap, proc: a, as: b, size: 4K, type: anon }\n' +
        '  - { op: get_user_pages, proc: a, region: b, flags: [FOLL_LONGTERM], as: g }\n',
    );
    expect(run('run', warn).status).toBe(0);
    const w = run('run', '--strict', warn);
    expect(w.status).toBe(1);
    expect(w.stdout).toMatch(/FAILED \(--strict\): 1 kernel WARN\(s\)/);
    expect(run('run', '--strict', 'examples/doc-case1-direct-io.yaml').status).toBe(0);
  });
  it('bad input: exit 2, file:line, step and field, no stack trace', () => {
    const f = file('bad.yaml', 'steps:\n  - { op: mmap, proc: a, as: b, size: huge, type: anon }\n');
    const r = run('run', f);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${f}:2: step 0 (mmap): field "size"`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('a missing file: exit 2', () => {
    const r = run('run', join(tmp, 'nope.yaml'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot read .*nope\.yaml: ENOENT/);
  });
  it('an unknown command: exit 2', () => {
    expect(run('frobnicate').status).toBe(2);
  });
});

describe('gupsim check, dump-page, vmstat, tour', () => {
  it('check validates only', () => {
    const r = run('check', 'examples/leak-detected.yaml');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ok \(5 steps\)/);
  });
  it('dump-page prints the kernel fields at a step', () => {
    const r = run(
      'dump-page',
      'examples/doc-large-folio-pincount.yaml',
      '--step',
      'pin',
      '--region',
      'thp',
      '--page',
      '3',
    );
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^page: refcount:513 mapcount:0 mapping:[0-9a-f]{16} index:0x[0-9a-f]+ pfn:0x[0-9a-f]+$/);
    expect(lines[1]).toBe('head: order:9 mapcount:1 entire_mapcount:1 nr_pages_mapped:0 pincount:512');
    expect(lines[2]).toMatch(/^anon flags: 0x[0-9a-f]+\(.*head.*\)$/);
    expect(lines.at(-1)).toMatch(/^page dumped because: /);
  });
  it('dump-page: bad --step is a usage error', () => {
    const r = run('dump-page', 'examples/doc-large-folio-pincount.yaml', '--step', '999', '--region', 'thp');
    expect(r.status).toBe(2);
  });
  it('--json on check, vmstat and dump-page', () => {
    const check = run('check', 'examples/leak-detected.yaml', '--json');
    expect(check.status).toBe(0);
    expect(JSON.parse(check.stdout)).toEqual({ file: 'examples/leak-detected.yaml', ok: true, steps: 5 });
    const vm = JSON.parse(run('vmstat', 'examples/doc-case1-direct-io.yaml', '--json').stdout);
    expect(vm.counters.nr_foll_pin_acquired).toEqual({ total: 272, delta: 272 });
    const dp = run('dump-page', 'examples/doc-large-folio-pincount.yaml', '--step', 'pin', '--region', 'thp', '--json');
    expect(dp.status).toBe(0);
    const j = JSON.parse(dp.stdout);
    expect(j).toMatchObject({ step: 3, region: 'thp', page: 0, info: { pincount: 512, order: 9 } });
    expect(j.text).toMatch(/^page: refcount:513 /);
  });
  it('vmstat prints /proc/vmstat lines', () => {
    const r = run('vmstat', 'examples/doc-case1-direct-io.yaml');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^nr_foll_pin_acquired 272$/m);
    expect(r.stdout).toMatch(/^nr_foll_pin_released 272$/m);
  });
  it('tour runs every stop and every expectation holds', () => {
    const r = run('tour');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/every expectation held/);
    expect(r.stdout).toContain('ref 1025 = 1 mapping + 1024 pin');
    // A longterm pin that migrated its pages says so, and fork says what it shared and copied.
    expect(r.stdout).toMatch(
      /pin_user_pages_fast \[pin\] .* 16 page\(s\) migrated out of ZONE_MOVABLE\/CMA, then the pin retried/,
    );
    expect(r.stdout).toContain('0 page(s) shared, 256 copied early (maybe pinned), 0 PMD(s) split');
    // Case 5, both halves: put_page leaves the page clean, unpin_user_pages_dirty_lock dirties it.
    const case5 = r.stdout.slice(r.stdout.indexOf('Case 5:'), r.stdout.indexOf('\n10. '));
    // (The pages were just faulted in: the per-CPU lru_add batch still holds a reference on each.)
    expect(case5).toMatch(/inspect \[after_put\].*\n.*ref 2 = 1 mapping \+ 1 LRU batch, .* clean/);
    expect(case5).toMatch(/inspect \[after_unpin\].*\n.*ref 2 = 1 mapping \+ 1 LRU batch, .* dirty/);
  });
  it('tour ends with a command that works as written', () => {
    const tour = (path: string) =>
      spawnSync(process.execPath, [bin, 'tour'], { encoding: 'utf8', cwd: root, env: { ...process.env, PATH: path } })
        .stdout.trimEnd()
        .split('\n')
        .at(-1)!
        .trim();
    // Without gupsim on PATH the command names node and the launcher, and runs as shown.
    const last = tour(join(tmp, 'empty'));
    expect(last).toBe('node bin/gupsim.js run examples/leak-detected.yaml');
    const [, ...args] = last.split(' ');
    const again = spawnSync(process.execPath, args, { encoding: 'utf8', cwd: root });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('scenario: leak-detected');
    // With an executable gupsim on PATH, it is just gupsim.
    const dir = mkdtempSync(join(tmp, 'path-'));
    writeFileSync(join(dir, 'gupsim'), '#!/bin/sh\n', { mode: 0o755 });
    expect(tour(dir)).toBe('gupsim run examples/leak-detected.yaml');
  });
});

describe('gupsim run: steps on a region whose mmap failed', () => {
  it('fault with EFAULT and say why, instead of crashing', () => {
    const f = file(
      'failmap.yaml',
      'steps:\n  - { op: mmap, proc: app, as: huge, size: 2MiB, type: hugetlb }\n  - { op: write, proc: app, region: ' +
        'huge }\n  - { op: pin_user_pages, proc: app, region: huge, as: p }\n',
    );
    const r = run('run', f, '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.steps[0]).toMatchObject({ errno: 'ENOMEM', why: { fn: 'hugetlb_reserve_pages' } });
    expect(j.steps[1]).toMatchObject({
      errno: 'EFAULT',
      why: { rule: expect.stringContaining('its mmap step failed') },
    });
    expect(j.steps[2].errno).toBe('EFAULT');
  });
});

describe('gupsim schema', () => {
  it('prints a JSON Schema that names every step op', () => {
    const r = run('schema');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.$schema).toMatch(/json-schema/);
    const text = r.stdout;
    for (const op of ['mmap', 'io_uring_register_buffers', 'pin_user_pages_fast', 'expect'])
      expect(text).toContain(`"${op}"`);
  });
});
