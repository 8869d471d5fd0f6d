// Every command's --help (and gupsim's own) ends with an example that works as written: one
// "Example:" block, a gupsim command line whose example files exist.

import { describe, it, expect, vi, afterEach } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { main } from './main.js';
import { packageRoot } from '../probe/package.js';

afterEach(() => {
  vi.restoreAllMocks();
});

async function help(args: string[]): Promise<string> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  expect(await main([...args, '--help'])).toBe(0);
  vi.restoreAllMocks();
  return out;
}

/** Command names (with subcommands) from the top-level help's command list. */
async function commands(): Promise<string[][]> {
  const top = /^Commands:\n([\s\S]*?)\n\n/m.exec(await help([]))![1]!;
  const names = [...top.matchAll(/^ {2}([a-z_-]+) /gm)].map((m) => m[1]!).filter((n) => n !== 'help');
  const out: string[][] = [];
  for (const n of names) {
    out.push([n]);
    const sub = await help([n]);
    const list = /^Commands:\n([\s\S]*?)\n\n/m.exec(sub)?.[1] ?? '';
    for (const m of list.matchAll(/^ {2}([a-z_-]+) /gm)) if (m[1] !== 'help') out.push([n, m[1]!]);
  }
  return out;
}

describe('gupsim --help and every command help', () => {
  it('show one example each, a gupsim command whose files exist', async () => {
    const all = await commands();
    expect(all.map((c) => c.join(' '))).toEqual(
      expect.arrayContaining(['run', 'check', 'tour', 'probe', 'diff', 'watch', 'playground', 'experiment']),
    );
    expect(all.map((c) => c.join(' '))).toContain('experiment run');
    for (const cmd of [[], ...all]) {
      const text = await help(cmd);
      const blocks = text.match(/^Examples?:/gm) ?? [];
      expect(blocks, `gupsim ${cmd.join(' ')} --help`).toHaveLength(1);
      const first = /^Examples?:\n {2}(.+)$/m.exec(text)?.[1];
      expect(first, `gupsim ${cmd.join(' ')} --help`).toMatch(new RegExp(`^gupsim ${cmd.join(' ')}`));
      for (const f of first!.split(/\s+/).filter((w) => /^examples\/.*\.ya?ml$/.test(w)))
        expect(existsSync(join(packageRoot(), f)), f).toBe(true);
    }
  });
});
