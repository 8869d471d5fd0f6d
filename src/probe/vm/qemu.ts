// One throwaway qemu VM (TCG): boots a cached Debian kernel with our initramfs, keeps the console
// (ttyS0, the kernel's and /init's messages) and carries the helper's channels on the second serial
// port, a Unix socket qemu connects to at start. The VM is killed when the run ends, on a boot that
// fails or takes too long, and when this process exits or gets SIGINT/SIGTERM: no qemu outlives gupsim.

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProbeError } from '../errors.js';
import { HELPER_SLOTS } from '../helper.js';
import { qemuArgs } from './cmdline.js';
import { SerialMux } from './mux.js';
import { requireProgram } from './tools.js';

export interface BootOptions {
  /** ELF vmlinux (PVH) or bzImage. */
  kernel: string;
  initrd: string;
  cmdline: string;
  memoryMiB: number;
  disk?: string;
  /** Time until the helper is ready (ms). */
  bootTimeoutMs?: number;
  /** "Linux 6.12", for messages. */
  name: string;
}

/** Console lines that say why a kernel stopped. */
const FATAL = new RegExp(
  [
    'Kernel panic',
    'BUG:',
    'Oops',
    'general protection fault',
    'Unable to handle',
    'kernel BUG',
    'end Kernel panic',
    'VFS: Unable to mount',
    'No working init',
  ].join('|'),
);

const live = new Set<Vm>();
/** Synchronous cleanups (temporary files of a run) for when this process exits or is interrupted. */
const cleanups = new Set<() => void>();
let handlersInstalled = false;

function killAll(): void {
  for (const vm of live) vm.kill();
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      /* keep going */
    }
  }
}

/** Run fn (synchronous) if this process exits or is interrupted before unregisterCleanup(fn). */
export function registerCleanup(fn: () => void): void {
  cleanups.add(fn);
  installHandlers();
}

export function unregisterCleanup(fn: () => void): void {
  cleanups.delete(fn);
  removeHandlers();
}

function onSignal(sig: NodeJS.Signals): void {
  killAll();
  process.exit(sig === 'SIGINT' ? 130 : 143);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function removeHandlers(): void {
  if (!handlersInstalled || live.size || cleanups.size) return;
  handlersInstalled = false;
  process.off('exit', killAll);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

export class Vm {
  private readonly console: string[] = [];
  private partial = '';
  private child: ChildProcess | undefined;
  private server: Server | undefined;
  private socket: Socket | undefined;
  private dir: string;
  private exitInfo: string | undefined;
  private killedByUs = false;
  readonly mux: SerialMux;
  /** Seconds from spawn to the helper's first ready frame. */
  bootSeconds = 0;
  private exitWaiters: Array<() => void> = [];

  private constructor(readonly opts: BootOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'gupsim-vm-'));
    this.mux = new SerialMux({ write: (s) => this.socket?.write(s), on: () => undefined }, HELPER_SLOTS);
  }

  /** Boot a VM and wait until its helper is ready. */
  static async boot(opts: BootOptions): Promise<Vm> {
    const qemu = requireProgram('qemu-system-x86_64', `to boot ${opts.name}`);
    const vm = new Vm(opts);
    try {
      await vm.start(qemu);
      return vm;
    } catch (e) {
      vm.kill();
      await vm.gone();
      throw e;
    }
  }

  private async start(qemu: string): Promise<void> {
    const sock = join(this.dir, 'serial.sock');
    const server = createServer((s) => {
      if (this.socket) {
        s.destroy();
        return;
      }
      this.socket = s;
      s.setEncoding('utf8');
      s.on('data', (chunk: string) => this.mux.feed(chunk));
      s.on('error', () => undefined);
      s.on('close', () => this.mux.close());
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sock, () => resolve());
    });
    const t0 = performance.now();
    const child = spawn(qemu, qemuArgs({ ...this.opts, socket: sock }), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(this);
    installHandlers();
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => this.log(c));
    child.stderr!.on('data', (c: string) => this.log(c));
    child.on('error', (e) => {
      this.exitInfo = `qemu could not start: ${e.message}`;
    });
    child.on('exit', (code, signal) => {
      this.exitInfo ??= signal ? `qemu was killed (${signal})` : `qemu exited (status ${code})`;
      live.delete(this);
      removeHandlers();
      this.mux.close();
      for (const w of this.exitWaiters.splice(0)) w();
    });
    const limit = this.opts.bootTimeoutMs ?? 120_000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.mux.ready().then(() => (this.mux.generation() ? 'ready' : 'gone')),
      this.gone().then(() => 'gone' as const),
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), limit);
      }),
    ]);
    clearTimeout(timer);
    this.bootSeconds = (performance.now() - t0) / 1000;
    if (outcome === 'ready') return;
    const why =
      outcome === 'timeout'
        ? `did not come up within ${Math.round(limit / 1000)} s`
        : (this.fatalLine() ?? this.exitInfo ?? 'stopped');
    throw new ProbeError('ERR_PROBE_HELPER', `the ${this.opts.name} VM did not boot: ${why}${this.tailHint()}`);
  }

  private log(chunk: string): void {
    const text = this.partial + chunk;
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    for (const l of lines) {
      this.console.push(l.replace(/\r$/, '').replace(/\x1b\[[0-9;?]*[a-zA-Z]|\x1bc/g, ''));
      if (this.console.length > 2000) this.console.splice(0, 1000);
    }
  }

  /** The console so far (kernel messages at loglevel 4 and above, /init's lines). */
  consoleText(): string {
    return [...this.console, this.partial].join('\n');
  }

  /** The first console line saying why the kernel stopped, if any. */
  fatalLine(): string | undefined {
    return this.console.find((l) => FATAL.test(l))?.trim();
  }

  private tailHint(): string {
    const lines = this.console
      .filter((l) => l.trim() && !/SeaBIOS|Booting from/.test(l))
      .slice(-3)
      .map((l) => l.trim());
    return lines.length ? ` (console: ${lines.join(' | ')})` : '';
  }

  /** Why the VM cannot answer any more (a panic, qemu gone), undefined while it runs. */
  failure(): string | undefined {
    if (this.running) return undefined;
    if (this.killedByUs) return `the ${this.opts.name} VM was stopped`;
    const fatal = this.fatalLine();
    return fatal
      ? `the ${this.opts.name} VM's kernel stopped: ${fatal}`
      : `the ${this.opts.name} VM stopped: ${this.exitInfo ?? 'unknown'}${this.tailHint()}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Kill qemu (synchronous; idempotent). */
  kill(): void {
    if (this.running) {
      this.killedByUs = true;
      try {
        this.child!.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    this.mux.close();
    this.socket?.destroy();
    this.server?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Resolves when qemu has exited (now, if it never started or is gone). */
  gone(): Promise<void> {
    if (!this.child || !this.running) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** Kill and wait for qemu to be gone. */
  async stop(): Promise<void> {
    this.kill();
    await this.gone();
  }
}
