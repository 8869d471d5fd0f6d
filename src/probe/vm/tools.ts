// The host programs the VM engine runs, found on PATH, each with the Debian package to install
// when it is missing (so a failure is one line saying what to do), and a small promise-based
// runner for them with a timeout and the tail of stderr in its error.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ProbeError } from '../errors.js';

/** Program -> the Debian package that provides it. */
export const TOOL_PACKAGES: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  make: 'make',
  pahole: 'dwarves',
  depmod: 'kmod',
  'mkfs.ext4': 'e2fsprogs',
  xz: 'xz-utils',
  zstd: 'zstd',
  'gcc-12': 'gcc-12',
};

/** The program's path on PATH (or as given, if it contains a slash), or undefined. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = (env.PATH ?? '/usr/bin:/bin').split(delimiter).filter(Boolean);
  // sbin directories hold depmod and mkfs.ext4; a non-root PATH may lack them.
  for (const d of ['/usr/sbin', '/sbin']) if (!dirs.includes(d)) dirs.push(d);
  const paths = name.includes('/') ? [name] : dirs.map((d) => join(d, name));
  for (const p of paths) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** The program's path, or ProbeError ERR_PROBE_UNSUPPORTED saying which package to install (and why it is needed). */
export function requireProgram(name: string, why: string): string {
  const p = findProgram(name);
  if (p) return p;
  const pkg = TOOL_PACKAGES[name];
  throw new ProbeError('ERR_PROBE_UNSUPPORTED', `${name} not found (${why})${pkg ? `: apt-get install ${pkg}` : ''}`);
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Bytes written to the program's stdin. */
  input?: Buffer | string;
  /** Keep stdout as bytes (default: text). */
  binary?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Run a program to completion (never through a shell). Rejects only when it cannot be started. */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: o.cwd,
      env: o.env ?? process.env,
      stdio: [o.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (o.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    if (o.input !== undefined) child.stdin!.end(o.input);
  });
}

/** The last few non-empty lines of a program's output, for an error message. */
export function tail(text: string, lines = 6): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-lines)
    .join(' | ');
}

/** Run, and throw ERR_PROBE_UNSUPPORTED with `what` and the output's tail unless it exits 0. */
export async function runOk(what: string, cmd: string, args: string[], o: RunOptions = {}): Promise<RunResult> {
  let r: RunResult;
  try {
    r = await run(cmd, args, o);
  } catch (e) {
    throw new ProbeError('ERR_PROBE_UNSUPPORTED', `${what}: cannot run ${cmd}: ${(e as Error).message}`);
  }
  if (r.code !== 0) {
    const why = r.signal
      ? `killed by ${r.signal}${o.timeoutMs ? ` (time limit ${Math.round(o.timeoutMs / 1000)} s)` : ''}`
      : `exit ${r.code}`;
    const out = tail(r.stderr) || tail(r.stdout.toString('utf8'));
    throw new ProbeError('ERR_PROBE_UNSUPPORTED', `${what} failed (${why})${out ? `: ${out}` : ''}`);
  }
  return r;
}
