// Build the probe's C helper (src/probe/helper.c) with the system C compiler on first use, and cache
// the binary under a name that carries a hash of the source: an edited helper.c is rebuilt, an
// unchanged one never. The source is found relative to the package root (this module lives in
// src/probe/ or dist/probe/, both two levels below it), so a fresh clone after `npm ci` has it.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ProbeError } from './errors.js';
import { cacheDirs, findCompiler, packageRoot } from './package.js';

const SOURCE = join('src', 'probe', 'helper.c');

/** The helper's C source file. */
export function helperSource(): string {
  return join(packageRoot(), SOURCE);
}

/** Why the probe cannot run on this host, or undefined when it can (before compiling). */
export function probeUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return `the live-kernel probe needs Linux (this is ${process.platform})`;
  if (!existsSync(helperSource())) return `the probe helper's source ${helperSource()} is missing`;
  if (!findCompiler())
    return 'no C compiler found (set CC, or install cc/gcc/clang): the probe builds a small C helper';
  return undefined;
}

let built: string | undefined;

/**
 * The helper binary's path, compiling it if no binary of the same source is cached.
 * Throws ProbeError ERR_PROBE_UNSUPPORTED (the CLI shows it as a UserError) when not on Linux, without a compiler, or
 * when the build fails (the compiler's message is included).
 */
export function buildHelper(): string {
  if (built && existsSync(built)) return built;
  const why = probeUnsupportedReason();
  if (why) throw new ProbeError('ERR_PROBE_UNSUPPORTED', why);
  const cc = findCompiler()!;
  const src = helperSource();
  // helper.c includes the GUP module's user-space interface (vm/module/gupsim_gup.h).
  const header = join(packageRoot(), 'vm', 'module', 'gupsim_gup.h');
  const hash = createHash('sha256')
    .update(readFileSync(src))
    .update(existsSync(header) ? readFileSync(header) : '')
    .update(process.arch)
    .digest('hex')
    .slice(0, 16);
  let lastError = '';
  for (const dir of cacheDirs()) {
    const bin = join(dir, `helper-${hash}`);
    if (existsSync(bin)) return (built = bin);
    const tmp = `${bin}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      mkdirSync(dir, { recursive: true });
      // Build under a private name, then rename: concurrent builds never see a half-written file.
      execFileSync(cc, ['-O2', '-Wall', '-o', tmp, src], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
      renameSync(tmp, bin);
      return (built = bin);
    } catch (e) {
      const err = e as { stderr?: Buffer; message?: string };
      lastError = (err.stderr ? String(err.stderr).trim() : '') || err.message || String(e);
      rmSync(tmp, { force: true });
    }
  }
  throw new ProbeError('ERR_PROBE_UNSUPPORTED', `building the probe helper with ${cc} failed: ${lastError}`);
}
