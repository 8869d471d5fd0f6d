// `--kernel 6.1|6.12|6.18` on the commands that run the model, and `gupsim run --kernel all` (the
// compiled CLI as a user runs it; npm test builds dist/ first).
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'gupsim.js');
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: root });
const tmp = mkdtempSync(join(tmpdir(), 'gupsim-kernel-'));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

const THP = 'examples/io-uring-thp-coalesce.yaml';

describe('gupsim run --kernel', () => {
  it('runs the chosen release and says so in the result JSON', () => {
    const r = run('run', THP, '--kernel', '6.12', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).kernel).toBe('model of Linux 6.12');
    const d = run('run', THP, '--json');
    expect(JSON.parse(d.stdout).kernel).toBe('model of Linux 6.18');
  });

  it("an example's 6.18 expectations fail on 6.1 (no io_uring coalescing): exit 1, the table says what", () => {
    const r = run('run', THP, '--kernel', '6.1');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('engine: model (model of Linux 6.1)');
    expect(r.stdout).toMatch(/"look" pages\[0\]\.pincount: got 512, want 1/);
  });

  it("a scenario's kernel: field picks the release; --kernel overrides it", () => {
    const f = file(
      'k.yaml',
      'kernel: 6.1\nsteps:\n  - { op: mmap, proc: app, as: b, size: 4KiB, type: anon }\n' +
        '  - { op: pin_user_pages_fast, proc: app, region: b, flags: [FOLL_WRITE, FOLL_LONGTERM], as: p, ' +
        'label: pin }\n',
    );
    const r = JSON.parse(run('run', f, '--json').stdout);
    expect(r.kernel).toBe('model of Linux 6.1');
    expect(r.steps[1].gup_flags).toBe('0x10001');
    const o = JSON.parse(run('run', f, '--json', '--kernel', '6.18').stdout);
    expect(o.kernel).toBe('model of Linux 6.18');
    expect(o.steps[1].gup_flags).toBe('0x101');
    const bad = run('check', file('bad.yaml', 'kernel: 5.10\nsteps: []\n'));
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('bad.yaml:1: field "kernel": gupsim has profiles of Linux 6.1, 6.12, 6.18 only');
  });

  it('an unknown release, or a setting the release lacks, is bad input (exit 2) that names it', () => {
    const r = run('run', THP, '--kernel', '6.5');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--kernel 6.5: the model has profiles of Linux 6.1, 6.12, 6.18');
    const m = run('run', 'examples/probe-mthp-64k.yaml', '--kernel', '6.1');
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/probe-mthp-64k\.yaml: cannot run on this release\n {2}machine\.mthp \(64K\): Linux 6\.1/);
    expect(m.stderr).not.toMatch(/at .*\.js/);
  });
});

describe('gupsim run --kernel all', () => {
  it('shows where the releases differ and the profile fields that explain it; exit 1 on a failed expect', () => {
    const r = run('run', THP, '--kernel', 'all');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/Linux 6\.1: FAILED/);
    expect(r.stdout).toMatch(/Linux 6\.12: ok/);
    expect(r.stdout).toMatch(/io_uring_register_buffers .*released +0 +2044 +2044 +6\.1: ioUringCoalesce/);
    expect(r.stdout).toMatch(/page 513 pincount +512 +1 +1 +6\.1: ioUringCoalesce/);
  });

  it('exit 0 when every run that ran holds; a release lacking a setting is "not run"', () => {
    const r = run('run', 'examples/probe-mthp-64k.yaml', '--kernel', 'all');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Linux 6\.1: not run: machine\.mthp \(64K\)/);
    expect(r.stdout).toContain('no differences');
  });

  it("--json: each release's result, and the differences with their fields", () => {
    const f = file(
      'remote.yaml',
      'machine: { memory: 1GiB }\nsteps:\n' +
        '  - { op: mmap, proc: app, as: buf, size: 1MiB, type: anon, align: 2MiB }\n' +
        '  - { op: madvise, proc: app, region: buf, advice: nohugepage }\n' +
        '  - { op: write, proc: app, region: buf }\n' +
        '  - { op: get_user_pages_fast, proc: app, region: buf, pages: 1, as: probe }\n' +
        '  - { op: put_page, pins: probe }\n' +
        '  - { op: pin_user_pages_remote, proc: app, target: app, region: buf, flags: [FOLL_WRITE, FOLL_LONGTERM], ' +
        'as: rp }\n' +
        '  - { op: inspect, proc: app, region: buf, page: 0, label: held }\n' +
        '  - { op: dump_page, proc: app, region: buf, page: 0, label: dump }\n' +
        '  - { op: unpin_user_pages, pins: rp }\n',
    );
    const r = run('run', f, '--kernel', 'all', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.kernels.map((k: { release: string; result: { kernel: string } }) => [k.release, k.result.kernel])).toEqual(
      [
        ['6.1', 'model of Linux 6.1'],
        ['6.12', 'model of Linux 6.12'],
        ['6.18', 'model of Linux 6.18'],
      ],
    );
    const ref = j.differences.find((d: { field: string }) => d.field === 'page 0 refcount');
    expect(ref).toMatchObject({
      step: 6,
      label: 'held',
      values: { '6.1': '1026', '6.12': '1025', '6.18': '1026' },
      because: { '6.12': ['lruGenEnabled'] },
    });
    const dump = j.differences.find((d: { field: string }) => d.field === 'text');
    expect(dump.values['6.1']).toMatch(/^page:[0-9a-f]{16} refcount:1026 /);
    expect(dump.because['6.1']).toEqual(['dumpPageFormat']);
    // The text report prints the first line of kernel text that differs, per release.
    const t = run('run', f, '--kernel', 'all');
    expect(t.stdout).toMatch(/\n {7}6\.12: +1\| page: refcount:1025 /);
  });
});

