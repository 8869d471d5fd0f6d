// Steps about page contents on a live kernel, through the helper (helper.c): buffered pread/pwrite,
// what the disk holds (read_disk: the file's extents read from the block device, past the page
// cache: FIEMAP without a flush, then O_DIRECT on the device), fsync, msync, sync and the flusher
// (on the probe's own files only: fsync and sync_file_range of each), drop_caches (the whole
// host's page cache: root), ftruncate, io_uring fixed-buffer reads and writes, and pipe reads. Reads
// report `data` as the model does: the first 32-bit word of each page.

import type { Step, StepOf } from '../scenario/schema.js';
import { freshValue } from '../scenario/data.js';
import type { Helper, HelperProcess, HelperReply } from './helper.js';
import type { Out, Pipe, Ring } from './engine.js';

/** What DataSteps needs of the engine's Runner. */
export interface DataRunner {
  readonly helper: Helper;
  readonly sys: { readonly root: boolean };
  readonly files: Map<string, { path: string; fs: string }>;
  readonly rings: Map<string, Ring>;
  readonly pipes: Map<string, Pipe>;
  readonly procs: Map<string, HelperProcess>;
  live(name: string): Promise<HelperProcess | undefined>;
  range(s: { region?: string; offset?: number; length?: number; pages?: number }): { addr: number; len: number };
  timeout(len?: number): number;
}

/** "data":[[value, count], ...] from the helper, one value per page. */
export function expandRuns(runs: unknown[]): number[] {
  const out: number[] = [];
  for (const r of runs) {
    const [v, n] = r as [number, number];
    for (let i = 0; i < n; i++) out.push(v);
  }
  return out;
}

type DataOp =
  | 'pread'
  | 'pwrite'
  | 'read_disk'
  | 'fsync'
  | 'msync'
  | 'sync'
  | 'writeback'
  | 'drop_caches'
  | 'truncate'
  | 'io_uring_read_fixed'
  | 'io_uring_write_fixed'
  | 'pipe_read';

function reply(r: HelperReply, extra: Record<string, unknown> = {}): Out {
  if (Array.isArray(r.data)) extra.data = expandRuns(r.data);
  return { ret: r.ret, errno: r.errno, extra };
}

export class DataSteps {
  constructor(private readonly r: DataRunner) {}

  /** A file's path and its size now (the helper's stat), for a step's offset and length. */
  private file(name: string): { path: string; fs: string } {
    return this.r.files.get(name)!;
  }

  /** The helper process a step runs in: the supervisor (undefined), or the named process; null if it exited. */
  private async who(proc: string | undefined): Promise<HelperProcess | undefined | null> {
    if (proc === undefined) return undefined;
    return (await this.r.live(proc)) ?? null;
  }

  private send(p: HelperProcess | undefined, line: string, len = 0): Promise<HelperReply> {
    return p
      ? this.r.helper.send(p, line, this.r.timeout(len))
      : this.r.helper.supervisorCommand(line, this.r.timeout(len));
  }

  /** The byte range of a file step (default: to the end of the file, its size from the helper). */
  private async fileRange(
    path: string,
    s: { offset?: number; length?: number },
  ): Promise<{ off: number; len: number }> {
    const off = s.offset ?? 0;
    if (s.length !== undefined) return { off, len: s.length };
    const st = await this.r.helper.supervisorCommand(`filesize path=${path}`, this.r.timeout());
    return { off, len: Math.max(0, (st.ret >= 0 ? st.ret : 0) - off) };
  }

