// The VM's initramfs: busybox, our /init, the static probe helper, gupsim's GUP module and (for an
// ext4 disk) the disk modules, as a newc cpio. /init mounts /proc, /sys, devtmpfs, tmpfs on /tmp
// and /dev/shm, loads the modules, mounts the disk on /mnt/disk when the command line has
// gupsim.disk=1, and becomes the helper on the second serial port (ttyS1). What it prints goes to
// the console (ttyS0) as "gupsim-init: ...".

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { writeCpio, type CpioEntry } from './cpio.js';

/** Where the guest keeps scenario files. */
export const GUEST_DISK_DIR = '/mnt/disk';
export const GUEST_TMPFS_DIR = '/dev/shm';
export const GUEST_HELPER = '/gupsim-helper';
export const GUEST_SERIAL = '/dev/ttyS1';

/** The guest's /init (busybox sh). */
export function initScript(diskModules: readonly string[]): string {
  return `#!/bin/busybox sh
# gupsim VM init (src/probe/vm/initramfs.ts): set up, then become the probe helper on ${GUEST_SERIAL}.
/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p ${GUEST_TMPFS_DIR}
mount -t tmpfs -o mode=1777 tmpfs ${GUEST_TMPFS_DIR}
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
if grep -q 'gupsim.disk=1' /proc/cmdline; then
  for m in ${diskModules.join(' ')}; do insmod /modules/$m || echo "gupsim-init: insmod $m failed"; done
  mkdir -p ${GUEST_DISK_DIR}
  mount -t ext4 /dev/vda ${GUEST_DISK_DIR} && chmod 1777 ${GUEST_DISK_DIR} ||
    echo "gupsim-init: mounting the ext4 disk failed"
fi
insmod /gupsim_gup.ko || echo "gupsim-init: insmod gupsim_gup.ko failed"
echo "gupsim-init: ready after $(cut -d' ' -f1 /proc/uptime) s"
exec ${GUEST_HELPER} --serial ${GUEST_SERIAL}
`;
}

export interface InitramfsParts {
  busybox: string;
  helper: string;
  module: string;
  /** Disk modules in load order (files). */
  diskModules?: readonly string[];
}

/** The initramfs, uncompressed (the kernel unpacks it fastest so, and it is only a few MiB). */
export function buildInitramfs(p: InitramfsParts): Buffer {
  const mods = p.diskModules ?? [];
  const entries: CpioEntry[] = [
    { type: 'dir', name: 'bin' },
    { type: 'dir', name: 'dev' },
    { type: 'chardev', name: 'dev/console', major: 5, minor: 1 },
    { type: 'chardev', name: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { type: 'dir', name: 'proc' },
    { type: 'dir', name: 'sys' },
    { type: 'dir', name: 'tmp', mode: 0o1777 },
    { type: 'dir', name: 'mnt' },
    { type: 'file', name: 'bin/busybox', data: readFileSync(p.busybox), mode: 0o755 },
    { type: 'file', name: 'init', data: Buffer.from(initScript(mods.map((m) => basename(m)))), mode: 0o755 },
    { type: 'file', name: GUEST_HELPER.slice(1), data: readFileSync(p.helper), mode: 0o755 },
    { type: 'file', name: 'gupsim_gup.ko', data: readFileSync(p.module) },
  ];
  if (mods.length) {
    entries.push({ type: 'dir', name: 'modules' });
    for (const m of mods) entries.push({ type: 'file', name: `modules/${basename(m)}`, data: readFileSync(m) });
  }
  return writeCpio(entries);
}
