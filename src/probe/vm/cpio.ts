// A newc ("070701") cpio archive, the format the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte ASCII header of
// thirteen 8-digit hex fields, the NUL-terminated name, padding to 4 bytes, the data, padding to 4
// bytes; then the TRAILER!!! entry. Pure: entries in, bytes out.

export type CpioEntry =
  | { type: 'dir'; name: string; mode?: number }
  | { type: 'file'; name: string; data: Buffer; mode?: number }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'chardev'; name: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  rmajor?: number;
  rminor?: number;
  namesize: number;
}): string {
  return (
    '070701' +
    [
      fields.ino,
      fields.mode,
      0 /* uid */,
      0 /* gid */,
      fields.nlink,
      0 /* mtime */,
      fields.size,
      0 /* devmajor */,
      0 /* devminor */,
      fields.rmajor ?? 0,
      fields.rminor ?? 0,
      fields.namesize,
      0 /* check */,
    ]
      .map(hex8)
      .join('')
  );
}

/** The archive of `entries` (names without a leading slash; parents before children). */
export function writeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const entry = (
    name: string,
    mode: number,
    data: Buffer,
    ino: number,
    nlink: number,
    rdev?: { major: number; minor: number },
  ) => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    push(
      Buffer.from(
        header({
          ino,
          mode,
          nlink,
          size: data.length,
          rmajor: rdev?.major,
          rminor: rdev?.minor,
          namesize: nameBytes.length,
        }),
        'latin1',
      ),
    );
    push(nameBytes);
    push(Buffer.alloc(pad4(offset)));
    if (data.length) {
      push(data);
      push(Buffer.alloc(pad4(offset)));
    }
  };
  let ino = 1;
  for (const e of entries) {
    const name = e.name.replace(/^\/+/, '');
    if (!name || name.split('/').includes('..')) throw new Error(`cpio: bad entry name ${JSON.stringify(e.name)}`);
    switch (e.type) {
      case 'dir':
        entry(name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), ino++, 2);
        break;
      case 'file':
        entry(name, S_IFREG | (e.mode ?? 0o644), e.data, ino++, 1);
        break;
      case 'symlink':
        entry(name, S_IFLNK | 0o777, Buffer.from(e.target, 'utf8'), ino++, 1);
        break;
      case 'chardev':
        entry(name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), ino++, 1, { major: e.major, minor: e.minor });
        break;
    }
  }
  entry('TRAILER!!!', 0, Buffer.alloc(0), 0, 1);
  return Buffer.concat(parts);
}

/** Read a newc archive back (for tests): names, modes, data. */
export function readCpio(
  b: Buffer,
): Array<{ name: string; mode: number; data: Buffer; rmajor: number; rminor: number }> {
  const out: Array<{ name: string; mode: number; data: Buffer; rmajor: number; rminor: number }> = [];
  let off = 0;
  for (;;) {
    if (b.toString('latin1', off, off + 6) !== '070701') throw new Error(`cpio: bad magic at ${off}`);
    const f = (i: number) => parseInt(b.toString('latin1', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = f(1);
    const size = f(6);
    const rmajor = f(9);
    const rminor = f(10);
    const namesize = f(11);
    const name = b.toString('utf8', off + 110, off + 110 + namesize - 1);
    off += 110 + namesize;
    off += pad4(off);
    const data = b.subarray(off, off + size);
    off += size;
    off += pad4(off);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode, data, rmajor, rminor });
  }
}