  async run(step: Extract<Step, { op: DataOp }>, index: number, rep: number): Promise<Out> {
    switch (step.op) {
      case 'pread':
      case 'pwrite': {
        const p = await this.who(step.proc);
        if (p === null) return { ret: -3, errno: 'ESRCH', extra: { note: `process ${step.proc} has exited` } };
        const f = this.file(step.file);
        const { off, len } = await this.fileRange(f.path, step);
        if (step.op === 'pread') return reply(await this.send(p, `pread path=${f.path} off=${off} len=${len}`, len));
        const value = step.value ?? freshValue(index, rep);
        return reply(await this.send(p, `pwrite path=${f.path} off=${off} len=${len} value=${value}`, len), { value });
      }
      case 'read_disk': {
        const f = this.file(step.file);
        if (f.fs === 'tmpfs') return { ret: -22, errno: 'EINVAL' };
        const { off, len } = await this.fileRange(f.path, step);
        const r = await this.r.helper.supervisorCommand(
          `readdisk path=${f.path} off=${off} len=${len}`,
          this.r.timeout(len),
        );
        if (r.ret < 0 && typeof r.error === 'string')
          return {
            ret: 0,
            unsupported:
              `the disk cannot be read past the page cache here: ${r.error}` +
              (typeof r.device === 'string' ? ` (${r.device}: ${r.errno})` : ` (${r.errno})`),
          };
        return reply(r);
      }
      case 'fsync':
        return reply(await this.r.helper.supervisorCommand(`fsync path=${this.file(step.file).path}`));
      case 'msync': {
        const p = await this.r.live(step.proc);
        if (!p) return { ret: -3, errno: 'ESRCH' };
        const { addr, len } = this.r.range(step);
        return reply(await this.r.helper.send(p, `msync addr=${addr} len=${len}`, this.r.timeout(len)));
      }
      case 'sync':
      case 'writeback': {
        // sync(2) would write the whole host back: the probe's own files stand for "every file".
        for (const f of this.r.files.values()) {
          const r = await this.r.helper.supervisorCommand(
            `fsync path=${f.path}${step.op === 'writeback' ? ' range=1' : ''}`,
          );
          if (r.ret < 0) return reply(r);
        }
        return { ret: 0 };
      }
      case 'drop_caches': {
        const r = await this.r.helper.supervisorCommand('writefile path=/proc/sys/vm/drop_caches value=1');
        return r.ret < 0 ? reply(r) : { ret: 0 };
      }
      case 'truncate':
        return reply(
          await this.r.helper.supervisorCommand(`truncate path=${this.file(step.file).path} size=${step.size}`),
        );
      case 'io_uring_read_fixed':
      case 'io_uring_write_fixed':
        return this.fixed(step);
      case 'pipe_read':
        return this.pipeRead(step);
    }
  }

  private async fixed(s: StepOf<'io_uring_read_fixed'> | StepOf<'io_uring_write_fixed'>): Promise<Out> {
    const ring = this.r.rings.get(s.ring);
    if (!ring) return { ret: -9, errno: 'EBADF' };
    if (!ring.proc.alive)
      return { ret: 0, unsupported: `the ring's process ${ring.proc.name} has exited (its ring is gone)` };
    const index = s.buf_index ?? 0;
    const b = ring.bufs[index];
    const offset = s.offset ?? 0;
    const len = s.length ?? (b ? Math.max(0, b.len - offset) : 0);
    // Without a buffer at that index, the address is the kernel's to refuse: 0 is never inside one.
    const addr = b ? b.addr + offset : 0;
    const f = this.file(s.file);
    return reply(
      await this.r.helper.send(
        ring.proc,
        `uring_rw fd=${ring.fd} index=${index} addr=${addr} len=${len} path=${f.path} foff=${s.file_offset ?? 0} ` +
          `read=${s.op === 'io_uring_read_fixed' ? 1 : 0} direct=${s.direct ? 1 : 0}`,
        this.r.timeout(len),
      ),
    );
  }

  private async pipeRead(s: StepOf<'pipe_read'>): Promise<Out> {
    const pipe = this.r.pipes.get(s.pipe);
    if (!pipe) return { ret: -9, errno: 'EBADF' };
    const p = s.proc !== undefined ? this.r.procs.get(s.proc) : pipe.proc;
    if (!p || p !== pipe.proc)
      return { ret: 0, unsupported: `the probe reads a pipe only in the process that made it (${pipe.proc.name})` };
    if (!p.alive) return { ret: 0, unsupported: `the pipe's process ${p.name} has exited (its pipe is gone)` };
    const len = s.length ?? pipe.queued;
    const r = await this.r.helper.send(p, `piperead rfd=${pipe.fds[0]} len=${len}`, this.r.timeout(len));
    if (r.ret > 0) pipe.queued = Math.max(0, pipe.queued - r.ret);
    return reply(r);
  }
}
