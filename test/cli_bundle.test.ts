// The CLI's bundle as `npm run build` makes it (scripts/build-cli.mjs, bin/bundle.js): bin/gupsim.js
// runs it, V8 accepts its code cache, and `gupsim run` of every example takes the quick path (zod is
// never evaluated) while an invalid scenario still gets zod's messages; on the fuzzer's scenarios the
// bundle answers exactly as tsc's output does.

import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fuzzCorpus } from './scenario_support.js';

const root = join(import.meta.dirname, '..');
const bundleJs = pathToFileURL(join(root, 'bin', 'bundle.js')).href;
const built = existsSync(join(root, 'dist', 'bundle', 'gupsim.cjs'));

/** Run `code` (an ES module) in a fresh Node process; its stdout. */
function node(code: string): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!built)('the CLI bundle (skipped: not built, npm run build)', () => {
  it('is current, and V8 takes its code cache', () => {
    const out = node(
      `import { bundleIsCurrent, loadBundle } from ${JSON.stringify(bundleJs)};\n` +
        'const b = loadBundle();\n' +
        'console.log(JSON.stringify({ current: bundleIsCurrent(), rejected: b.script.cachedDataRejected }));',
    );
    expect(JSON.parse(out)).toEqual({ current: true, rejected: false });
  });

  it('runs every example without evaluating zod, and falls back to zod for an invalid scenario', () => {
    const out = node(
      `import { loadBundle } from ${JSON.stringify(bundleJs)};\n` +
        "import { readdirSync } from 'node:fs';\n" +
        'const { main } = loadBundle().exports;\n' +
        'const write = process.stdout.write.bind(process.stdout);\n' +
        'process.stdout.write = () => true;\n' +
        'process.stderr.write = () => true;\n' +
        'const codes = [];\n' +
        "for (const f of readdirSync('examples').sort()) codes.push(await main(['run', 'examples/' + f]));\n" +
        "const quick = '__zod_globalConfig' in globalThis;\n" +
        "codes.push(await main(['check', 'package.json']));\n" +
        "const zodAfterBad = '__zod_globalConfig' in globalThis;\n" +
        'write(JSON.stringify({ codes: [...new Set(codes)], quick, zodAfterBad }));',
    );
    expect(JSON.parse(out)).toEqual({ codes: [0, 2], quick: false, zodAfterBad: true });
  });

  it('bin/gupsim.js gives the same messages for invalid scenarios as the unbundled CLI', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-bundle-'));
    const texts = [
      'steps:\n  - { op: mmap, proc: a, as: b, size: lots, type: anon }\n',
      'machine: { memroy: 1G }\nsteps: []\n',
      'steps:\n  - { op: write, proc: a, region: nowhere }\n',
      'steps: [\n',
    ];
    texts.forEach((text, i) => {
      const file = join(dir, `bad${i}.yaml`);
      writeFileSync(file, text);
      const viaBin = spawnSync(process.execPath, [join(root, 'bin', 'gupsim.js'), 'run', file], { encoding: 'utf8' });
      const main = pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href;
      const viaTsc = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { main } from ${JSON.stringify(main)};\n` +
            `process.exitCode = await main(['run', ${JSON.stringify(file)}]);`,
        ],
        { encoding: 'utf8' },
      );
      expect(viaBin.status).toBe(2);
      expect([viaBin.status, viaBin.stderr]).toEqual([viaTsc.status, viaTsc.stderr]);
    });
  });

  it("answers the fuzzer's scenarios as the unbundled CLI does: exit code, output, errors", () => {
    const dir = mkdtempSync(join(tmpdir(), 'gupsim-fuzz-'));
    const cases = [3, 17, 101].flatMap((seed) => fuzzCorpus(30, seed));
    const files = cases.map(({ text }, i) => {
      const file = join(dir, `f${i}.yaml`);
      writeFileSync(file, text);
      return file;
    });
    const tscMain = pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href;
    const out = node(
      `import { loadBundle } from ${JSON.stringify(bundleJs)};\n` +
        `import { main as tsc } from ${JSON.stringify(tscMain)};\n` +
        'const bundle = loadBundle().exports.main;\n' +
        'const write = process.stdout.write.bind(process.stdout);\n' +
        'let text = "";\n' +
        'process.stdout.write = process.stderr.write = (s) => ((text += s), true);\n' +
        'const answer = async (main, file) => {\n' +
        '  text = "";\n' +
        "  const code = await main(['run', file]);\n" +
        '  return { code, text };\n' +
        '};\n' +
        'const res = [];\n' +
        `for (const f of ${JSON.stringify(files)}) res.push([await answer(bundle, f), await answer(tsc, f)]);\n` +
        'write(JSON.stringify(res));',
    );
    const res = JSON.parse(out) as Array<[{ code: number; text: string }, { code: number; text: string }]>;
    expect(res.length).toBe(cases.length);
    res.forEach(([viaBundle, viaTsc], i) => {
      expect([0, 1, 2], cases[i]!.what).toContain(viaBundle.code);
      expect(viaBundle.text, cases[i]!.what).not.toMatch(/^\s+at .+:\d+:\d+\)?$|node:internal/m);
      expect(viaBundle, cases[i]!.what).toEqual(viaTsc);
    });
    // Both kinds are there: scenarios that run and scenarios refused with a message naming step and field.
    expect(res.some(([b]) => b.code === 0)).toBe(true);
    expect(res.some(([b]) => b.code === 2 && /step \d+/.test(b.text))).toBe(true);
  });
});

describe('bin/gupsim.js without the bundle', () => {
  it.skipIf(!existsSync(join(root, 'dist', 'cli', 'main.js')))(
    "runs tsc's output: the same answer as with it (skipped: not built)",
    () => {
      // A copy of the package whose dist/ has everything but bundle/ (links to the real directories).
      const copy = mkdtempSync(join(tmpdir(), 'gupsim-nobundle-'));
      cpSync(join(root, 'bin'), join(copy, 'bin'), { recursive: true });
      mkdirSync(join(copy, 'dist'));
      for (const d of readdirSync(join(root, 'dist'))) {
        if (d !== 'bundle') symlinkSync(join(root, 'dist', d), join(copy, 'dist', d));
      }
      const scenario = join(root, 'examples', 'vmsplice.yaml');
      const run = (bin: string) =>
        spawnSync(process.execPath, [bin, 'run', scenario, '--json'], { encoding: 'utf8', cwd: root });
      const without = run(join(copy, 'bin', 'gupsim.js'));
      expect(without.status).toBe(0);
      expect(without.stdout).toBe(run(join(root, 'bin', 'gupsim.js')).stdout);
    },
  );
});
