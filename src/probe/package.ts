// Host-side paths every part of gupsim that builds or reads its own files shares: the package root
// (this module lives two levels below it, in src/probe/ or dist/probe/), the cache directories for
// compiled C helpers, and the system C compiler.

import { accessSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: two levels above this module. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Where compiled helpers are cached, most preferred first. */
export function cacheDirs(): string[] {
  const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
  return [join(packageRoot(), 'node_modules', '.cache', 'gupsim'), join(tmpdir(), `gupsim-${uid}`)];
}

/** The C compiler: $CC if set, else cc, gcc or clang on PATH (the first that exists). */
export function findCompiler(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = env.CC ? [env.CC] : ['cc', 'gcc', 'clang'];
  const dirs = (env.PATH ?? '/usr/bin:/bin').split(delimiter).filter(Boolean);
  for (const c of candidates) {
    const paths = c.includes('/') ? [c] : dirs.map((d) => join(d, c));
    for (const p of paths) {
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        /* next */
      }
    }
  }
  return undefined;
}
