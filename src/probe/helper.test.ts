// The helper client: a command that does not answer in time kills every helper process, and
// close() leaves no process behind; mremap, mlock and munlock answer as the system calls do. Needs
// Linux and a C compiler.

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

  it('mremap, mlock and munlock: the new address, locked_vm after the call, errno on a refusal', async () => {
    const h = new Helper();
    await h.start();
    try {
      const p = await h.spawn('app');
      const len = 16 * 4096;
      const a = await h.send(p, `mmap kind=anon shared=0 size=${len}`);
      const b = await h.send(p, `mmap kind=anon shared=0 size=${len}`);
      expect([a.ret, b.ret]).toEqual([0, 0]);
      const before = Number((await h.send(p, `munlock addr=${a.addr} len=${len}`)).locked_vm);
      const locked = await h.send(p, `mlock addr=${a.addr} len=${len}`);
      expect(locked.ret).toBe(0);
      expect(Number(locked.locked_vm)).toBe(before + 16);
      const onfault = await h.send(p, `mlock addr=${b.addr} len=${len} onfault=1`);
      expect(Number(onfault.locked_vm)).toBe(before + 32);
      // MREMAP_FIXED onto b: the locked mapping moves there (b's own is unmapped).
      const moved = await h.send(
        p,
        `mremap addr=${a.addr} len=${len} new_len=${len} maymove=1 fixed=1 new_addr=${b.addr}`,
      );
      expect(moved.ret).toBe(0);
      expect(moved.addr).toBe(b.addr);
      expect(Number((await h.send(p, `munlock addr=${b.addr} len=${len}`)).locked_vm)).toBe(before);
      // MREMAP_FIXED without MREMAP_MAYMOVE is -EINVAL; nothing mapped at the old address now, -EFAULT.
      const bad = await h.send(p, `mremap addr=${b.addr} len=${len} new_len=${len} fixed=1 new_addr=${a.addr}`);
      expect(bad.errno).toBe('EINVAL');
      expect((await h.send(p, `mremap addr=${a.addr} len=${len} new_len=${len}`)).errno).toBe('EFAULT');
    } finally {
      await h.close();
    }
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
