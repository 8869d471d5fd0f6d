// The probe's contents commands on this host (helper.c): a value written is read back page by page,
// files hold the model's per-block values, fixed-buffer I/O goes through the registration, pipes
// deliver what the page holds when read. And expandRuns(). Needs Linux and a C compiler; the
// block-device read needs root and an openable device (skipped with the reason otherwise).

import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Helper, type HelperReply } from './helper.js';
import { probeUnsupportedReason } from './build.js';
import { expandRuns } from './data_steps.js';
import { HostSystem } from './system.js';
import { fileBlockValue } from '../scenario/data.js';

const why = probeUnsupportedReason();
if (why) console.log(`probe contents tests skipped: ${why}`);
const PAGE = 4096;
const data = (r: HelperReply) => expandRuns(r.data as unknown[]);

describe('expandRuns', () => {
  it('turns [[value, count], ...] into one value per page', () => {
    expect(
      expandRuns([
        [7, 2],
        [0, 1],
        [3, 3],
      ]),
    ).toEqual([7, 7, 0, 3, 3, 3]);
    expect(expandRuns([])).toEqual([]);
  });
});

describe.skipIf(why !== undefined)('the helper reads and writes contents', () => {
  const helpers: Helper[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const h of helpers.splice(0)) await h.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  async function start(): Promise<{ h: Helper; p: Awaited<ReturnType<Helper['spawn']>> }> {
    const h = new Helper();
    helpers.push(h);
    await h.start();
    return { h, p: await h.spawn('app') };
  }

  it('touch fills pages with the value and reads each page’s first word; peek reads present pages only', async () => {
    const { h, p } = await start();
    const m = await h.send(p, 'mmap kind=anon shared=0 size=16384 prot=rw');
    const a = Number(m.addr);
    expect((await h.send(p, `touch addr=${a} len=8192 write=1 value=305419896`)).ret).toBe(0);
    expect((await h.send(p, `peek addr=${a} pages=4`)).data).toEqual([305419896, 305419896, null, null]);
    expect(data(await h.send(p, `touch addr=${a} len=16384 write=0`))).toEqual([305419896, 305419896, 0, 0]);
    // The read faults mapped the zero page: present now, and 0.
    expect((await h.send(p, `peek addr=${a} pages=4`)).data).toEqual([305419896, 305419896, 0, 0]);
    // A present page the process may not read: null, and no signal.
    expect((await h.send(p, `mprotect addr=${a} len=4096 prot=none`)).ret).toBe(0);
    expect((await h.send(p, `peek addr=${a} pages=2`)).data).toEqual([null, 305419896]);
  });

  it('a file made for step S holds fileBlockValue(S, block) in every word of each block', async () => {
    const sys = new HostSystem(0);
    try {
      const path = await sys.createFile('vals', 3 * PAGE, 'tmpfs', { step: 5 });
      const buf = readFileSync(path);
      for (let b = 0; b < 3; b++) {
        expect(buf.readUInt32LE(b * PAGE)).toBe(fileBlockValue(5, b));
        expect(buf.readUInt32LE(b * PAGE + PAGE - 4)).toBe(fileBlockValue(5, b));
      }
      const { h } = await start();
      expect(data(await h.supervisorCommand(`pread path=${path} off=0 len=${3 * PAGE}`))).toEqual(
        [0, 1, 2].map((b) => fileBlockValue(5, b)),
      );
      expect((await h.supervisorCommand(`pwrite path=${path} off=${PAGE} len=${PAGE} value=9`)).ret).toBe(PAGE);
      expect(readFileSync(path).readUInt32LE(PAGE + 8)).toBe(9);
      expect((await h.supervisorCommand(`filesize path=${path}`)).ret).toBe(3 * PAGE);
      expect((await h.supervisorCommand(`truncate path=${path} size=${PAGE}`)).ret).toBe(0);
      expect((await h.supervisorCommand(`filesize path=${path}`)).ret).toBe(PAGE);
    } finally {
      sys.removeFiles();
    }
  });

  it('READ_FIXED writes the file into the registered buffer; WRITE_FIXED writes the buffer to the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-fixed-'));
    dirs.push(dir);
    const path = join(dir, 'f');
    const content = Buffer.alloc(2 * PAGE);
    for (let w = 0; w < 2 * PAGE; w += 4) content.writeUInt32LE(w < PAGE ? 11 : 22, w);
    writeFileSync(path, content);
    const { h, p } = await start();
    const ring = await h.send(p, 'uring_setup');
    if (ring.ret < 0) return void console.log(`io_uring_setup failed (${ring.errno}): fixed I/O not tested`);
    const a = Number((await h.send(p, 'mmap kind=anon shared=0 size=8192 prot=rw')).addr);
    expect((await h.send(p, `touch addr=${a} len=8192 write=1 value=1`)).ret).toBe(0);
    expect((await h.send(p, `uring_register fd=${ring.ret} iov=${a}:8192`)).ret).toBe(0);
    const rd = await h.send(p, `uring_rw fd=${ring.ret} index=0 addr=${a} len=8192 path=${path} foff=0 read=1`);
    expect(rd.ret).toBe(8192);
    expect(data(await h.send(p, `touch addr=${a} len=8192 write=0`))).toEqual([11, 22]);
    expect((await h.send(p, `touch addr=${a} len=4096 write=1 value=33`)).ret).toBe(0);
    const wr = await h.send(p, `uring_rw fd=${ring.ret} index=0 addr=${a} len=4096 path=${path} foff=4096 read=0`);
    expect(wr.ret).toBe(4096);
    expect(readFileSync(path).readUInt32LE(PAGE)).toBe(33);
    // Outside the buffer: the kernel's -EFAULT.
    const bad = await h.send(p, `uring_rw fd=${ring.ret} index=0 addr=${a + 4096} len=8192 path=${path} read=1`);
    expect(bad.errno).toBe('EFAULT');
    // The ring's mappings are gone again: closing it frees it (and unpins the buffer).
    expect((await h.send(p, `close fd=${ring.ret}`)).ret).toBe(0);
  });

  it('a vmspliced page is read from the pipe as it is at read time; an empty pipe is EAGAIN', async () => {
    const { h, p } = await start();
    const a = Number((await h.send(p, 'mmap kind=anon shared=0 size=4096 prot=rw')).addr);
    await h.send(p, `touch addr=${a} len=4096 write=1 value=1`);
    const v = await h.send(p, `vmsplice addr=${a} len=4096`);
    expect(v.ret).toBe(4096);
    await h.send(p, `touch addr=${a} len=4096 write=1 value=2`);
    const r = await h.send(p, `piperead rfd=${v.rfd} len=4096`);
    expect([r.ret, data(r)]).toEqual([4096, [2]]);
    expect((await h.send(p, `piperead rfd=${v.rfd} len=4096`)).errno).toBe('EAGAIN');
  });

  it('process_vm_writev from a scratch buffer holding the value; readv reports what arrived', async () => {
    const { h, p } = await start();
    const t = await h.spawn('target');
    const a = Number((await h.send(t, 'mmap kind=anon shared=0 size=8192 prot=rw')).addr);
    expect((await h.send(p, `pvm pid=${t.pid} write=1 addr=${a} len=8192 value=77`)).ret).toBe(8192);
    const r = await h.send(p, `pvm pid=${t.pid} write=0 addr=${a} len=8192`);
    expect([r.ret, data(r)]).toEqual([8192, [77, 77]]);
  });

  it('readdisk reads what the disk holds, or says why it cannot', async () => {
    const sys = new HostSystem(0);
    try {
      const path = await sys.createFile('disk', 2 * PAGE, 'disk', { step: 0, value: 0x5a5a0001 });
      const { h } = await start();
      const r = await h.supervisorCommand(`readdisk path=${path} off=0 len=${2 * PAGE}`);
      if (r.ret < 0) {
        expect(typeof r.error).toBe('string');
        return void console.log(`readdisk on this host: ${String(r.error)} (${String(r.device)}: ${r.errno})`);
      }
      expect(data(r)).toEqual([0x5a5a0001, 0x5a5a0001]);
    } finally {
      sys.removeFiles();
    }
  });
});
