// What the VM runs that gupsim builds: our GUP module (vm/module/) against a cached kernel's headers
// with the compiler the kernel was built with (Debian: gcc-12), and the probe helper
// (src/probe/helper.c) linked statically for the guest, which has no libc. Both are cached under a
// hash of their sources, so an edited source is rebuilt and an unchanged one never is.

import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProbeError } from '../errors.js';
import { findCompiler, packageRoot } from '../package.js';
import { cachedEntry, vmCacheRoot } from './cache.js';
import type { KernelTree } from './packages.js';
import { SILENT, type VmProgress } from './progress.js';
import { kernelBase } from './releases.js';
import { findProgram, requireProgram, runOk } from './tools.js';

/** The module's sources, relative to the package root. */
export const MODULE_SOURCES = ['vm/module/gupsim_gup.c', 'vm/module/gupsim_gup.h', 'vm/module/Kbuild'];
/** The helper's sources (helper.c includes the module's user-space interface). */
export const HELPER_SOURCES = ['src/probe/helper.c', 'vm/module/gupsim_gup.h'];

function sourcesHash(files: string[], extra = ''): string {
  const h = createHash('sha256').update(extra);
  for (const f of files) {
    const p = join(packageRoot(), f);
    if (!existsSync(p)) throw new ProbeError('ERR_PROBE_UNSUPPORTED', `${p} is missing (gupsim's VM sources)`);
    h.update(f).update(readFileSync(p));
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * Point the flavour headers' Makefile at the -common headers where they are now: Debian's says
 * `include /usr/src/linux-headers-<base>-common/Makefile`, an absolute path of the installed package.
 */
export function fixFlavourMakefile(text: string, kver: string, commonDir: string): string {
  const base = kernelBase(kver).replace(/[.+]/g, '\\$&');
  return text.replace(
    new RegExp(`^include\\s+\\S*/linux-headers-${base}-common/Makefile[ \\t]*$`, 'm'),
    `include ${commonDir}/Makefile`,
  );
}

/** gupsim_gup.ko for this kernel, built if needed. */
export async function ensureModule(tree: KernelTree, progress: VmProgress = SILENT): Promise<string> {
  const hash = sourcesHash(MODULE_SOURCES, tree.kver);
  const dir = await cachedEntry(join(tree.dir, `module-${hash}`), async (tmp) => {
    const make = requireProgram('make', "to build gupsim's GUP module");
    const cc = findProgram('gcc-12') ?? findCompiler();
    if (!cc)
      throw new ProbeError(
        'ERR_PROBE_UNSUPPORTED',
        `no C compiler to build gupsim's GUP module for Linux ${tree.release}: apt-get install gcc-12`,
      );
    progress.phase(`building gupsim's GUP module for Linux ${tree.kver}`);
    const mf = join(tree.headers, 'Makefile');
    const text = readFileSync(mf, 'utf8');
    const fixed = fixFlavourMakefile(text, tree.kver, tree.common);
    if (fixed !== text) writeFileSync(mf, fixed);
    for (const f of MODULE_SOURCES) copyFileSync(join(packageRoot(), f), join(tmp, f.slice(f.lastIndexOf('/') + 1)));
    try {
      await runOk(
        `building gupsim's GUP module against Linux ${tree.kver}`,
        make,
        ['-s', '-C', tree.headers, `M=${tmp}`, `CC=${cc}`, 'modules'],
        { timeoutMs: 10 * 60_000 },
      );
    } finally {
      progress.end();
    }
    if (!existsSync(join(tmp, 'gupsim_gup.ko')))
      throw new ProbeError(
        'ERR_PROBE_UNSUPPORTED',
        `building gupsim's GUP module against Linux ${tree.kver} made no gupsim_gup.ko`,
      );
  });
  return join(dir, 'gupsim_gup.ko');
}

/** The probe helper, statically linked (cc -static), for the guest. */
export async function ensureStaticHelper(progress: VmProgress = SILENT, root = vmCacheRoot()): Promise<string> {
  const cc = findCompiler();
  if (!cc)
    throw new ProbeError(
      'ERR_PROBE_UNSUPPORTED',
      'no C compiler found (set CC, or apt-get install gcc libc6-dev): the VM needs the probe helper built statically',
    );
  const hash = sourcesHash(HELPER_SOURCES, `${process.arch} static`);
  const dir = await cachedEntry(join(root, `helper-${hash}`), async (tmp) => {
    progress.phase('building the probe helper for the VM (static)');
    try {
      await runOk(
        'building the probe helper statically (cc -static; needs libc6-dev)',
        cc,
        ['-static', '-O2', '-Wall', '-o', join(tmp, 'gupsim-helper'), join(packageRoot(), 'src', 'probe', 'helper.c')],
        { timeoutMs: 120_000 },
      );
    } finally {
      progress.end();
    }
  });
  return join(dir, 'gupsim-helper');
}
