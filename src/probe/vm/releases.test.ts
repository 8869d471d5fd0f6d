import { describe, it, expect } from 'vitest';
import { downloadSize, kernelBase, kernelPackages, majorMinor, newestKernel, parseKernelOption } from './releases.js';
import { ProbeError } from '../errors.js';

const SEARCH_61 = `linux-image-6.1.0-47-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-57-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-9-amd64 - Linux 6.1 for 64-bit PCs (signed)
linux-image-6.1.0-57-rt-amd64 - Linux 6.1 for 64-bit PCs, PREEMPT_RT (signed)
linux-image-6.1.0-58-cloud-amd64 - Linux 6.1 for x86-64 cloud (signed)
linux-image-6.1.0-59-amd64-dbg - Debug symbols for linux-image-6.1.0-59-amd64
linux-image-6.1.0-60-amd64-unsigned - Linux 6.1 for 64-bit PCs
`;
const SEARCH_612 = `linux-image-6.12.115+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.117+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.99+deb12-amd64 - Linux 6.12 for 64-bit PCs (signed)
linux-image-6.12.120+deb12-rt-amd64 - Linux 6.12 for 64-bit PCs, PREEMPT_RT (signed)
linux-image-6.12.121+deb12-cloud-amd64 - Linux 6.12 for x86-64 cloud (signed)
`;

describe('kernel releases', () => {
  it('--kernel: host by default, by name and by its own release; VMs for 6.1 and 6.12', () => {
    expect(parseKernelOption(undefined, '6.18.0-1-amd64')).toEqual({ kind: 'host' });
    expect(parseKernelOption('host', '6.18.0-1-amd64')).toEqual({ kind: 'host' });
    expect(parseKernelOption('6.18', '6.18.0-1-amd64')).toEqual({ kind: 'host' });
    expect(parseKernelOption('6.1', '6.18.0-1-amd64')).toEqual({ kind: 'vm', release: '6.1' });
    expect(parseKernelOption('6.12', '6.18.0-1-amd64')).toEqual({ kind: 'vm', release: '6.12' });
    expect(() => parseKernelOption('5.10', '6.18.0')).toThrow(ProbeError);
    expect(() => parseKernelOption('6.18', '6.12.3')).toThrow(/host runs 6.12.3/);
    expect(majorMinor('6.12.117+deb12-amd64')).toBe('6.12');
  });

  it('picks the newest generic amd64 image (numerically, not rt/cloud/dbg/unsigned)', () => {
    expect(newestKernel('6.1', SEARCH_61)).toBe('6.1.0-57-amd64');
    expect(newestKernel('6.12', SEARCH_612)).toBe('6.12.117+deb12-amd64');
    expect(newestKernel('6.12', SEARCH_61)).toBeUndefined();
    expect(newestKernel('6.1', '')).toBeUndefined();
    expect(kernelBase('6.12.117+deb12-amd64')).toBe('6.12.117+deb12');
  });

  it("finds the -common headers and kbuild packages in the headers' Depends", () => {
    const h61 =
      'Package: linux-headers-6.1.0-57-amd64\nVersion: 6.1.192-3\n' +
      'Depends: linux-headers-6.1.0-57-common (= 6.1.192-3), linux-kbuild-6.1 (>= 6.1.192-3), ' +
      'linux-compiler-gcc-12-x86\nSize: 1841556\n';
    expect(kernelPackages('6.1.0-57-amd64', h61)).toEqual({
      image: 'linux-image-6.1.0-57-amd64',
      headers: 'linux-headers-6.1.0-57-amd64',
      common: 'linux-headers-6.1.0-57-common',
      kbuild: 'linux-kbuild-6.1',
    });
    const h612 =
      'Depends: linux-base (>= 4.12~), linux-headers-6.12.117+deb12-common (= 6.12.117-1~deb12u1), ' +
      'linux-image-6.12.117+deb12-amd64 (= 6.12.117-1~deb12u1) | ' +
      'linux-image-6.12.117+deb12-amd64-unsigned (= 6.12.117-1~deb12u1), linux-kbuild-6.12.117+deb12, gcc-12\n';
    const p = kernelPackages('6.12.117+deb12-amd64', h612);
    expect(p.common).toBe('linux-headers-6.12.117+deb12-common');
    expect(p.kbuild).toBe('linux-kbuild-6.12.117+deb12');
    expect(() => kernelPackages('6.1.0-57-amd64', 'Depends: gcc-12\n')).toThrow(/does not depend/);
  });

  it('adds up the download sizes', () => {
    expect(downloadSize('Size: 10\nPackage: a\nSize: 32\n')).toBe(42);
    expect(downloadSize('')).toBe(0);
  });
});
