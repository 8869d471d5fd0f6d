// The probe's host plumbing: finding the compiler and the helper source, the build cache, the plan
// of machine settings, and the settings journal: restore, and recovery from a probe that died.

import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadScenario } from '../scenario/load.js';
import { buildHelper, helperSource, probeUnsupportedReason } from './build.js';
import { findCompiler } from './package.js';
import {
  HostSession,
  hugetlbCounterValue,
  isPoolShortfall,
  isRoot,
  onlyPoolShortfalls,
  planSettings,
  readSetting,
  settingsNotApplied,
  settingUnavailable,
} from './host.js';
import { readZones } from './kpage.js';

describe('build', () => {
  it('finds the helper source relative to the package root (src/probe/helper.c, in git)', () => {
    expect(helperSource()).toMatch(/src[/\\]probe[/\\]helper\.c$/);
    expect(existsSync(helperSource())).toBe(true);
  });

  it('finds no compiler on an empty PATH, and honours CC', () => {
    expect(findCompiler({ PATH: '/nonexistent' })).toBeUndefined();
    expect(findCompiler({ PATH: '/nonexistent', CC: '/nonexistent/cc' })).toBeUndefined();
  });

  const why = probeUnsupportedReason();
  if (why) console.log(`helper build test skipped: ${why}`);
  it.skipIf(why !== undefined)(
    'builds once and reuses the cached binary',
    () => {
      const a = buildHelper();
      const b = buildHelper();
      expect(a).toBe(b);
      expect(a).toMatch(/helper-[0-9a-f]{16}$/);
    },
    120_000,
  );
});

describe('planSettings', () => {
  it("fills in the model's defaults and notes what a live host cannot change", () => {
    const sc = loadScenario(
      'machine: { memory: 1GiB, movable: 256MiB, thp: always, mthp: { 64K: always }, hugetlb: { 2M: 4 } }\nsteps: []',
    );
    const { settings, notes } = planSettings(sc);
    const want = Object.fromEntries(settings.map((s) => [s.what, s.want]));
    expect(want['THP enabled']).toBe('always');
    expect(want['mTHP 64K']).toBe('always');
    expect(want['mTHP 16K']).toBe('never');
    expect(want['mTHP 2M']).toBe('inherit');
    expect(want['THP use_zero_page']).toBe('1');
    expect(want['shmem THP']).toBe('never');
    expect(want['hugetlb 2M pool']).toBe('4');
    expect(want['hugetlb 2M overcommit']).toBe('0');
    expect(want['hugetlb 1G pool']).toBeUndefined();
    expect(want['hugetlb 1G overcommit']).toBeUndefined();
    expect(notes.join('\n')).toMatch(/machine\.memory not applied/);
    expect(notes.join('\n')).toMatch(/machine\.movable not applied/);
  });

  it('sets nr_overcommit_hugepages for a size the scenario names it for, alone or with a pool', () => {
    const sc = loadScenario('machine: { hugetlb_overcommit: { 1G: 2 } }\nsteps: []');
    const want = Object.fromEntries(planSettings(sc).settings.map((s) => [s.what, s]));
    expect(want['hugetlb 1G overcommit']?.want).toBe('2');
    expect(want['hugetlb 1G overcommit']?.path).toBe(
      '/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_overcommit_hugepages',
    );
    expect(want['hugetlb 1G pool']).toBeUndefined();
    expect(want['hugetlb 2M overcommit']).toBeUndefined();
  });

  it('reads hugetlb counters as signed: the unsigned long underflow of HugePages_Rsvd is -1', () => {
    expect(hugetlbCounterValue('18446744073709551615\n')).toBe(-1);
    expect(hugetlbCounterValue('3\n')).toBe(3);
  });

  it('reads the bracketed choice of a selector file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-host-test-'));
    writeFileSync(join(dir, 'enabled'), 'always [madvise] never\n');
    expect(readSetting(join(dir, 'enabled'), 'selector')).toBe('madvise');
    rmSync(dir, { recursive: true });
  });
});

