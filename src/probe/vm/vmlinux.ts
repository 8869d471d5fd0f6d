// The ELF vmlinux inside a bzImage (Documentation/arch/x86/boot.rst: setup_sects at 0x1f1,
// payload_offset / payload_length at 0x248 / 0x24c, relative to the protected-mode code after the
// setup sectors). qemu boots an ELF vmlinux through its PVH entry point, which skips the kernel's
// own decompression under emulation (about 2 s for Debian's XZ-compressed 6.1).

import { gunzipSync } from 'node:zlib';
import { run } from './tools.js';
import { findProgram } from './tools.js';

export type Compression = 'xz' | 'zstd' | 'gzip' | 'unknown';

/** Where the compressed kernel is in a bzImage, and how it is compressed. */
export function bzImagePayload(image: Buffer): { payload: Buffer; compression: Compression } | undefined {
  if (image.length < 0x250 || image.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  const setupSects = image[0x1f1] || 4;
  const offset = image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  const start = (setupSects + 1) * 512 + offset;
  if (length === 0 || start + length > image.length) return undefined;
  const payload = image.subarray(start, start + length);
  return { payload, compression: compressionOf(payload) };
}

export function compressionOf(b: Buffer): Compression {
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  return 'unknown';
}

export function isElf(b: Buffer): boolean {
  return b.length > 4 && b[0] === 0x7f && b.toString('latin1', 1, 4) === 'ELF';
}

/**
 * The decompressed ELF vmlinux of a bzImage, or a reason it could not be made (then the bzImage is
 * booted instead). The kernel build appends the uncompressed size (4 bytes) to xz and zstd
 * payloads: it is cut off before decompressing.
 */
export async function extractVmlinux(image: Buffer): Promise<{ elf: Buffer } | { why: string }> {
  const p = bzImagePayload(image);
  if (!p) return { why: 'not a bzImage with a payload' };
  const body = p.payload.subarray(0, p.payload.length - 4);
  let elf: Buffer;
  if (p.compression === 'gzip') {
    try {
      elf = gunzipSync(body);
    } catch (e) {
      return { why: `gunzip: ${(e as Error).message}` };
    }
  } else if (p.compression === 'xz' || p.compression === 'zstd') {
    const tool = findProgram(p.compression);
    if (!tool)
      return { why: `${p.compression} not found (apt-get install ${p.compression === 'xz' ? 'xz-utils' : 'zstd'})` };
    const args = p.compression === 'xz' ? ['-dc'] : ['-dcq', '--long=31'];
    const r = await run(tool, args, { input: body, binary: true, timeoutMs: 120_000 });
    elf = r.stdout;
  } else {
    return { why: 'unknown payload compression' };
  }
  return isElf(elf) ? { elf } : { why: `the ${p.compression} payload did not decompress to an ELF file` };
}
