// `gupsim experiment` as a user runs it (the compiled CLI; npm test builds dist/ first): the list,
// bad input (exit 2, no stack), the same report whatever the number of worker threads, and the files
// --out writes.

import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = join(import.meta.dirname, '..');
const bin = join(root, 'bin', 'gupsim.js');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, 'experiment', ...args], { encoding: 'utf8', cwd: root, timeout: 300_000 });

describe('gupsim experiment list', () => {
  it('lists experiments 1-7, every one ready (experiment 5, writeback, included)', () => {
    const r = run('list');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l));
    expect(lines.map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(lines.find((l) => l.trim().startsWith('5 '))).toMatch(/writeback\s+ready\s+Case 5 and the writeback TODO/);
    expect(lines.filter((l) => /\spending\s/.test(l))).toHaveLength(0);
    const j = JSON.parse(run('list', '--json').stdout) as Array<{ name: string; status: string; pending?: string }>;
    expect(j.map((e) => e.status)).toEqual(Array(7).fill('ready'));
  });
});

describe('gupsim experiment: bad input', () => {
  it('an unknown name, a bad seed or worker count: exit 2, a message, no stack', () => {
    for (const [args, msg] of [
      [['run', 'nope'], /no experiment "nope" \(known: 1 false-positives/],
      [['run', '4', '--seed', 'x'], /--seed must be an integer/],
      [['run', '4', '--workers', '0'], /--workers must be an integer from 1/],
      [['all', '--seed', '-3'], /--seed must be an integer/],
      [['run', '4', '--kernel', '5.10'], /--kernel 5\.10: the model has profiles of Linux 6\.1, 6\.12, 6\.18/],
    ] as Array<[string[], RegExp]>) {
      const r = run(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('gupsim experiment run', () => {
  it('gives the same report on 1 worker thread and on 3, and another with another seed', () => {
    const args = ['run', 'false-positives', 'vmstat-balance', 'fork', '--quick', '--json'];
    const one = run(...args, '--workers', '1');
    const three = run(...args, '--workers', '3');
    expect(one.status, one.stderr).toBe(0);
    expect(three.status, three.stderr).toBe(0);
    const a = JSON.parse(one.stdout);
    expect(a).toMatchObject({ schemaVersion: 1, mode: 'quick', seed: 1 });
    expect(a.experiments.map((e: { number: number }) => e.number)).toEqual([1, 4, 6]);
    expect(JSON.parse(three.stdout)).toEqual(a);
    const other = JSON.parse(run('run', '1', '--quick', '--json', '--seed', '9').stdout);
    expect(other.seed).toBe(9);
    expect(other.experiments[0].plots[1]).not.toEqual(a.experiments[0].plots[1]);
  });

  it('--out DIR writes the markdown report and its SVG plots; the text report names the verdict', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-exp-'));
    const r = run('run', '6', '--quick', '--out', dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^6\. Fork and pins/m);
    expect(r.stdout).toMatch(/Verdict: the claim (holds|does not hold|holds with a caveat)\./);
    expect(r.stderr).toMatch(/wrote .*experiments\.md and 2 plots/);
    const md = readFileSync(join(dir, 'experiments.md'), 'utf8');
    expect(md).toMatch(/^# Experiments/);
    expect(md).toContain('gupsim experiment run 6 --quick --seed 1');
    expect(readdirSync(join(dir, 'experiments')).sort()).toEqual(['6-fork-reach-small.svg', '6-fork-reach-thp.svg']);
    for (const f of readdirSync(join(dir, 'experiments'))) {
      expect(md).toContain(`](experiments/${f})`);
      expect(readFileSync(join(dir, 'experiments', f), 'utf8')).toMatch(
        /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/,
      );
    }
    expect(existsSync(join(dir, 'experiments.md'))).toBe(true);
  });
});

describe('gupsim experiment --kernel', () => {
  it("runs the model with that release's profile, leaving out the folio kinds it lacks (6.1: no mTHP)", () => {
    const r = run('run', 'false-positives', 'vmstat-balance', '--quick', '--json', '--workers', '1', '--kernel', '6.1');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      kernel: string;
      experiments: Array<{ tables: Array<{ rows: unknown[][] }> }>;
    };
    expect(j.kernel).toBe('model of Linux 6.1');
    // The rows of every table: one per folio kind the release has.
    const rowNames = j.experiments.flatMap((e) => e.tables.flatMap((t) => t.rows.map((row) => JSON.stringify(row[0]))));
    expect(rowNames.filter((n) => /mTHP/.test(n))).toEqual([]);
    expect(rowNames.some((n) => /small 4 KiB/.test(n))).toBe(true);
    expect(JSON.parse(run('run', '4', '--quick', '--json', '--workers', '1').stdout).kernel).toBe(
      'model of Linux 6.18',
    );
    const text = run('run', '4', '--quick', '--workers', '1', '--kernel', '6.12');
    expect(text.stdout).toMatch(/^gupsim experiments: model of Linux 6\.12, quick mode, seed 1$/m);
  });
});
