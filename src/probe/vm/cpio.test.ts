import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCpio, writeCpio } from './cpio.js';
import { findProgram } from './tools.js';

describe('newc cpio', () => {
  const entries = [
    { type: 'dir' as const, name: 'bin' },
    { type: 'file' as const, name: 'bin/hello', data: Buffer.from('hi\n'), mode: 0o755 },
    { type: 'file' as const, name: '/init', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
    { type: 'file' as const, name: 'empty', data: Buffer.alloc(0) },
    { type: 'symlink' as const, name: 'sh', target: 'bin/hello' },
    { type: 'chardev' as const, name: 'console', major: 5, minor: 1 },
  ];

  it('writes headers, names and data aligned to 4 bytes, and reads back', () => {
    const b = writeCpio(entries);
    expect(b.length % 4).toBe(0);
    expect(b.toString('latin1', 0, 6)).toBe('070701');
    const back = readCpio(b);
    expect(back.map((e) => e.name)).toEqual(['bin', 'bin/hello', 'init', 'empty', 'sh', 'console']);
    expect(back[1]!.data.toString()).toBe('hi\n');
    expect(back[1]!.mode).toBe(0o100755);
    expect(back[0]!.mode).toBe(0o040755);
    expect(back[4]!.data.toString()).toBe('bin/hello');
    expect(back[5]!.mode & 0o170000).toBe(0o020000);
    expect([back[5]!.rmajor, back[5]!.rminor]).toEqual([5, 1]);
  });

  it('refuses names that climb out', () => {
    expect(() => writeCpio([{ type: 'dir', name: '../x' }])).toThrow(/bad entry name/);
  });

  const cpio = findProgram('cpio');
  it.skipIf(!cpio)('is read by the cpio tool', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-cpio-'));
    try {
      writeFileSync(join(dir, 'a.cpio'), writeCpio(entries));
      const list = execFileSync(cpio!, ['-it', '--quiet', '-F', join(dir, 'a.cpio')], { encoding: 'utf8' });
      expect(list.trim().split('\n')).toEqual(['bin', 'bin/hello', 'init', 'empty', 'sh', 'console']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
