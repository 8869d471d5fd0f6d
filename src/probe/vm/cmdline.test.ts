import { describe, it, expect } from 'vitest';
import { bootConfig, diskBytesNeeded, qemuArgs } from './cmdline.js';
import { loadScenario } from '../../scenario/load.js';

const sc = (yaml: string) => loadScenario(yaml, 'test.yaml');

describe('VM boot configuration', () => {
  it('defaults: 1 GiB, THP madvise, panic on oops, console on ttyS0, no disk', () => {
    const b = bootConfig(sc('steps: []'));
    expect(b.memoryMiB).toBe(1024);
    expect(b.cmdline).toBe(
      'console=ttyS0 loglevel=4 panic=-1 oops=panic tsc=reliable rdinit=/init transparent_hugepage=madvise',
    );
    expect(b.diskBytes).toBe(0);
    expect(b.notes).toEqual([]);
  });

  it('follows the machine: memory, movable zone, hugetlb pools, THP policy', () => {
    const b = bootConfig(
      sc('machine: { memory: 4GiB, movable: 1GiB, thp: always, hugetlb: { 2M: 8, 1G: 1 } }\nsteps: []'),
    );
    expect(b.memoryMiB).toBe(4096 + 2 * 1024 + 16);
    expect(b.cmdline).toContain('movablecore=1024M');
    expect(b.cmdline).toContain('hugepagesz=2M hugepages=8 hugepagesz=1G hugepages=1');
    expect(b.cmdline).toContain('transparent_hugepage=always');
  });

  it('small machines get 1 GiB (the kernel turns THP off below 512 MiB), big pools more memory, with notes', () => {
    const small = bootConfig(sc('machine: { memory: 256MiB }\nsteps: []'));
    expect(small.memoryMiB).toBe(1024);
    expect(small.notes[0]).toMatch(/256 MiB.*1024 MiB/);
    const pools = bootConfig(sc('machine: { memory: 1GiB, hugetlb: { 1G: 1 } }\nsteps: []'));
    expect(pools.memoryMiB).toBe(3072);
    expect(pools.notes.join()).toMatch(/hugetlb/);
    const cma = bootConfig(sc('machine: { cma: 64MiB, pmem: 64MiB }\nsteps: []'));
    expect(cma.notes.join('\n')).toMatch(/CONFIG_CMA[\s\S]*persistent memory/);
  });

  it('a disk for files on a disk file system (the default fs), sized with room for ext4', () => {
    const s = sc(`steps:
  - { op: create_file, as: f, size: 8MiB }
  - { op: create_file, as: g, size: 100MiB, fs: disk }
  - { op: create_file, as: t, size: 1GiB, fs: tmpfs }`);
    expect(diskBytesNeeded(s)).toBe((2 * 108 + 32) * (1 << 20));
    expect(bootConfig(s).cmdline).toContain('gupsim.disk=1');
    expect(diskBytesNeeded(sc('steps: [{ op: create_file, as: t, size: 4KiB, fs: tmpfs }]'))).toBe(0);
    expect(diskBytesNeeded(sc('steps: [{ op: create_file, as: f, size: 4KiB }]'))).toBe(64 << 20);
  });

  it('qemu: TCG, one CPU, the console on stdio, the helper on a second serial port, the disk on virtio', () => {
    const a = qemuArgs({ kernel: '/k', initrd: '/i', cmdline: 'c', memoryMiB: 1024, socket: '/s', disk: '/d' });
    expect(a.join(' ')).toContain('-accel tcg');
    expect(a.join(' ')).toContain('-smp 1 -m 1024M');
    expect(a.join(' ')).toContain('-kernel /k -initrd /i -append c');
    expect(a.join(' ')).toContain('-serial stdio -chardev socket,id=gupsim,path=/s -serial chardev:gupsim');
    expect(a.join(' ')).toContain('-drive file=/d,if=virtio,format=raw');
    expect(a).toContain('-no-reboot');
    expect(
      qemuArgs({ kernel: '/k', initrd: '/i', cmdline: 'c', memoryMiB: 1024, socket: '/s' }).join(' '),
    ).not.toContain('-drive');
  });
});
