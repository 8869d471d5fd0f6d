// `gupsim diff` as a user runs it, on a host without the probe (no C compiler: CC names a file that
// does not exist): the scenario is not compared, with the reason, in one summary line, and exit 1.
// Runs anywhere (without Linux the reason is that instead).

import { describe, it, expect, vi, afterEach } from 'vitest';
import { join } from 'node:path';
import { main } from './main.js';
import { packageRoot } from '../probe/package.js';

const scenario = join(packageRoot(), 'examples', 'probe-thp.yaml');

async function diff(...args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const saved = process.env.CC;
  process.env.CC = '/nonexistent/cc';
  try {
    return { code: await main(['diff', scenario, ...args]), out };
  } finally {
    if (saved === undefined) delete process.env.CC;
    else process.env.CC = saved;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('gupsim diff (CLI)', () => {
  it('a host without the probe: not compared, with the reason, in the last line; exit 1', async () => {
    const { code, out } = await diff();
    expect(code).toBe(1);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('diff: probe-thp');
    expect(lines[lines.length - 1]).toMatch(
      /^summary: not compared: (no C compiler found|the live-kernel probe needs Linux).*; no agreement claimed$/,
    );
  });

  it('--json: agree false, and the summary says why', async () => {
    const { code, out } = await diff('--json');
    expect(code).toBe(1);
    const d = JSON.parse(out);
    expect(d.agree).toBe(false);
    expect(d.steps).toEqual([]);
    expect(d.summary).toMatchObject({ compared: 0, same: 0, differ: 0, flaky: 0, skipped: [], unverified: 0 });
    expect(d.summary.notCompared).toMatch(/no C compiler found|needs Linux/);
  });
});
