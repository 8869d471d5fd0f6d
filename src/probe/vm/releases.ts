// Which kernel a probe runs on: the host's own (the default, or `--kernel` naming the host's
// release), or a Debian kernel of another release booted in a throwaway qemu VM. For each VM
// release, how its packages are named in Debian's apt lists (bookworm: `linux-image-6.1.0-N-amd64`,
// `linux-image-6.12.N+deb12-amd64`), and which of them is the newest. Pure functions.

import { ProbeError } from '../errors.js';

/** The releases gupsim can boot in a VM. */
export const VM_RELEASES = ['6.1', '6.12'] as const;
export type VmRelease = (typeof VM_RELEASES)[number];

export type KernelChoice = { kind: 'host' } | { kind: 'vm'; release: VmRelease };

/** "6.18.0-1-amd64" -> "6.18". */
export function majorMinor(release: string): string {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return m ? `${m[1]}.${m[2]}` : release;
}

/**
 * What `--kernel REL` means: no flag, "host", or the host's own release -> the host; 6.1 / 6.12 ->
 * a VM. Anything else is a usage error naming the choices.
 */
export function parseKernelOption(value: string | undefined, hostRelease: string): KernelChoice {
  if (value === undefined || value === 'host' || value === majorMinor(hostRelease)) return { kind: 'host' };
  if ((VM_RELEASES as readonly string[]).includes(value)) return { kind: 'vm', release: value as VmRelease };
  if (value === '6.18') {
    throw new ProbeError(
      'ERR_PROBE_UNSUPPORTED',
      `--kernel 6.18 means this host's kernel, but the host runs ${hostRelease}; ` +
        `VM releases: ${VM_RELEASES.join(', ')}`,
    );
  }
  throw new ProbeError(
    'ERR_PROBE_UNSUPPORTED',
    `--kernel ${value}: expected ${VM_RELEASES.join(' or ')} (a Debian kernel in a qemu VM), or ` +
      `${majorMinor(hostRelease)} / host (this machine's kernel)`,
  );
}

/** apt-cache search patterns (POSIX regex) and a parser of the image package names of a release. */
const IMAGE: Record<VmRelease, { search: string; re: RegExp }> = {
  // linux-image-6.1.0-57-amd64 (ABI number 57; not -rt-, -cloud-, -dbg or -unsigned)
  '6.1': { search: '^linux-image-6\\.1\\.0-[0-9]+-amd64$', re: /^linux-image-(6\.1\.0-(\d+)-amd64)$/ },
  // linux-image-6.12.117+deb12-amd64 (upload 117 of the 6.12 backport)
  '6.12': {
    search: '^linux-image-6\\.12\\.[0-9]+\\+deb[0-9]+-amd64$',
    re: /^linux-image-(6\.12\.(\d+)\+deb\d+-amd64)$/,
  },
};

export function imageSearchPattern(release: VmRelease): string {
  return IMAGE[release].search;
}

/**
 * The newest kernel version of a release among `apt-cache search` output lines
 * ("linux-image-6.1.0-57-amd64 - Linux 6.1 for 64-bit PCs (signed)"), e.g. "6.1.0-57-amd64";
 * undefined when there is none. rt, cloud, dbg and unsigned flavours never match.
 */
export function newestKernel(release: VmRelease, searchOutput: string): string | undefined {
  let best: { kver: string; n: number } | undefined;
  for (const line of searchOutput.split('\n')) {
    const name = line.split(' ')[0]!.trim();
    const m = IMAGE[release].re.exec(name);
    if (!m) continue;
    const n = Number(m[2]);
    if (!best || n > best.n) best = { kver: m[1]!, n };
  }
  return best?.kver;
}

/** "6.12.117+deb12-amd64" -> "6.12.117+deb12" (the -common headers package's name part). */
export function kernelBase(kver: string): string {
  return kver.replace(/-amd64$/, '');
}

/** The packages a VM of kernel `kver` needs, given `apt-cache show linux-headers-<kver>`. */
export interface KernelPackages {
  image: string;
  headers: string;
  common: string;
  kbuild: string;
}

/**
 * Package names from the headers package's Depends: its -common headers and the kbuild package
 * (linux-kbuild-6.1, linux-kbuild-6.12.117+deb12). Throws when the record lacks them.
 */
export function kernelPackages(kver: string, headersShow: string): KernelPackages {
  const depends = /^Depends: (.*)$/m.exec(headersShow)?.[1] ?? '';
  const names = depends.split(/[,|]/).map((d) => d.trim().split(/[\s(]/)[0]!);
  const base = kernelBase(kver);
  const common = names.find((n) => n === `linux-headers-${base}-common`);
  const kbuild = names.find((n) => n.startsWith('linux-kbuild-'));
  if (!common || !kbuild) {
    throw new ProbeError(
      'ERR_PROBE_UNSUPPORTED',
      `linux-headers-${kver} does not depend on its -common headers and a linux-kbuild package ` +
        `(Depends: ${depends || 'none'})`,
    );
  }
  return { image: `linux-image-${kver}`, headers: `linux-headers-${kver}`, common, kbuild };
}

/** Sum of the `Size:` fields of `apt-cache show` records (bytes to download), 0 if none. */
export function downloadSize(showOutput: string): number {
  let total = 0;
  for (const m of showOutput.matchAll(/^Size: (\d+)$/gm)) total += Number(m[1]);
  return total;
}
