// The host's end of the serial line that carries the guest helper's channels (helper.c, serial
// mode): lines to the guest are "C LINE\n" (C = 0 for the supervisor, 1..K for the worker
// descriptors 3..3+K-1); lines from the guest are frames starting with \x1e: "\x1eC LINE" (a reply on
// channel C), "\x1eR {json}" (a supervisor is ready), "\x1eX STATUS" (it exited). Anything else on
// the line is not a frame and is kept apart (nothing should write there). Each supervisor the guest
// starts is a new *generation* of channels: the lines of an old one never reach a new one.

import type { HelperLink } from '../helper.js';

export const FRAME = '\x1e';

/** A line for channel `ch` of the guest. */
export function encodeHostLine(ch: number, line: string): string {
  if (line.includes('\n')) throw new Error('a helper command is one line');
  return `${ch} ${line}\n`;
}

export type GuestFrame =
  | { kind: 'line'; ch: number; line: string }
  | { kind: 'ready'; info: Record<string, unknown> }
  | { kind: 'exit'; status: number }
  | { kind: 'noise'; text: string };

/** Parse one line from the guest (without its newline). */
export function parseGuestLine(raw: string): GuestFrame {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (!line.startsWith(FRAME)) return { kind: 'noise', text: line };
  const body = line.slice(1);
  if (body.startsWith('R ')) {
    try {
      return { kind: 'ready', info: JSON.parse(body.slice(2)) as Record<string, unknown> };
    } catch {
      return { kind: 'noise', text: line };
    }
  }
  if (body.startsWith('X ')) return { kind: 'exit', status: Number(body.slice(2)) };
  const m = /^(\d+) /.exec(body);
  if (!m) return { kind: 'noise', text: line };
  return { kind: 'line', ch: Number(m[1]), line: body.slice(m[0].length) };
}

/** Splits the guest's byte stream into frames. */
export class FrameParser {
  private buf = '';

  push(chunk: string): GuestFrame[] {
    this.buf += chunk;
    const out: GuestFrame[] = [];
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (line.length) out.push(parseGuestLine(line));
    }
    return out;
  }
}

/** One channel of one supervisor generation. */
class MuxChannel implements HelperLink {
  private lines: string[] = [];
  private waiter: ((line: string | null) => void) | undefined;
  private ended = false;

  constructor(
    private readonly mux: SerialMux,
    readonly ch: number,
  ) {}

  send(line: string): void {
    this.mux.write(encodeHostLine(this.ch, line));
  }

  deliver(line: string): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(line);
    } else this.lines.push(line);
  }

  end(): void {
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w(null);
    }
  }

  next(): Promise<string | null> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }
}

export interface MuxStream {
  write(s: string): unknown;
  on(ev: 'data', fn: (chunk: Buffer | string) => void): unknown;
}

/** The channels of the guest's current supervisor. */
export interface Generation {
  info: Record<string, unknown>;
  supervisor: HelperLink;
  channels: HelperLink[];
}

export class SerialMux {
  private readonly parser = new FrameParser();
  private current: { info: Record<string, unknown>; chans: MuxChannel[] } | undefined;
  private readyWaiters: Array<() => void> = [];
  private exitWaiters: Array<() => void> = [];
  /** Lines that were not frames (should be none). */
  readonly noise: string[] = [];
  private closed = false;

  constructor(
    private readonly stream: MuxStream,
    private readonly slots: number,
  ) {
    stream.on('data', (chunk) => this.feed(typeof chunk === 'string' ? chunk : chunk.toString('utf8')));
  }

  write(s: string): void {
    if (!this.closed) this.stream.write(s);
  }

  feed(chunk: string): void {
    for (const f of this.parser.push(chunk)) {
      switch (f.kind) {
        case 'ready': {
          this.endGeneration();
          const chans: MuxChannel[] = [];
          for (let i = 0; i <= this.slots; i++) chans.push(new MuxChannel(this, i));
          this.current = { info: f.info, chans };
          for (const w of this.readyWaiters.splice(0)) w();
          break;
        }
        case 'exit':
          this.endGeneration();
          for (const w of this.exitWaiters.splice(0)) w();
          break;
        case 'line':
          this.current?.chans[f.ch]?.deliver(f.line);
          break;
        case 'noise':
          if (this.noise.length < 100) this.noise.push(f.text);
          break;
      }
    }
  }

  private endGeneration(): void {
    for (const c of this.current?.chans ?? []) c.end();
    this.current = undefined;
  }

  /** The current supervisor's channels, or undefined while none is ready. */
  generation(): Generation | undefined {
    const c = this.current;
    if (!c) return undefined;
    return { info: c.info, supervisor: c.chans[0]!, channels: c.chans.slice(1) };
  }

  /** Resolves when a supervisor is ready (now, if one is). */
  ready(): Promise<void> {
    if (this.current) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Resolves when the current supervisor has exited (now, if none is running). */
  exited(): Promise<void> {
    if (!this.current) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  /** The line is gone (the VM stopped): every channel ends, every waiter wakes. */
  close(): void {
    this.closed = true;
    this.endGeneration();
    for (const w of [...this.readyWaiters.splice(0), ...this.exitWaiters.splice(0)]) w();
  }
}
