// Debian's kernel of a release, ready to boot and to build modules against, in the VM cache:
// the newest linux-image-<release> of the apt lists with its headers, -common headers and kbuild
// packages, fetched with `apt-get download` (no install), unpacked with `dpkg-deb -x`, pruned to
// what the VM needs (the kernel, its config, the headers and kbuild tree, the disk modules) and
// moved into $cache/<release>/<kver> in one rename. A cached kernel serves later runs offline.
//
// Also busybox for the initramfs: the host's /bin/busybox when it is statically linked (package
// busybox-static), else Debian's busybox-static package, downloaded into the cache the same way.

import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { ProbeError } from '../errors.js';
import { cachedEntry, vmCacheRoot } from './cache.js';
import { DISK_MODULES, loadOrder, parseModulesDep } from './modules_dep.js';
import { SILENT, type VmProgress } from './progress.js';
import {
  downloadSize,
  imageSearchPattern,
  kernelBase,
  kernelPackages,
  newestKernel,
  type VmRelease,
} from './releases.js';
import { findProgram, requireProgram, run, runOk } from './tools.js';
import { extractVmlinux } from './vmlinux.js';

/** A kernel in the cache. */
export interface KernelTree {
  release: VmRelease;
  /** "6.12.117+deb12-amd64" */
  kver: string;
  dir: string;
  /** The bzImage. */
  vmlinuz: string;
  /** The ELF vmlinux for a PVH boot, when it could be extracted. */
  vmlinux?: string;
  config: string;
  /** The flavour headers (make -C here). */
  headers: string;
  /** The -common headers the flavour Makefile includes. */
  common: string;
  /** Disk modules (virtio-blk, ext4 and dependencies) in load order, decompressed; undefined without depmod. */
  diskModules?: string[];
  /** Why there are no disk modules. */
  diskWhy?: string;
  /** Debian package version of the image. */
  version: string;
}

interface TreeInfo {
  release: VmRelease;
  kver: string;
  version: string;
  packages: string[];
  vmlinux: boolean;
  vmlinuxWhy?: string;
  diskModules?: string[];
  diskWhy?: string;
}

const INFO = 'kernel.json';

function treeFromDir(dir: string): KernelTree | undefined {
  let info: TreeInfo;
  try {
    info = JSON.parse(readFileSync(join(dir, INFO), 'utf8')) as TreeInfo;
  } catch {
    return undefined;
  }
  const kver = info.kver;
  const tree: KernelTree = {
    release: info.release,
    kver,
    dir,
    vmlinuz: join(dir, 'root', 'boot', `vmlinuz-${kver}`),
    config: join(dir, 'root', 'boot', `config-${kver}`),
    headers: join(dir, 'root', 'usr', 'src', `linux-headers-${kver}`),
    common: join(dir, 'root', 'usr', 'src', `linux-headers-${kernelBase(kver)}-common`),
    version: info.version,
  };
  if (info.vmlinux) tree.vmlinux = join(dir, 'vmlinux');
  if (info.diskModules) tree.diskModules = info.diskModules.map((m) => join(dir, 'disk', m));
  if (info.diskWhy) tree.diskWhy = info.diskWhy;
  return existsSync(tree.vmlinuz) ? tree : undefined;
}

/** The kernels of a release already in the cache, newest first. */
export function cachedKernels(release: VmRelease, root = vmCacheRoot()): KernelTree[] {
  const dir = join(root, release);
  if (!existsSync(dir)) return [];
  const out: KernelTree[] = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    const t = treeFromDir(join(dir, name));
    if (t) out.push(t);
  }
  const num = (k: string) => Number(/^6\.\d+\.(?:0-)?(\d+)/.exec(k)?.[1] ?? 0);
  return out.sort((a, b) => num(b.kver) - num(a.kver));
}

/** Whether this process may download: apt-get download as root runs unsandboxed (the cache is root's). */
function aptOptions(): string[] {
  return typeof process.getuid === 'function' && process.getuid() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
}

