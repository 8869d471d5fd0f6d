// Whether this machine can boot gupsim's VMs: qemu, a C compiler and make, and the kernel packages
// of the release (cached, or Debian's apt lists to download them from). Tests that need a VM skip
// with this reason, printed; everything else about a VM that cannot boot is a failure.

import { execFileSync } from 'node:child_process';
import { findCompiler } from '../package.js';
import { cachedKernels } from './packages.js';
import { imageSearchPattern, newestKernel, type VmRelease } from './releases.js';
import { findProgram } from './tools.js';

/** Why a VM of `release` cannot be booted here (GUPSIM_SKIP_VM set, a tool or the packages missing), or undefined. */
export function vmUnavailableReason(release: VmRelease): string | undefined {
  if (process.env.GUPSIM_SKIP_VM) return 'GUPSIM_SKIP_VM is set';
  if (process.platform !== 'linux') return 'needs Linux';
  if (!findProgram('qemu-system-x86_64')) return 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)';
  if (!findCompiler()) return 'no C compiler (apt-get install gcc libc6-dev)';
  if (!findProgram('make')) return 'make not found (apt-get install make)';
  if (cachedKernels(release).length) return undefined;
  const aptCache = findProgram('apt-cache');
  if (!aptCache) return `Linux ${release} is not cached and there is no apt-cache to find it`;
  const out = execFileSync(aptCache, ['search', '--names-only', imageSearchPattern(release)], { encoding: 'utf8' });
  if (!newestKernel(release, out))
    return `no Linux ${release} packages in the apt lists (apt-get update; bookworm, bookworm-security)`;
  return undefined;
}
