import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { bzImagePayload, compressionOf, extractVmlinux, isElf } from './vmlinux.js';

/** A minimal bzImage: setup sectors, the header fields boot.rst documents, a payload. */
function bzImage(payload: Buffer, setupSects = 2, offset = 16): Buffer {
  const b = Buffer.alloc((setupSects + 1) * 512 + offset + payload.length);
  b[0x1f1] = setupSects;
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt32LE(offset, 0x248);
  b.writeUInt32LE(payload.length, 0x24c);
  payload.copy(b, (setupSects + 1) * 512 + offset);
  return b;
}

describe('vmlinux from a bzImage', () => {
  it('finds the payload and its compression', () => {
    const xz = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2, 3, 4]);
    const p = bzImagePayload(bzImage(xz))!;
    expect(p.compression).toBe('xz');
    expect(p.payload.equals(xz)).toBe(true);
    expect(compressionOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(bzImagePayload(Buffer.alloc(4096))).toBeUndefined();
  });

  it('decompresses a gzip payload to the ELF inside', async () => {
    const elf = Buffer.concat([Buffer.from([0x7f]), Buffer.from('ELF'), Buffer.alloc(60, 1)]);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(elf.length);
    const r = await extractVmlinux(bzImage(Buffer.concat([gzipSync(elf), size])));
    expect('elf' in r && isElf(r.elf)).toBe(true);
    const bad = await extractVmlinux(bzImage(Buffer.from('not compressed')));
    expect(bad).toEqual({ why: 'unknown payload compression' });
  });
});