/** The newest kernel of the release in the apt lists, and its packages. */
async function selectKernel(
  release: VmRelease,
): Promise<{ kver: string; packages: string[]; bytes: number; version: string }> {
  const aptCache = requireProgram('apt-cache', `to find Debian's Linux ${release} packages`);
  const search = await runOk('apt-cache search', aptCache, ['search', '--names-only', imageSearchPattern(release)], {
    timeoutMs: 60_000,
  });
  const kver = newestKernel(release, search.stdout.toString('utf8'));
  if (!kver) {
    throw new ProbeError(
      'ERR_PROBE_UNSUPPORTED',
      `no linux-image package of Linux ${release} in the apt lists: add Debian bookworm (and bookworm-security / ` +
        'bookworm-backports for 6.12) to the apt sources and run apt-get update',
    );
  }
  const headersShow = await runOk(
    `apt-cache show linux-headers-${kver}`,
    aptCache,
    ['show', '--no-all-versions', `linux-headers-${kver}`],
    { timeoutMs: 60_000 },
  );
  const pk = kernelPackages(kver, headersShow.stdout.toString('utf8'));
  const packages = [pk.image, pk.headers, pk.common, pk.kbuild];
  const show = await run(aptCache, ['show', '--no-all-versions', ...packages], { timeoutMs: 60_000 });
  const text = show.stdout.toString('utf8');
  const version = /^Version: (\S+)$/m.exec(text)?.[1] ?? '';
  return { kver, packages, bytes: downloadSize(text), version };
}

/** apt-get download `packages` into dir, with progress from the bytes that arrive. */
async function download(
  packages: string[],
  dir: string,
  bytes: number,
  progress: VmProgress,
  what: string,
): Promise<void> {
  const aptGet = requireProgram('apt-get', `to download ${what}`);
  progress.phase(
    `downloading ${what} (${packages.length} package${packages.length > 1 ? 's' : ''}` +
      `${bytes ? `, ${Math.round(bytes / 1e6)} MB` : ''})`,
  );
  const timer = setInterval(() => progress.update(dirBytes(dir), bytes), 250);
  try {
    await runOk(`apt-get download ${packages.join(' ')}`, aptGet, [...aptOptions(), 'download', '-q', ...packages], {
      cwd: dir,
      timeoutMs: 30 * 60_000,
    });
  } catch (e) {
    throw new ProbeError(
      'ERR_PROBE_UNSUPPORTED',
      `${(e as Error).message} (is the apt registry reachable? try apt-get update)`,
    );
  } finally {
    clearInterval(timer);
    progress.end();
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      try {
        const st = statSync(join(d, name));
        if (st.isDirectory()) walk(join(d, name));
        else n += st.size;
      } catch {
        /* being renamed */
      }
    }
  };
  try {
    walk(dir);
  } catch {
    /* gone */
  }
  return n;
}

async function unpack(debs: string, root: string): Promise<void> {
  const dpkgDeb = requireProgram('dpkg-deb', 'to unpack Debian packages');
  for (const f of readdirSync(debs)
    .filter((n) => n.endsWith('.deb'))
    .sort()) {
    await runOk(`dpkg-deb -x ${f}`, dpkgDeb, ['-x', join(debs, f), root], { timeoutMs: 10 * 60_000 });
  }
}

/**
 * The disk modules (virtio-blk, ext4 and their dependencies, in load order) copied decompressed
 * into `out`, found with depmod's modules.dep. Returns their file names, or why there are none.
 */
async function diskModules(root: string, kver: string, out: string): Promise<{ files?: string[]; why?: string }> {
  const depmod = findProgram('depmod');
  if (!depmod) return { why: 'depmod not found (apt-get install kmod): ext4 disks are not available' };
  const mods = join(root, 'lib', 'modules', kver);
  await runOk('depmod', depmod, ['-b', root, kver], { timeoutMs: 120_000 });
  const dep = parseModulesDep(readFileSync(join(mods, 'modules.dep'), 'utf8'));
  const builtin = existsSync(join(mods, 'modules.builtin')) ? readFileSync(join(mods, 'modules.builtin'), 'utf8') : '';
  const { files, missing } = loadOrder(DISK_MODULES, dep, builtin);
  if (missing.includes('virtio_blk') || missing.includes('ext4'))
    return { why: `the kernel has no ${missing.join(', ')} module` };
  mkdirSync(out, { recursive: true });
  const names: string[] = [];
  for (const rel of files) {
    const src = join(mods, rel);
    const name = rel.slice(rel.lastIndexOf('/') + 1).replace(/\.(xz|zst|gz)$/, '');
    if (rel.endsWith('.xz') || rel.endsWith('.zst')) {
      const tool = requireProgram(rel.endsWith('.xz') ? 'xz' : 'zstd', 'to decompress kernel modules');
      const r = await runOk(`decompressing ${rel}`, tool, ['-dc', src], { timeoutMs: 60_000 });
      writeFileSync(join(out, name), r.stdout);
    } else if (rel.endsWith('.gz')) {
      const { gunzipSync } = await import('node:zlib');
      writeFileSync(join(out, name), gunzipSync(readFileSync(src)));
    } else {
      copyFileSync(src, join(out, name));
    }
    names.push(name);
  }
  return { files: names };
}

