import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedEntry, vmCacheRoot } from './cache.js';

describe('the VM cache', () => {
  it('lives in $XDG_CACHE_HOME/gupsim/vm, else ~/.cache/gupsim/vm', () => {
    expect(vmCacheRoot({ XDG_CACHE_HOME: '/x/cache', HOME: '/h' })).toBe('/x/cache/gupsim/vm');
    expect(vmCacheRoot({ HOME: '/h' })).toBe('/h/.cache/gupsim/vm');
    expect(vmCacheRoot({ XDG_CACHE_HOME: 'relative', HOME: '/h' })).toBe('/h/.cache/gupsim/vm');
  });

  it('an entry appears whole or not at all; a finished one is reused', async () => {
    const root = mkdtempSync(join(tmpdir(), 'gupsim-cache-'));
    try {
      const path = join(root, '6.1', 'k');
      await expect(
        cachedEntry(path, async (tmp) => {
          writeFileSync(join(tmp, 'half'), 'x');
          throw new Error('download failed');
        }),
      ).rejects.toThrow('download failed');
      expect(existsSync(path)).toBe(false);
      expect(readdirSync(join(root, '6.1'))).toEqual([]);
      let builds = 0;
      const build = async (tmp: string) => {
        builds++;
        writeFileSync(join(tmp, 'done'), 'ok');
      };
      await cachedEntry(path, build);
      await cachedEntry(path, build);
      expect(builds).toBe(1);
      expect(readFileSync(join(path, 'done'), 'utf8')).toBe('ok');
      // A dead run's leftover is swept.
      mkdirSync(join(root, '6.1', '.tmp-k-999999999-abc'));
      await cachedEntry(join(root, '6.1', 'other'), build);
      expect(readdirSync(join(root, '6.1')).sort()).toEqual(['k', 'other']);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
