// Where the VM engine keeps what it downloads and builds: $XDG_CACHE_HOME/gupsim/vm (default
// ~/.cache/gupsim/vm). Every entry is built in a temporary directory beside its final place and
// renamed into it when complete, so an interrupted download or build never leaves a half-made
// entry behind: the next run starts that entry over, and complete entries serve later runs offline.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** The VM cache root. */
export function vmCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/')
      ? env.XDG_CACHE_HOME
      : join(env.HOME || homedir(), '.cache');
  return join(base, 'gupsim', 'vm');
}

const TMP_PREFIX = '.tmp-';

/**
 * The entry at `path`, building it first if it is not there: `build` fills a fresh temporary
 * directory, which then becomes `path` in one rename. A concurrent run that finished first wins
 * (its entry is kept, ours dropped). Leftover temporary directories of dead runs are removed.
 */
export async function cachedEntry(path: string, build: (tmp: string) => Promise<void>): Promise<string> {
  if (existsSync(path)) return path;
  const parent = dirname(path);
  mkdirSync(parent, { recursive: true });
  sweepStale(parent);
  const tmp = mkdtempSync(join(parent, `${TMP_PREFIX}${basename(path)}-${process.pid}-`));
  try {
    await build(tmp);
    try {
      renameSync(tmp, path);
    } catch (e) {
      if (!existsSync(path)) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return path;
}

/** Remove temporary entries whose run is gone (their pid is in the name). */
function sweepStale(parent: string): void {
  for (const name of readdirSync(parent)) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const pid = Number(/-(\d+)-[^-]*$/.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || pidAlive(pid)) continue;
    try {
      if (statSync(join(parent, name)).isDirectory()) rmSync(join(parent, name), { recursive: true, force: true });
    } catch {
      /* another run swept it */
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
