// The helper client: a command that does not answer in time kills every helper process, and
// close() leaves no process behind. Needs Linux and a C compiler.

import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { Helper } from './helper.js';
import { ProbeError } from './errors.js';
import { probeUnsupportedReason } from './build.js';

const why = probeUnsupportedReason();
if (why) console.log(`helper tests skipped: ${why}`);

function gone(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return true;
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st[st.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

describe.skipIf(why !== undefined)('Helper', () => {
  it('kills the helpers when a command does not answer in time', async () => {
    const h = new Helper();
    await h.start();
    const p = await h.spawn('app');
    const kid = (await h.fork(p, 'kid')).proc!;
    const err = await h.send(p, 'sleep ms=5000', 200).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).code).toBe('ERR_PROBE_HELPER');
    expect((err as Error).message).toMatch(/did not answer within 0\.2 s/);
    expect(await until(() => gone(p.pid) && gone(kid.pid), 3000)).toBe(true);
    await h.close();
  });

  it('close() reaps every process, forked ones included', async () => {
    const h = new Helper();
    await h.start();
    const p = await h.spawn('app');
    const kid = (await h.fork(p, 'kid')).proc!;
    const grandkid = (await h.fork(kid, 'grandkid')).proc!;
    expect((await h.send(grandkid, 'pid')).pid).toBe(grandkid.pid);
    await h.close();
    for (const pid of [p.pid, kid.pid, grandkid.pid]) expect(existsSync(`/proc/${pid}`), `pid ${pid}`).toBe(false);
  });
});