/** Keep what the VM needs: boot/, the headers and kbuild trees, the modules' metadata. */
function prune(root: string, kver: string): void {
  for (const name of readdirSync(root))
    if (!['boot', 'usr', 'lib'].includes(name)) rmSync(join(root, name), { recursive: true, force: true });
  const mods = join(root, 'lib', 'modules', kver);
  for (const name of existsSync(mods) ? readdirSync(mods) : [])
    if (!name.startsWith('modules.')) rmSync(join(mods, name), { recursive: true, force: true });
  for (const name of readdirSync(join(root, 'usr')))
    if (!['src', 'lib'].includes(name)) rmSync(join(root, 'usr', name), { recursive: true, force: true });
  // The BTF base; the module build skips BTF without it.
  rmSync(join(root, 'usr', 'src', `linux-headers-${kver}`, 'vmlinux'), { force: true });
}

/**
 * Debian's newest kernel of `release`, from the cache or downloaded into it. Throws
 * ERR_PROBE_UNSUPPORTED with what to do when apt or the download fails.
 */
export async function ensureKernel(
  release: VmRelease,
  progress: VmProgress = SILENT,
  root = vmCacheRoot(),
): Promise<KernelTree> {
  const have = cachedKernels(release, root)[0];
  if (have) return have;
  const sel = await selectKernel(release);
  const dir = await cachedEntry(join(root, release, sel.kver), async (tmp) => {
    const debs = join(tmp, 'debs');
    const rootDir = join(tmp, 'root');
    mkdirSync(debs);
    mkdirSync(rootDir);
    await download(sel.packages, debs, sel.bytes, progress, `Linux ${release} (${sel.kver})`);
    progress.phase(`unpacking Linux ${release}`);
    await unpack(debs, rootDir);
    rmSync(debs, { recursive: true, force: true });
    const disk = await diskModules(rootDir, sel.kver, join(tmp, 'disk'));
    prune(rootDir, sel.kver);
    progress.phase(`extracting the ELF vmlinux of Linux ${release} (for a faster boot)`);
    const ex = await extractVmlinux(readFileSync(join(rootDir, 'boot', `vmlinuz-${sel.kver}`)));
    if ('elf' in ex) writeFileSync(join(tmp, 'vmlinux'), ex.elf);
    progress.end();
    const info: TreeInfo = {
      release,
      kver: sel.kver,
      version: sel.version,
      packages: sel.packages,
      vmlinux: 'elf' in ex,
      ...('why' in ex ? { vmlinuxWhy: ex.why } : {}),
      ...(disk.files ? { diskModules: disk.files } : { diskWhy: disk.why }),
    };
    writeFileSync(join(tmp, INFO), JSON.stringify(info, null, 2) + '\n');
  });
  const tree = treeFromDir(dir);
  if (!tree)
    throw new ProbeError('ERR_PROBE_UNSUPPORTED', `the cached kernel in ${dir} is incomplete: remove it and run again`);
  return tree;
}

/** A statically linked busybox for the initramfs. */
export async function ensureBusybox(progress: VmProgress = SILENT, root = vmCacheRoot()): Promise<string> {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) if (isStaticElf(p)) return p;
  const dir = await cachedEntry(join(root, 'busybox-static'), async (tmp) => {
    const aptCache = requireProgram('apt-cache', 'to find busybox-static');
    const show = await run(aptCache, ['show', '--no-all-versions', 'busybox-static'], { timeoutMs: 60_000 });
    if (show.code !== 0)
      throw new ProbeError(
        'ERR_PROBE_UNSUPPORTED',
        'busybox-static is not in the apt lists: apt-get update, or apt-get install busybox-static',
      );
    await download(['busybox-static'], tmp, downloadSize(show.stdout.toString('utf8')), progress, 'busybox-static');
    await unpack(tmp, join(tmp, 'root'));
    copyFileSync(join(tmp, 'root', 'bin', 'busybox'), join(tmp, 'busybox'));
    for (const name of readdirSync(tmp))
      if (name !== 'busybox') rmSync(join(tmp, name), { recursive: true, force: true });
  });
  return join(dir, 'busybox');
}

/** An ELF executable without a program interpreter (PT_INTERP): statically linked. */
export function isStaticElf(path: string): boolean {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch {
    return false;
  }
  if (b.length < 64 || b[0] !== 0x7f || b.toString('latin1', 1, 4) !== 'ELF' || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > b.length) return false;
    if (b.readUInt32LE(off) === 3) return false; // PT_INTERP
  }
  return true;
}