describe('--kernel on the other commands that run the model', () => {
  it('dump-page and vmstat', () => {
    const d = run(
      'dump-page',
      'examples/doc-large-folio-pincount.yaml',
      '--region',
      'thp',
      '--page',
      '1',
      '--step',
      'pin',
    );
    expect(d.stdout).toMatch(/^head: order:9 mapcount:1 entire_mapcount:1 nr_pages_mapped:0 pincount:512$/m);
    const d1 = run(
      'dump-page',
      'examples/doc-large-folio-pincount.yaml',
      '--region',
      'thp',
      '--page',
      '1',
      '--step',
      'pin',
      '--kernel',
      '6.1',
    );
    expect(d1.status).toBe(0);
    expect(d1.stdout).toMatch(/^head:[0-9a-f]{16} order:9 compound_mapcount:1 compound_pincount:512$/m);
    const v = run('vmstat', THP, '--kernel', '6.1', '--step', 'reg');
    expect(v.status).toBe(0);
    expect(v.stdout).toMatch(/^nr_foll_pin_acquired 2048$/m);
    expect(v.stdout).toMatch(/^nr_foll_pin_released 0$/m);
  });

  it("gup_test --model: -F takes the release's FOLL_* values (0x10000: LONGTERM on 6.1, TOUCH on 6.12)", () => {
    // --kernel R alone boots R in a VM; --model runs the selftest on the model with R's profile.
    const r61 = run('gup_test', '--kernel', '6.1', '--model', '-b', '-F', '0x10000', '-n', '1', '-m', '1');
    expect(r61.status).toBe(0);
    expect(r61.stdout).not.toContain('WARNING');
    const r612 = run('gup_test', '--kernel', '6.12', '--model', '-b', '-F', '0x10000', '-n', '1', '-m', '1');
    expect(r612.stdout).toContain('WARNING: at mm/gup.c is_valid_gup_args: gup_flags & INTERNAL_GUP_FLAGS');
    expect(run('gup_test', '--kernel', '5.4', '--model', '-b').status).toBe(2);
    // 6.18 has no VM (it is the host): only the model runs it.
    expect(run('gup_test', '--kernel', '6.18', '--model', '-b', '-n', '1', '-m', '1').status).toBe(0);
  });

  it('tour: the examples run on the release; where 6.18 expectations fail there, it says which', () => {
    const r = run('tour', '--kernel', '6.1');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('EXPECTATION FAILED on the model of Linux 6.1:');
    expect(r.stdout).toMatch(/"look" pages\[0\]\.pincount: got 512, want 1/);
    // 6.12 does not charge the ring's memory (io_uring_memlock.yaml); 6.18 is what the examples were written for.
    expect(run('tour', '--kernel', '6.12').stdout).toMatch(
      /EXPECTATION FAILED on the model of Linux 6\.12:\n.*\n {5}"too_big" errno: got null, want ENOMEM/,
    );
    expect(run('tour', '--kernel', '6.18').status).toBe(0);
  });

  it('advise: the recommended calls are checked on the release', () => {
    const r = run(
      'advise',
      '--dma',
      '--long-lived',
      '--writes',
      '--memory',
      'file-disk',
      '--shared',
      '--kernel',
      '6.1',
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('on the model of Linux 6.1');
    expect(r.stdout).toMatch(
      /expect check_vma_flags\(\) to refuse [\s\S]* but on the model of Linux 6\.1 it is\s+accepted/,
    );
  });
});
