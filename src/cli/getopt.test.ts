import { describe, expect, it } from 'vitest';
import { getopt } from './getopt.js';
import { atoi, strtol } from './strtol.js';

const GUP_TEST_OPTS = 'm:r:n:F:f:abcj:tTLUuwWSHpz';
const opts = (argv: string[], permute = true) => getopt(argv, GUP_TEST_OPTS, { permute, progname: 'gup_test' });

describe('getopt', () => {
  it('parses clustered flags', () => {
    const r = opts(['-ct', '-a']);
    expect(r.items.map((i) => i.opt)).toEqual(['c', 't', 'a']);
    expect(r.operands).toEqual([]);
  });

  it('takes option arguments attached or separate', () => {
    const r = opts(['-m4', '-n', '64', '-F0x1']);
    expect(r.items).toEqual([
      { opt: 'm', optarg: '4' },
      { opt: 'n', optarg: '64' },
      { opt: 'F', optarg: '0x1' },
    ]);
  });

  it('takes a negative number as an option argument', () => {
    expect(opts(['-n', '-1']).items).toEqual([{ opt: 'n', optarg: '-1' }]);
    expect(opts(['-n-1']).items).toEqual([{ opt: 'n', optarg: '-1' }]);
  });

  it('ends a cluster at an option that takes an argument', () => {
    expect(opts(['-cm4']).items).toEqual([{ opt: 'c' }, { opt: 'm', optarg: '4' }]);
    expect(opts(['-cm', '4']).items).toEqual([{ opt: 'c' }, { opt: 'm', optarg: '4' }]);
  });

  it('takes even "--" as the argument of an option that needs one', () => {
    const r = opts(['-f', '--', '-a']);
    expect(r.items).toEqual([{ opt: 'f', optarg: '--' }, { opt: 'a' }]);
  });

  it('stops at "--"; what follows is operands, dashes included', () => {
    const r = opts(['-c', '--', '-1', '2']);
    expect(r.items).toEqual([{ opt: 'c' }]);
    expect(r.operands).toEqual(['-1', '2']);
  });

  it('treats a lone "-" as an operand', () => {
    expect(opts(['-c', '-', '3']).operands).toEqual(['-', '3']);
  });

  it('permutes operands to the end like glibc', () => {
    const r = opts(['-c', '0', '1', '-p', '2']);
    expect(r.items.map((i) => i.opt)).toEqual(['c', 'p']);
    expect(r.operands).toEqual(['0', '1', '2']);
  });

  it('keeps skipped operands before those after "--"', () => {
    expect(opts(['0', '-c', '--', '-p']).operands).toEqual(['0', '-p']);
  });

  it('stops at the first operand in POSIX order (POSIXLY_CORRECT or a "+" optstring)', () => {
    const r = opts(['-c', '0', '-p'], false);
    expect(r.items.map((i) => i.opt)).toEqual(['c']);
    expect(r.operands).toEqual(['0', '-p']);
    const plus = getopt(['-c', '0', '-p'], '+' + GUP_TEST_OPTS);
    expect(plus.operands).toEqual(['0', '-p']);
  });

  it('reports an unknown option as "?" with glibc\'s message, and keeps going', () => {
    const r = opts(['-x', '-a']);
    expect(r.items[0]).toEqual({ opt: '?', optopt: 'x', message: "gup_test: invalid option -- 'x'" });
    expect(r.items[1]).toEqual({ opt: 'a' });
  });

  it('parses a long option as a cluster of unknown short options (no longopts)', () => {
    const r = opts(['--memory']);
    expect(r.items[0]).toMatchObject({ opt: '?', optopt: '-' });
    expect(r.items[1]).toEqual({ opt: 'm', optarg: 'emory' });
  });

  it('reports a missing argument', () => {
    expect(opts(['-a', '-m']).items[1]).toEqual({
      opt: '?',
      optopt: 'm',
      message: "gup_test: option requires an argument -- 'm'",
    });
    expect(getopt(['-m'], ':m:').items).toEqual([{ opt: ':', optopt: 'm' }]);
  });

  it('accepts -z (it is in the optstring; the selftest then rejects it itself)', () => {
    expect(opts(['-z']).items).toEqual([{ opt: 'z' }]);
  });

  it('supports GNU optional arguments and "-" (in-order) optstrings', () => {
    expect(getopt(['-o', '-ov'], 'o::').items).toEqual([{ opt: 'o' }, { opt: 'o', optarg: 'v' }]);
    expect(getopt(['a', '-b', 'c'], '-b').items).toEqual([
      { opt: '\x01', optarg: 'a' },
      { opt: 'b' },
      { opt: '\x01', optarg: 'c' },
    ]);
  });
});

describe('strtol / atoi', () => {
  it('auto-detects the base with base 0', () => {
    expect(strtol('0x1001', 0).value).toBe(0x1001n);
    expect(strtol('010', 0).value).toBe(8n);
    expect(strtol('42', 0).value).toBe(42n);
    expect(strtol('-0x10', 0).value).toBe(-16n);
  });

  it('stops at the first invalid character', () => {
    expect(strtol('12abc', 10)).toMatchObject({ value: 12n, end: 2 });
    expect(strtol('0x', 0)).toMatchObject({ value: 0n, end: 1 });
    expect(strtol('09', 0)).toMatchObject({ value: 0n, end: 1 });
    expect(strtol('abc', 10)).toMatchObject({ value: 0n, end: 0 });
    expect(strtol('  \t+7', 10).value).toBe(7n);
  });

  it('clamps on overflow', () => {
    expect(strtol('99999999999999999999', 10)).toMatchObject({ value: (1n << 63n) - 1n, erange: true });
    expect(strtol('-99999999999999999999', 10).value).toBe(-(1n << 63n));
  });

  it('atoi is (int) strtol(s, NULL, 10)', () => {
    expect(atoi('128')).toBe(128);
    expect(atoi('-1')).toBe(-1);
    expect(atoi('x')).toBe(0);
    expect(atoi('0x10')).toBe(0);
    expect(atoi('4294967297')).toBe(1);
  });
});
