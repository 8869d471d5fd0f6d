// `gupsim advise`: the compiled CLI (flags -> JSON / text, usage errors) and the interview.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { interview, formatAdvice, inputFromFlags, type Ask } from './advise.js';
import { advise } from '../tools/advisor.js';
import { adviseChecked } from '../tools/advisor_check.js';

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

  it('human output: case, call, flags, release, the check, why, pitfalls', () => {
    const r = cli('--dma', '--long-lived', '--writes', '--memory', 'anon');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('Case 2: RDMA (Documentation/core-api/pin_user_pages.rst)');
    expect(lines[1]).toBe('  call:     pin_user_pages_fast()');
    expect(lines[2]).toBe('  flags:    FOLL_LONGTERM | FOLL_WRITE (FOLL_PIN set by the API itself)');
    expect(lines[3]).toMatch(/^ {2}release: {2}unpin_user_pages_dirty_lock\(pages, npages, true\)/);
    expect(lines[5]).toBe('  checked:  accepted (16/16 pages released) on the model of Linux 6.18');
    expect(lines).toContain('why:');
    expect(lines).toContain('pitfalls:');
  });

  it('the issue: a MAP_SHARED disk file is refused first, with the rule and alternatives the model accepts', () => {
    const r = cli('--dma', '--long-lived', '--writes', '--memory', 'file-disk', '--shared');
    expect(r.status).toBe(0);
    const text = r.stdout.replace(/\n +/g, ' ');
    expect(text).toMatch(
      new RegExp(
        '^REFUSED on file-disk, MAP_SHARED: the model of Linux 6\\.18 answers ' +
          'pin_user_pages_fast\\(FOLL_LONGTERM \\| FOLL_WRITE\\) with -EFAULT ' +
          '\\(check_vma_flags\\(\\): writable_file_mapping_allowed',
      ),
    );
    expect(text.indexOf('REFUSED')).toBeLessThan(text.indexOf('Case 2: RDMA'));
    expect(text).toContain('What works instead (each run on the model of Linux 6.18):');
    expect(text).toContain('[Case 1, pin_user_pages_fast(FOLL_WRITE): accepted (16/16 pages released)]');
    expect(text).toContain('checked:  REFUSED (-EFAULT from check_vma_flags()) on the model of Linux 6.18');
  });

  it('--json: refusals first, then the advice, and the model verdict in checked', () => {
    const j = JSON.parse(cli('--dma', '--long-lived', '--writes', '--memory', 'file-disk', '--json').stdout);
    expect(Object.keys(j).slice(0, 4)).toEqual(['schemaVersion', 'input', 'refusals', 'case']);
    expect(j.input).not.toHaveProperty('shared');
    expect(j.checked.runs.map((r: { shared: boolean; errno: string | null }) => [r.shared, r.errno])).toEqual([
      [true, 'EFAULT'],
      [false, null],
    ]);
    expect(j.refusals).toHaveLength(1);
    expect(j.refusals[0]).toMatchObject({
      id: 'dirty-tracked-file-longterm-write',
      conditional: true,
      errno: 'EFAULT',
    });
    expect(j.refusals[0].alternatives.every((a: { checked: { ok: boolean } }) => a.checked.ok)).toBe(true);
    expect(cli('--dma', '--long-lived', '--writes', '--memory', 'file-disk', '--private', '--json').stdout).toMatch(
      /"refusals": \[\]/,
    );
  });

  it('--shared with --private, or MAP_SHARED anonymous memory: usage error (exit 2)', () => {
    const both = cli('--dma', '--memory', 'shmem', '--shared', '--private');
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/--shared and --private exclude each other/);
    const anon = cli('--dma', '--memory', 'anon', '--shared');
    expect(anon.status).toBe(2);
    expect(anon.stderr).toMatch(/use memory shmem/);
    expect(anon.stderr).not.toMatch(/\n\s+at /);
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
    const s = scripted(['maybe', 'y', 'yes', 'Y', 'n', 'hugetlb', 'MAP_PRIVATE']);
    const input = await interview(s.ask);
    expect(input).toEqual({
      dma: true,
      longLived: true,
      writesData: true,
      mmuNotifier: false,
      structPageOnly: false,
      memory: 'hugetlb',
      shared: false,
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

  it('asks MAP_SHARED or MAP_PRIVATE only for memory that can be either', async () => {
    const file = scripted(['y', 'y', 'y', 'n', 'file-disk', 'huh', 'shared']);
    expect((await interview(file.ask)).shared).toBe(true);
    expect(file.asked.at(-1)).toMatch(/MAP_SHARED or MAP_PRIVATE\?/);
    expect(file.asked.at(-1)).toBe(file.asked.at(-2)); // "huh" was not an answer
    const unknown = scripted(['y', 'y', 'y', 'n', 'shmem', '']);
    expect(await interview(unknown.ask)).not.toHaveProperty('shared');
    const anon = scripted(['y', 'y', 'y', 'n', 'anon']);
    expect(await interview(anon.ask)).not.toHaveProperty('shared');
    expect(anon.asked.some((x) => x.includes('MAP_SHARED'))).toBe(false);
  });

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
    expect(inputFromFlags({ private: true })).toMatchObject({ shared: false });
    expect(inputFromFlags({ memory: 'fsdax', shared: true })).toMatchObject({ memory: 'fsdax', shared: true });
  });

  it('wraps to the width with hanging indents', () => {
    const text = formatAdvice(
      adviseChecked({ dma: true, longLived: true, writesData: true, mmuNotifier: false, structPageOnly: false }),
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
