import { describe, it, expect } from 'vitest';
import { encodeHostLine, FrameParser, parseGuestLine, SerialMux } from './mux.js';

describe('serial framing', () => {
  it('host lines carry the channel; guest frames start with \\x1e', () => {
    expect(encodeHostLine(3, 'mmap kind=anon')).toBe('3 mmap kind=anon\n');
    expect(() => encodeHostLine(0, 'a\nb')).toThrow();
    expect(parseGuestLine('\x1e0 {"ret":0}')).toEqual({ kind: 'line', ch: 0, line: '{"ret":0}' });
    expect(parseGuestLine('\x1e12 {"ret":1}\r')).toEqual({ kind: 'line', ch: 12, line: '{"ret":1}' });
    expect(parseGuestLine('\x1eR {"pid":5}')).toEqual({ kind: 'ready', info: { pid: 5 } });
    expect(parseGuestLine('\x1eX 0')).toEqual({ kind: 'exit', status: 0 });
    // A kernel log line (or anything else) is never a frame, even when it looks like one.
    expect(parseGuestLine('0 {"ret":0}')).toEqual({ kind: 'noise', text: '0 {"ret":0}' });
    expect(parseGuestLine('[    1.0] 3 {"ret":0}').kind).toBe('noise');
    expect(parseGuestLine('\x1eR not json').kind).toBe('noise');
  });

  it('reassembles frames split anywhere', () => {
    const p = new FrameParser();
    const text = '\x1eR {"pid":1}\n\x1e0 {"ret":0,"errno":null}\n\x1e2 {"ret":-14,"errno":"EFAULT"}\n';
    const frames = [];
    for (const ch of text) frames.push(...p.push(ch));
    expect(frames.map((f) => f.kind)).toEqual(['ready', 'line', 'line']);
    expect(frames[2]).toEqual({ kind: 'line', ch: 2, line: '{"ret":-14,"errno":"EFAULT"}' });
  });

  it('routes lines to the channels of the current supervisor; a new one gets fresh channels', async () => {
    const sent: string[] = [];
    const mux = new SerialMux({ write: (s) => sent.push(s), on: () => undefined }, 2);
    expect(mux.generation()).toBeUndefined();
    mux.feed('\x1eR {"pid":7}\n');
    const g = mux.generation()!;
    expect(g.info).toEqual({ pid: 7 });
    g.channels[1]!.send('pid');
    expect(sent).toEqual(['2 pid\n']);
    mux.feed('\x1e2 {"ret":0,"pid":9}\n\x1e0 {"ret":1}\n');
    expect(await g.channels[1]!.next()).toBe('{"ret":0,"pid":9}');
    expect(await g.supervisor.next()).toBe('{"ret":1}');
    const pending = g.supervisor.next();
    const exited = mux.exited();
    mux.feed('\x1eX 0\n');
    expect(await pending).toBeNull();
    await exited;
    expect(mux.generation()).toBeUndefined();
    mux.feed('\x1e0 {"late":true}\n\x1eR {"pid":8}\n\x1e0 {"ret":2}\n');
    const g2 = mux.generation()!;
    expect(g2.info).toEqual({ pid: 8 });
    expect(await g2.supervisor.next()).toBe('{"ret":2}');
    mux.close();
    expect(await g2.channels[0]!.next()).toBeNull();
  });

  it('keeps lines that are not frames apart', () => {
    const mux = new SerialMux({ write: () => undefined, on: () => undefined }, 1);
    mux.feed('garbage\n\x1eR {}\n');
    expect(mux.noise).toEqual(['garbage']);
  });
});
