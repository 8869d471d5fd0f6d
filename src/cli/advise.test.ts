// `gupsim advise`: the compiled CLI (flags -> JSON / text, usage errors) and the interview.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { interview, formatAdvice, inputFromFlags, type Ask } from './advise.js';
import { advise } from '../tools/advisor.js';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'gupsim.js');
// stdin is a pipe here, never a terminal.
const cli = (...args: string[]) =>
  spawnSync(process.execPath, [bin, 'advise', ...args], { encoding: 'utf8', cwd: root, input: '' });

describe('gupsim advise (compiled CLI)', () => {
  it('flags -> the advisor object as JSON', () => {
    const r = cli('--dma', '--long-lived', '--writes', '--memory', 'anon', '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({
      schemaVersion: 1,
      input: {
        dma: true,
        longLived: true,
        writesData: true,
        mmuNotifier: false,
        structPageOnly: false,
        memory: 'anon',
      },
      case: 2,
      title: 'RDMA',
      api: 'pin_user_pages_fast()',
      flags: ['FOLL_LONGTERM', 'FOLL_WRITE'],
      implied: ['FOLL_PIN'],
    });
    expect(j.release).toMatch(/^unpin_user_pages_dirty_lock/);
    expect(j.pitfallIds).toEqual(advise(j.input).pitfallIds);
  });

  it('--mmu-notifier --no-device-faults: Case 3 with GUP', () => {
    const j = JSON.parse(cli('--mmu-notifier', '--no-device-faults', '--json').stdout);
    expect(j.input.deviceFaults).toBe(false);
    expect(j).toMatchObject({ case: 3, implied: ['FOLL_GET'] });
  });

  it('human output: case, call, flags, release, why, pitfalls', () => {
    const r = cli('--dma', '--long-lived', '--writes');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Case 2: RDMA (Documentation/core-api/pin_user_pages.rst)');
    expect(lines[1]).toBe('  call:     pin_user_pages_fast()');
    expect(lines[2]).toBe('  flags:    FOLL_LONGTERM | FOLL_WRITE (FOLL_PIN set by the API itself)');
    expect(lines[3]).toMatch(/^ {2}release: {2}unpin_user_pages_dirty_lock\(pages, npages, true\)/);
    expect(lines).toContain('why:');
    expect(lines).toContain('pitfalls:');
    expect(r.stdout).toContain('-EOPNOTSUPP');
  });

  it('no flags and no terminal: usage error, exit 2, no stack trace', () => {
    const r = cli();
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^gupsim: advise: give answer flags/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(cli('--json').status).toBe(2); // --json alone answers nothing
  });

  it('an unknown memory type is a usage error (exit 2)', () => {
    const r = cli('--dma', '--memory', 'swap');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("'swap'");
  });
});

describe('advise interview and formatting', () => {
  const scripted = (answers: string[]): { ask: Ask; asked: string[] } => {
    const asked: string[] = [];
    return {
      asked,
      ask: async (question) => {
        asked.push(question);
        return answers.length ? answers.shift()! : null;
      },
    };
  };

  it("asks the doc's distinctions, re-asking on a bad answer", async () => {
    const s = scripted(['maybe', 'y', 'yes', 'Y', 'n', 'hugetlb']);
    const input = await interview(s.ask);
    expect(input).toEqual({
      dma: true,
      longLived: true,
      writesData: true,
      mmuNotifier: false,
      structPageOnly: false,
      memory: 'hugetlb',
    });
    expect(s.asked[0]).toBe(s.asked[1]); // "maybe" was not an answer
    expect(advise(input).case).toBe(2);
  });

  it(
    'asks about replayable faults for notifier users, and struct-page-only when nothing ' + 'touches the data',
    async () => {
      const n = scripted(['y', 'n', 'n', 'y', '?', '']);
      const a = await interview(n.ask);
      expect(a.mmuNotifier).toBe(true);
      expect(a.deviceFaults).toBeUndefined();
      expect(n.asked.some((x) => x.includes('replayable page faults'))).toBe(true);
      const s = scripted(['n', 'n', 'n', 'n', 'y', 'unknown']);
      expect((await interview(s.ask)).structPageOnly).toBe(true);
    },
  );

  it('end of input is a usage error', async () => {
    await expect(interview(scripted(['y']).ask)).rejects.toMatchObject({ code: 'ERR_USAGE', exitCode: 2 });
  });

  it('only answer flags count as answers', () => {
    expect(inputFromFlags({ json: true })).toBeUndefined();
    expect(inputFromFlags({ memory: 'anon' })).toEqual({
      dma: false,
      longLived: false,
      writesData: false,
      mmuNotifier: false,
      structPageOnly: false,
      memory: 'anon',
    });
  });

  it('wraps to the width with hanging indents', () => {
    const text = formatAdvice(
      advise({ dma: true, longLived: true, writesData: true, mmuNotifier: false, structPageOnly: false }),
      72,
    );
    for (const line of text.split('\n')) {
      if (!line.includes(' ')) continue; // an unbreakable word may overflow
      expect(line.length).toBeLessThanOrEqual(72);
    }
    expect(text).toMatch(/\n {2}- Case 2 \(RDMA\)/);
    expect(text).toMatch(/\n {4}\S/); // continuation lines
  });
});
