// Talks to the C helper (helper.c): starts its supervisor, hands each scenario process a channel
// (descriptor 3 + slot), sends one command line at a time and waits for the one JSON reply line,
// with a timeout. On a timeout, or when the caller is done, every helper process is killed: no
// helper outlives a run.
//
// Where the helper runs is the transport's business: a child process of this one, in a process
// group of its own, with socketpair channels (LocalTransport, the host engine), or a qemu VM whose
// serial line carries all channels (src/probe/vm/transport.ts). The protocol is the same.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { buildHelper } from './build.js';
import { ProbeError } from './errors.js';

/** Channels for scenario processes (so at most this many processes per scenario). */
export const HELPER_SLOTS = 12;
/** Default time a helper command may take before the helpers are killed. */
export const COMMAND_TIMEOUT_MS = 10_000;

/** A reply line: ret (negative: -errno), errno name, and command-specific fields. */
export interface HelperReply {
  ret: number;
  errno: string | null;
  [field: string]: unknown;
}

/** One line-oriented channel to a helper process: a command line out, reply lines in. */
export interface HelperLink {
  send(line: string): void;
  /** The next line, null at end of input. */
  next(): Promise<string | null>;
}

/** Where the helper runs: starts it and gives its channels, and kills it. */
export interface HelperTransport {
  /** Start the supervisor; its channel and `slots` worker channels (descriptor 3 + i). */
  start(slots: number): Promise<{ supervisor: HelperLink; channels: HelperLink[] }>;
  /** Whether the helper is known to be gone (killed, exited). */
  readonly dead: boolean;
  /** Kill every helper process at once (synchronous: usable from signal and exit handlers). */
  kill(): void;
  /** Ask the supervisor to quit and wait (bounded) until it has; then kill what is left. */
  close(supervisor: HelperLink | undefined): Promise<void>;
  /** Whether process `pid` is gone, if the transport can tell without asking the helper. */
  gone?(pid: number): boolean;
  /** What to say when the helper stopped answering (e.g. the VM's kernel panicked). */
  failure?(): string | undefined;
  /** The same, once what stopped it has had a moment to show (the VM's console, qemu's exit). */
  explain?(): Promise<string | undefined>;
}

/** Splits a byte stream into lines and hands them out in order. */
export class LineChannel implements HelperLink {
  private buf = '';
  private lines: string[] = [];
  private waiter: ((line: string | null) => void) | undefined;
  private ended = false;

  constructor(
    readonly input: Readable,
    readonly output: Writable,
  ) {
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    const end = () => {
      this.ended = true;
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(null);
      }
    };
    input.on('end', end);
    input.on('close', end);
    input.on('error', end);
    output.on('error', () => {
      /* reported as a missing reply */
    });
  }

  private push(line: string): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(line);
    } else this.lines.push(line);
  }

  send(line: string): void {
    this.output.write(line + '\n');
  }

  /** The next line, null at end of input. */
  next(): Promise<string | null> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}

/** One scenario process: a helper worker reached through its channel. */
export interface HelperProcess {
  name: string;
  pid: number;
  slot: number;
  alive: boolean;
}

/** The helper as a child process of this one, in a process group of its own (the host engine). */
export class LocalTransport implements HelperTransport {
  private child: ChildProcess | undefined;
  private exited = false;

  get dead(): boolean {
    return this.exited;
  }

  async start(slots: number): Promise<{ supervisor: HelperLink; channels: HelperLink[] }> {
    const bin = buildHelper();
    const stdio: Array<'pipe' | 'inherit'> = ['pipe', 'pipe', 'inherit'];
    for (let i = 0; i < slots; i++) stdio.push('pipe');
    const child = spawn(bin, [], { stdio, detached: true });
    this.child = child;
    child.on('error', () => {
      this.exited = true;
    });
    child.on('exit', () => {
      this.exited = true;
    });
    const channels: HelperLink[] = [];
    for (let i = 0; i < slots; i++) {
      const s = child.stdio[3 + i] as unknown as Readable & Writable;
      channels.push(new LineChannel(s, s));
    }
    return { supervisor: new LineChannel(child.stdout!, child.stdin!), channels };
  }

  kill(): void {
    const child = this.child;
    if (!child || child.pid === undefined) return;
    this.exited = true;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (!this.exited) {
      try {
        child.stdin?.write('quit\n');
      } catch {
        /* fall through to kill */
      }
    }
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      }),
    ]);
    clearTimeout(timer);
    this.kill();
  }

  /** Reap-free check: gone from /proc, or a zombie (its memory and files are already given up). */
  gone(pid: number): boolean {
    return !existsSync(`/proc/${pid}`) || zombie(pid);
  }

  /** Drop the pipes (after close). */
  destroy(): void {
    const child = this.child;
    if (!child) return;
    for (const s of [child.stdin, child.stdout, ...child.stdio.slice(3)])
      (s as { destroy?: () => void } | null)?.destroy?.();
    this.child = undefined;
  }
}

