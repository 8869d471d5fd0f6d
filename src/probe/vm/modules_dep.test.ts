import { describe, it, expect } from 'vitest';
import { loadOrder, moduleName, parseModulesDep, DISK_MODULES } from './modules_dep.js';

// As depmod writes it for Debian's 6.12 (virtio_pci built in) and 6.1 (a module).
const DEP =
  [
    'kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz kernel/lib/crc16.ko.xz',
    'kernel/fs/jbd2/jbd2.ko.xz:',
    'kernel/fs/mbcache.ko.xz:',
    'kernel/lib/crc16.ko.xz:',
    'kernel/crypto/crc32c_generic.ko.xz:',
    'kernel/drivers/block/virtio_blk.ko.xz:',
    'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko ' +
      'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
    'kernel/drivers/virtio/virtio_pci_legacy_dev.ko:',
    'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
  ].join('\n') + '\n';

describe('modules.dep', () => {
  it('names modules as modprobe does', () => {
    expect(moduleName('kernel/fs/ext4/ext4.ko.xz')).toBe('ext4');
    expect(moduleName('kernel/crypto/crc32c-generic.ko')).toBe('crc32c_generic');
  });

  it('loads dependencies first, each once; built-in modules are skipped', () => {
    const dep = parseModulesDep(DEP);
    const { files, missing } = loadOrder(DISK_MODULES, dep, 'kernel/drivers/virtio/virtio.ko\n');
    expect(files).toEqual([
      'kernel/drivers/virtio/virtio_pci_legacy_dev.ko',
      'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
      'kernel/drivers/virtio/virtio_pci.ko',
      'kernel/drivers/block/virtio_blk.ko.xz',
      'kernel/crypto/crc32c_generic.ko.xz',
      'kernel/fs/jbd2/jbd2.ko.xz',
      'kernel/fs/mbcache.ko.xz',
      'kernel/lib/crc16.ko.xz',
      'kernel/fs/ext4/ext4.ko.xz',
    ]);
    expect(missing).toEqual([]);
    const no = loadOrder(['virtio_pci', 'nosuch'], new Map(), 'kernel/drivers/virtio/virtio_pci.ko\n');
    expect(no).toEqual({ files: [], missing: ['nosuch'] });
  });
});
