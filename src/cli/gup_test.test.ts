// `gupsim gup_test`: the compiled CLI as a user runs it (npm test builds dist/ first), checked on the
// shape of its kselftest output (never on timings), plus the in-process pieces.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { gupTestMain, splitGupsimOptions, type GupTestIo } from './gup_test.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'gupsim.js');
const cli = (args: string[], env: Record<string, string> = {}) => {
  const r = spawnSync(process.execPath, [bin, 'gup_test', ...args], {
    encoding: 'utf8',
    cwd: root,
    env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stdout.split('\n').slice(0, -1) };
};

const TOTALS_1 = '# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0';
const TIME = (cmd: string) => new RegExp(`^# ${cmd}: Time: get:\\d+ put:\\d+ us# $`);

describe('gupsim gup_test (compiled CLI)', () => {
  it('-a -m 4 -n 64: one PIN_FAST_BENCHMARK line, with the "\\n" printed as its own "# " message', () => {
    const r = cli(['-a', '-m', '4', '-n', '64']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.lines).toHaveLength(5);
    expect(r.lines[0]).toBe('TAP version 13');
    expect(r.lines[1]).toBe('1..1');
    expect(r.lines[2]).toMatch(TIME('PIN_FAST_BENCHMARK'));
    expect(r.lines[3]).toBe('ok 1 ioctl status 0');
    expect(r.lines[4]).toBe(TOTALS_1);
  });

  it('-c -p 0 1 2: a page header and a dump_page per page, pinned (refcount 1024 + 1)', () => {
    const r = cli(['-c', '-p', '0', '1', '2', '-m', '4']);
    expect(r.status).toBe(0);
    expect(r.lines.slice(0, 2)).toEqual(['TAP version 13', '1..1']);
    const headers = r.lines.filter((l) => l.startsWith('---- page #'));
    expect(headers.map((h) => h.replace(/0x[0-9a-f]+$/, 'ADDR'))).toEqual(
      [0, 1, 2].map((k) => `---- page #${k}, starting from user virt addr: ADDR`),
    );
    expect(new Set(headers.map((h) => h.split(': ')[1])).size).toBe(1); // all from the buffer start
    // Each header is followed by the kernel's dump_page lines, ending with the reason.
    for (const h of headers) {
      const at = r.lines.indexOf(h);
      expect(r.lines[at + 1]).toMatch(
        /^page: refcount:1025 mapcount:1 mapping:[0-9a-f]{16} index:0x[0-9a-f]+ pfn:0x[0-9a-f]+$/,
      );
      expect(r.lines[at + 2]).toMatch(/^anon flags: 0x[0-9a-f]+\(.*\)$/);
      expect(r.lines[at + 3]).toBe('page dumped because: gup_test: dump_pages() test');
    }
    expect(r.lines.slice(-3)).toEqual(['# DUMP_USER_PAGES_TEST: done', 'ok 1 ioctl status 0', TOTALS_1]);
  });

  it('-c without -p dumps page 0 under a FOLL_GET reference', () => {
    const r = cli(['-c', '-m', '1']);
    expect(r.lines.filter((l) => l.startsWith('page: '))).toEqual([
      expect.stringMatching(/^page: refcount:2 mapcount:1 /),
    ]);
  });

  it('-L (default 128 MiB): PIN_LONGTERM_BENCHMARK, and no progress bar when stderr is not a terminal', () => {
    const r = cli(['-L']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.lines.slice(0, 2)).toEqual(['TAP version 13', '1..1']);
    expect(r.lines[2]).toMatch(TIME('PIN_LONGTERM_BENCHMARK'));
    expect(r.lines.slice(3)).toEqual(['ok 1 ioctl status 0', TOTALS_1]);
  });

  it('-U: GUP_BASIC_TEST reports done, not timings', () => {
    const r = cli(['-U', '-m', '4']);
    expect(r.status).toBe(0);
    expect(r.lines).toEqual(['TAP version 13', '1..1', '# GUP_BASIC_TEST: done', 'ok 1 ioctl status 0', TOTALS_1]);
  });

  it('-z: accepted by getopt, rejected by the switch: "Wrong argument", exit 1', () => {
    const r = cli(['-z']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.lines).toEqual(['Bail out! Wrong argument', '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0']);
  });

  it('an unknown option or a missing argument: glibc\'s message, then "Wrong argument"', () => {
    const x = cli(['-a', '-x']);
    expect(x.status).toBe(1);
    expect(x.stderr).toBe("gup_test: invalid option -- 'x'\n");
    expect(x.lines[0]).toBe('Bail out! Wrong argument');
    const m = cli(['-m']);
    expect(m.stderr).toBe("gup_test: option requires an argument -- 'm'\n");
    expect(m.status).toBe(1);
  });

  it('a walk that stops early: ", truncated (size: n)" (benchmarks) and "Truncated (size: n)" (tests)', () => {
    const a = cli(['-a', '-m', '1', '-n', '0']);
    expect(a.lines[2]).toMatch(/^# PIN_FAST_BENCHMARK: Time: get:\d+ put:\d+ us# , truncated \(size: 0\)# $/);
    const u = cli(['-U', '-m', '1', '-n', '0']);
    expect(u.lines.slice(2, 4)).toEqual(['# GUP_BASIC_TEST: done', '# Truncated (size: 0)']);
    // A longterm write pin of a shared ext4 mapping is refused (-EFAULT): nothing walked.
    const l = cli(['-L', '-S', '-f', '/data/file', '-m', '1']);
    expect(l.lines[2]).toMatch(/, truncated \(size: 0\)# $/);
    expect(l.status).toBe(0); // GUP errors are not ioctl errors
  });

  it('-n -1 takes the whole buffer in one call', () => {
    const r = cli(['-b', '-m', '2', '-n', '-1']);
    expect(r.lines).toEqual(['TAP version 13', '1..1', '# PIN_BASIC_TEST: done', 'ok 1 ioctl status 0', TOTALS_1]);
  });

  it('-j 2 -r 2: one TAP result per thread, a time line per repeat', () => {
    const r = cli(['-a', '-m', '1', '-j', '2', '-r', '2']);
    expect(r.lines[1]).toBe('1..2');
    expect(r.lines.filter((l) => TIME('PIN_FAST_BENCHMARK').test(l))).toHaveLength(4);
    expect(r.lines.filter((l) => /^ok \d ioctl status 0$/.test(l))).toEqual([
      'ok 1 ioctl status 0',
      'ok 2 ioctl status 0',
    ]);
    expect(r.lines.at(-1)).toBe('# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:0 error:0');
  });

  it('out-of-range page indices are zeroed by the kernel with a pr_warn', () => {
    const r = cli(['-c', '-m', '1', '5000']);
    expect(r.lines).toContain('ZEROING due to out of range: .which_pages[0]: 5001');
    expect(r.lines.some((l) => l.startsWith('---- page #'))).toBe(false);
  });

  it('--no-dmesg leaves the kernel log out', () => {
    const r = cli(['-c', '-p', '0', '-m', '1', '--no-dmesg']);
    expect(r.lines).toEqual([
      'TAP version 13',
      '1..1',
      '# DUMP_USER_PAGES_TEST: done',
      'ok 1 ioctl status 0',
      TOTALS_1,
    ]);
  });

  it('mmap failures bail out after the plan (exit 1)', () => {
    const r = cli(['-m', '0']);
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([
      'TAP version 13',
      '1..1',
      'Bail out! mmap: Invalid argument',
      '# Planned tests != run tests (1 != 0)',
      '# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:0',
    ]);
  });

  it('KSFT_TAP_LEVEL suppresses the TAP version line', () => {
    expect(cli(['-U', '-m', '1'], { KSFT_TAP_LEVEL: '1' }).lines[0]).toBe('1..1');
  });

  it('bad gupsim options: exit 2 with a message, no stack trace', () => {
    const r = cli(['--memory', 'lots']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("gupsim: gup_test: --memory takes a size in MiB from 16 to 32768, not 'lots'\n");
    expect(r.stdout).toBe('');
  });
});

describe('gup_test command line pieces', () => {
  it('takes gupsim options out, leaving the selftest its argv', () => {
    expect(splitGupsimOptions(['--memory', '512', '-a', '--no-dmesg', '--thp=always', '-m4', '0'])).toEqual({
      extras: { memoryMiB: 512, thp: 'always', dmesg: false, help: false },
      rest: ['-a', '-m4', '0'],
    });
  });

  it('leaves an option argument alone even if it looks like a gupsim option', () => {
    expect(splitGupsimOptions(['-f', '--memory', '-cm', '--no-dmesg']).rest).toEqual([
      '-f',
      '--memory',
      '-cm',
      '--no-dmesg',
    ]);
    expect(splitGupsimOptions(['-c', '--', '--memory']).rest).toEqual(['-c', '--', '--memory']);
  });

  it('in POSIX order, stops at the first operand', () => {
    expect(splitGupsimOptions(['0', '--no-dmesg'], true)).toMatchObject({
      extras: { dmesg: true },
      rest: ['0', '--no-dmesg'],
    });
    expect(splitGupsimOptions(['0', '--no-dmesg'], false)).toMatchObject({ extras: { dmesg: false }, rest: ['0'] });
  });

  function fakeIo(isTTY: boolean, env: Record<string, string> = {}) {
    const out: string[] = [];
    const err: string[] = [];
    const tty: string[] = [];
    const io: GupTestIo = {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
      stderr: { isTTY, columns: 80, write: (s: string) => tty.push(s) },
      env,
    };
    return { io, out, err, tty };
  }

  it('draws a progress bar on a terminal for a big run, and erases it before printing', () => {
    const f = fakeIo(true);
    expect(gupTestMain(['-U', '-m', '65'], f.io)).toBe(0);
    expect(f.tty.some((s) => /^\r\x1b\[K\[[#.]+\] +\d+% faulting in 65 MiB$/.test(s))).toBe(true);
    expect(f.tty.at(-1)).toBe('\r\x1b[K');
    expect(f.out.join('')).not.toContain('\r');
  });

  it('no progress bar for a small run, nor ever off a terminal', () => {
    const small = fakeIo(true);
    gupTestMain(['-U', '-m', '4'], small.io);
    expect(small.tty).toEqual([]);
    const piped = fakeIo(false);
    gupTestMain(['-U', '-m', '65'], piped.io);
    expect(piped.tty).toEqual([]);
  });

  it('honours POSIXLY_CORRECT: options after an operand are operands', () => {
    const posix = fakeIo(false, { POSIXLY_CORRECT: '1' });
    gupTestMain(['-c', '-m', '1', '0', '-p'], posix.io);
    // "-p" became page index strtol("-p") + 1 = 1 (page 0 again), and the dump is not pinned.
    expect(posix.out.join('').match(/page: refcount:2 /g)).toHaveLength(2);
    const gnu = fakeIo(false);
    gupTestMain(['-c', '-m', '1', '0', '-p'], gnu.io);
    expect(gnu.out.join('').match(/page: refcount:1025 /g)).toHaveLength(1);
  });

  it("a -j below zero fails the selftest's assert(tid) after the plan", () => {
    const f = fakeIo(false);
    expect(gupTestMain(['-j', '-1', '-m', '1'], f.io)).toBe(134);
    expect(f.out.join('')).toBe('TAP version 13\n1..4294967295\n');
    expect(f.err.join('')).toContain("Assertion `tid' failed.");
  });

  it('-H maps hugetlb memory from a pool sized to fit; -S -H is shared', () => {
    for (const args of [
      ['-a', '-H', '-m', '5'],
      ['-a', '-S', '-H', '-m', '4'],
    ]) {
      const f = fakeIo(false);
      expect(gupTestMain(args, f.io)).toBe(0);
      expect(f.out.join('')).toMatch(/# PIN_FAST_BENCHMARK: Time: get:\d+ put:\d+ us# \nok 1 ioctl status 0\n/);
    }
  });

  it("a buffer beyond the model's machine limit is a usage error before any output", () => {
    const f = fakeIo(false);
    expect(() => gupTestMain(['-m', '40000'], f.io)).toThrow(
      expect.objectContaining({ code: 'ERR_USAGE', exitCode: 2 }),
    );
    expect(f.out).toEqual([]);
  });

  it('a machine too small for the buffer: the OOM kill becomes a usage error naming --memory', () => {
    const f = fakeIo(false);
    expect(() => gupTestMain(['--memory', '64', '-U', '-m', '100'], f.io)).toThrow(
      /ran out of memory .* use a larger --memory/,
    );
  });

  it('-L on fsdax is refused up front (nothing walked)', () => {
    const f = fakeIo(false);
    gupTestMain(['-L', '-S', '-f', '/mnt/pmem0/buf', '-m', '2'], f.io);
    expect(f.out.join('')).toContain(', truncated (size: 0)# \n');
  });

  it('-F passes flags straight through: FOLL_PIN from a caller is a WARN in the kernel log', () => {
    const f = fakeIo(false);
    gupTestMain(['-U', '-m', '1', '-F', '0x80000'], f.io);
    const text = f.out.join('');
    expect(text).toContain('WARNING: at mm/gup.c is_valid_gup_args');
    expect(text).toContain('# Truncated (size: 0)\n');
  });
});
