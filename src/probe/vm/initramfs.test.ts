import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildInitramfs, initScript } from './initramfs.js';
import { readCpio } from './cpio.js';

describe('the VM initramfs', () => {
  it('/init mounts what the helper needs, loads the modules, then becomes the helper on ttyS1', () => {
    const s = initScript(['jbd2.ko', 'ext4.ko']);
    expect(s.startsWith('#!/bin/busybox sh\n')).toBe(true);
    expect(s).toContain('mount -t devtmpfs devtmpfs /dev');
    expect(s).toContain('mount -t tmpfs -o mode=1777 tmpfs /dev/shm');
    expect(s).toContain('for m in jbd2.ko ext4.ko; do insmod /modules/$m');
    expect(s).toContain('mount -t ext4 /dev/vda /mnt/disk');
    expect(s.indexOf('insmod /gupsim_gup.ko')).toBeLessThan(s.indexOf('exec /gupsim-helper --serial /dev/ttyS1'));
  });

  it('holds busybox, /init, the helper, the module, a console node and the disk modules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-initramfs-'));
    try {
      for (const f of ['busybox', 'helper', 'gupsim_gup.ko', 'ext4.ko']) writeFileSync(join(dir, f), f);
      const entries = readCpio(
        buildInitramfs({
          busybox: join(dir, 'busybox'),
          helper: join(dir, 'helper'),
          module: join(dir, 'gupsim_gup.ko'),
          diskModules: [join(dir, 'ext4.ko')],
        }),
      );
      const byName = new Map(entries.map((e) => [e.name, e]));
      expect(byName.get('bin/busybox')!.mode).toBe(0o100755);
      expect(byName.get('init')!.data.toString()).toContain('exec /gupsim-helper');
      expect(byName.get('gupsim-helper')!.data.toString()).toBe('helper');
      expect(byName.get('gupsim_gup.ko')!.data.toString()).toBe('gupsim_gup.ko');
      expect(byName.get('modules/ext4.ko')!.data.toString()).toBe('ext4.ko');
      expect([byName.get('dev/console')!.rmajor, byName.get('dev/console')!.rminor]).toEqual([5, 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