export class Helper {
  private supervisor: HelperLink | undefined;
  private channels: HelperLink[] = [];
  private readonly freeSlots: number[] = [];
  private readonly pids = new Set<number>();
  private closed = false;
  /** From the supervisor's hello: whether /sys/kernel/debug/gup_test exists. */
  gupTest = false;
  /** From the supervisor's hello: whether gupsim's GUP module (/dev/gupsim_gup) is there. */
  gupModule = false;
  /** The supervisor's hello. */
  hello: HelperReply | undefined;

  constructor(readonly transport: HelperTransport = new LocalTransport()) {}

  private get dead(): boolean {
    return this.closed || this.transport.dead;
  }

  /** Start the supervisor (building the helper first if needed). */
  async start(): Promise<void> {
    const { supervisor, channels } = await this.transport.start(HELPER_SLOTS);
    this.supervisor = supervisor;
    this.channels = channels;
    this.freeSlots.splice(0, this.freeSlots.length, ...channels.map((_, i) => i));
    const hello = await this.request(this.supervisor, 'hello', COMMAND_TIMEOUT_MS);
    this.hello = hello;
    this.gupTest = hello.gup_test === true;
    this.gupModule = hello.gupsim_gup === true;
  }

  /** A new scenario process (forked by the supervisor, not by another scenario process). */
  async spawn(name: string): Promise<HelperProcess> {
    const slot = this.takeSlot();
    const r = await this.request(this.supervisor!, `spawn fd=${3 + slot}`, COMMAND_TIMEOUT_MS);
    if (r.ret < 0) throw new ProbeError('ERR_PROBE_HELPER', `could not start a helper process: ${r.errno}`);
    const pid = Number(r.pid);
    this.pids.add(pid);
    return { name, pid, slot, alive: true };
  }

  /** fork() in `parent`; the child continues as a helper process on a channel of its own. */
  async fork(
    parent: HelperProcess,
    child: string,
    timeoutMs = COMMAND_TIMEOUT_MS,
  ): Promise<{ reply: HelperReply; proc?: HelperProcess }> {
    const slot = this.takeSlot();
    const reply = await this.send(parent, `fork fd=${3 + slot}`, timeoutMs);
    if (reply.ret < 0) {
      this.freeSlots.push(slot);
      return { reply };
    }
    const pid = Number(reply.pid);
    this.pids.add(pid);
    return { reply, proc: { name: child, pid, slot, alive: true } };
  }

  private takeSlot(): number {
    const slot = this.freeSlots.shift();
    if (slot === undefined)
      throw new ProbeError('ERR_PROBE_UNSUPPORTED', `the probe runs at most ${HELPER_SLOTS} processes per scenario`);
    return slot;
  }

  /** A command the supervisor runs itself (as root): `inspect pid=P ...` reads P's pagemap. */
  supervisorCommand(line: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<HelperReply> {
    return this.request(this.supervisor!, line, timeoutMs);
  }

  /** Send a command to a scenario process and wait for its reply. */
  send(p: HelperProcess, line: string, timeoutMs = COMMAND_TIMEOUT_MS): Promise<HelperReply> {
    return this.request(this.channels[p.slot]!, line, timeoutMs);
  }

  private async request(ch: HelperLink, line: string, timeoutMs: number): Promise<HelperReply> {
    if (this.dead)
      throw new ProbeError('ERR_PROBE_HELPER', this.transport.failure?.() ?? 'the probe helper is not running');
    ch.send(line);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const got = await Promise.race([ch.next(), timeout]);
    clearTimeout(timer);
    const cmd = line.split(' ')[0];
    if (got === 'timeout') {
      const why = (await this.transport.explain?.()) ?? this.transport.failure?.();
      this.kill();
      throw new ProbeError(
        'ERR_PROBE_HELPER',
        why ?? `helper command "${cmd}" did not answer within ${timeoutMs / 1000} s: the helpers were killed`,
      );
    }
    if (got === null) {
      const why = (await this.transport.explain?.()) ?? this.transport.failure?.();
      this.kill();
      throw new ProbeError('ERR_PROBE_HELPER', why ?? `the helper process exited during "${cmd}"`);
    }
    try {
      return JSON.parse(got) as HelperReply;
    } catch {
      this.kill();
      throw new ProbeError(
        'ERR_PROBE_HELPER',
        `helper answered "${cmd}" with something that is not JSON: ${got.slice(0, 200)}`,
      );
    }
  }

  /** Wait (bounded) until a process that was told to exit is gone (or a zombie: its memory and files are given up). */
  async waitGone(pid: number, timeoutMs = 5000): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const gone = this.transport.gone
        ? this.transport.gone(pid)
        : (await this.supervisorCommand(`alive pid=${pid}`)).ret === 0;
      if (gone) {
        this.pids.delete(pid);
        return true;
      }
      await sleep(5);
    }
    return false;
  }

  /** Kill every helper process at once (synchronous: usable from signal and exit handlers). */
  kill(): void {
    this.transport.kill();
  }

  /** Ask the supervisor to kill its group and wait (bounded) until every helper is gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.transport.close(this.dead ? undefined : this.supervisor);
    this.closed = true;
    if (this.transport.gone) for (const pid of [...this.pids]) await this.waitGone(pid, 2000);
    (this.transport as { destroy?: () => void }).destroy?.();
  }
}

function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