describe('settingUnavailable', () => {
  it('a file this kernel lacks is no problem when a kernel without it behaves as the scenario asks', () => {
    const missing = join(tmpdir(), 'gupsim-no-such-dir', 'hugepages-64kB', 'enabled');
    const mthp = { what: 'mTHP 64K', path: missing, kind: 'selector', absent: 'never' } as const;
    expect(settingUnavailable({ ...mthp, want: 'never' })).toBeUndefined();
    expect(settingUnavailable({ ...mthp, want: 'always' })).toBe(`mTHP 64K: ${missing} does not exist on this kernel`);
    expect(settingUnavailable({ what: 'THP enabled', path: missing, want: 'madvise', kind: 'selector' })).toMatch(
      /does not exist on this kernel/,
    );
    // planSettings says what each kernel without the file does.
    const sc = loadScenario('machine: { hugetlb: { 2M: 0 } }\nsteps: []');
    const absent = Object.fromEntries(planSettings(sc).settings.map((s) => [s.what, s.absent]));
    expect(absent).toMatchObject({ 'mTHP 16K': 'never', 'mTHP 2M': 'inherit', 'hugetlb 2M pool': '0' });
    expect(absent['THP enabled']).toBeUndefined();
  });

  it('without root, a setting that differs cannot be changed; one that matches is fine', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-host-test-'));
    const path = join(dir, 'enabled');
    writeFileSync(path, 'always [madvise] never\n');
    const s = { what: 'THP enabled', path, kind: 'selector' } as const;
    expect(settingUnavailable({ ...s, want: 'madvise' }, false)).toBeUndefined();
    expect(settingUnavailable({ ...s, want: 'always' }, false)).toBe(
      'THP enabled is madvise, the scenario needs always: changing it needs root',
    );
    expect(settingUnavailable({ ...s, want: 'always' }, true)).toBeUndefined();
    rmSync(dir, { recursive: true });
  });

  it('HostSession.apply accepts a missing file whose absence is what the scenario wants', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-host-test-'));
    const s = await HostSession.acquire(5000, join(dir, 'lock'));
    const problems = s.apply([
      {
        what: 'mTHP 16K',
        path: join(dir, 'hugepages-16kB', 'enabled'),
        want: 'never',
        kind: 'selector',
        absent: 'never',
      },
      {
        what: 'mTHP 64K',
        path: join(dir, 'hugepages-64kB', 'enabled'),
        want: 'always',
        kind: 'selector',
        absent: 'never',
      },
    ]);
    expect(problems).toEqual([`mTHP 64K: ${join(dir, 'hugepages-64kB', 'enabled')} does not exist on this kernel`]);
    expect(s.changed).toEqual([]);
    s.restore();
    rmSync(dir, { recursive: true });
  });

  it('tells a hugetlb pool the kernel could not fill from other problems', () => {
    expect(isPoolShortfall('hugetlb 2M pool: asked for 4, the kernel gave 2')).toBe(true);
    expect(isPoolShortfall('hugetlb 1G pool: asked for 1, the kernel gave 0')).toBe(true);
    expect(isPoolShortfall('mTHP 64K: asked for always, the kernel gave never')).toBe(false);
    expect(isPoolShortfall('hugetlb 2M pool: /sys/... does not exist on this kernel')).toBe(false);
    const pools = [
      'hugetlb 2M pool: asked for 4, the kernel gave 2',
      'hugetlb 1G pool: asked for 1, the kernel gave 0',
    ];
    expect(onlyPoolShortfalls(settingsNotApplied(pools))).toBe(true);
    expect(onlyPoolShortfalls(settingsNotApplied([...pools, 'THP enabled: writing always failed: EINVAL']))).toBe(
      false,
    );
  });
});

describe('readZones', () => {
  it('parses /proc/zoneinfo spans', () => {
    const z = readZones(
      'Node 0, zone      DMA\n  pages free 1\n        spanned  4095\n  start_pfn:           1\nNode 0, zone   ' +
        'Normal\n        spanned  1000\n  start_pfn:           1048576\n',
    );
    expect(z).toEqual([
      { zone: 'DMA', start: 1, end: 4096 },
      { zone: 'NORMAL', start: 1048576, end: 1049576 },
    ]);
  });
});

if (!isRoot()) console.log('settings journal tests skipped: not root');
describe('HostSession', () => {
  it.skipIf(!isRoot())('changes only what differs, and restores it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-host-test-'));
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    writeFileSync(a, 'always [madvise] never');
    writeFileSync(b, '0');
    const s = await HostSession.acquire(5000, join(dir, 'lock'));
    const problems = s.apply([
      { what: 'a', path: a, want: 'madvise', kind: 'selector' },
      { what: 'b', path: b, want: '4', kind: 'number' },
    ]);
    expect(problems).toEqual([]);
    expect(s.changed.map((c) => c.what)).toEqual(['b']);
    expect(readFileSync(b, 'utf8')).toBe('4');
    expect(existsSync(join(dir, 'lock'))).toBe(true);
    expect(s.restore()).toEqual([]);
    expect(readFileSync(b, 'utf8')).toBe('0');
    expect(existsSync(join(dir, 'lock'))).toBe(false);
    rmSync(dir, { recursive: true });
  });

  it.skipIf(!isRoot())('puts back the settings of a probe that died holding the lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-host-test-'));
    const setting = join(dir, 'nr_hugepages');
    writeFileSync(setting, '8'); // left changed by the dead probe
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(gone.stdout);
    writeFileSync(
      join(dir, 'lock'),
      JSON.stringify({ pid: deadPid, token: 'dead', saved: [{ path: setting, value: '0' }] }),
    );
    const s = await HostSession.acquire(5000, join(dir, 'lock'));
    expect(readFileSync(setting, 'utf8')).toBe('0');
    s.restore();
    expect(existsSync(join(dir, 'lock'))).toBe(false);
    rmSync(dir, { recursive: true });
  });
});
