// The playground in a real browser: Debian's Chromium driven by playwright-core (never a browser
// download), against `gupsim playground`'s server and the built site (npm run build:web). The page
// must show exactly what `gupsim run --json` reports, step by step; edit errors at their line; going
// back and forth; a diff result; a shared URL; keyboard-only use. Screenshots of the main views are
// written to test-results/playground/ on every run. Skipped, with the reason, without Chromium.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startPlayground, type Playground } from '../../src/cli/playground.js';
import { diffScenario } from '../../src/probe/diff.js';
import { loadScenario } from '../../src/scenario/load.js';
import { runScenario } from '../../src/scenario/run.js';
import type { KernelRunResult } from '../../src/probe/engine.js';
import type { RunResult, StepResult } from '../../src/scenario/result.js';
import type { Scenario } from '../../src/scenario/schema.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-results', 'playground');
const skipReason = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`
  : !existsSync(join(ROOT, 'dist-web', 'index.html'))
    ? 'the playground is not built (npm run build:web; npm test does)'
    : !existsSync(join(ROOT, 'dist', 'cli', 'main.js'))
      ? 'the CLI is not built (npm run build)'
      : undefined;
if (skipReason) console.log(`browser tests skipped: ${skipReason}`);

/** `gupsim run FILE --json`, as the CLI prints it. */
function cliRun(file: string): RunResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'gupsim.js'), 'run', file, '--json'], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  return JSON.parse(r.stdout) as RunResult;
}

/** A kernel engine stand-in for diff tests: the model's own result, one step's ret changed. */
function fakeKernel(changeStep: number) {
  return async (sc: Scenario): Promise<KernelRunResult> => {
    const m = runScenario(sc);
    return {
      ...m,
      engine: 'kernel',
      kernel: 'Linux 6.18 (stand-in)',
      steps: m.steps.map((s) => (s.index === changeStep ? { ...s, ret: s.ret + 1 } : s)),
      settings: [],
      notes: [],
      noise: false,
    };
  };
}

let browser: Browser;
let pg: Playground;

async function open(url = pg.url): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  (page as unknown as { errors: string[] }).errors = errors;
  await page.goto(url);
  await page.waitForSelector('body[data-ready=true]');
  return page;
}

const stepNow = (page: Page) => page.locator('#position').getAttribute('data-step').then(Number);

async function stepJson(page: Page): Promise<StepResult> {
  return JSON.parse((await page.locator('[data-testid=step-json]').textContent()) ?? '') as StepResult;
}

async function loadExample(page: Page, name: string): Promise<void> {
  await page.click(`button[data-example="${name}"]`);
  await expect.poll(() => page.locator('[data-testid=scenario-name]').textContent()).toBe(name);
  await expect.poll(() => stepNow(page)).toBe(0);
}

/** Click page `index` of a region's map, from the canvas's own layout, and read the inspector. */
async function inspectViaMap(page: Page, proc: string, region: string, index: number): Promise<Record<string, string>> {
  const canvas = page.locator(`canvas.pagemap[data-process="${proc}"][data-region="${region}"]`);
  const [cols, cell, width, height] = await canvas.evaluate((c: HTMLCanvasElement) => [
    Number(c.dataset.cols),
    Number(c.dataset.cell),
    c.width,
    c.height,
  ]);
  const box = (await canvas.boundingBox())!;
  const x = (((index % cols) + 0.5) * cell * box.width) / width!;
  const y = ((Math.floor(index / cols!) + 0.5) * cell! * box.height) / height!;
  await canvas.click({ position: { x, y } });
  await expect
    .poll(() => page.locator('#inspector-title').textContent())
    .toContain(`${proc}: ${region} page ${index},`);
  return page
    .locator('[data-testid=inspect] td[data-field]')
    .evaluateAll((tds) => Object.fromEntries(tds.map((td) => [td.getAttribute('data-field')!, td.textContent ?? ''])));
}

/** The inspector's text for a JSON value, as inspector.ts renders it. */
function shown(k: string, v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (k === 'pfn' && typeof v === 'number') return `${v} (0x${v.toString(16)})`;
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

describe.skipIf(skipReason !== undefined)('the playground in Chromium', () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    pg = await startPlayground({
      port: 0,
      probe: true,
      diff: (sc, name) => diffScenario(sc, { name, probe: fakeKernel(3) }),
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await pg?.close();
  });

  const EXAMPLES = ['fork-after-pin', 'doc-false-positive', 'doc-zero-page', 'io-uring-thp-coalesce', 'hmm_mirror'];
  it.each(EXAMPLES)('%s: every step shows what gupsim run --json reports', async (name) => {
    const cli = cliRun(join(ROOT, 'examples', `${name}.yaml`));
    const sc = loadScenario(readFileSync(join(ROOT, 'examples', `${name}.yaml`), 'utf8'));
    const page = await open();
    await loadExample(page, name);
    for (let i = 0; i < cli.steps.length; i++) {
      if (i > 0) await page.keyboard.press('ArrowRight');
      await expect.poll(() => stepNow(page)).toBe(i);
      const want = cli.steps[i]!;
      expect(await stepJson(page)).toEqual(want);
      const row = page.locator(`#steps tr[data-step="${i}"]`);
      expect(await row.getAttribute('class')).toContain('current');
      expect(await row.locator('td[data-col=acquired]').textContent()).toMatch(
        new RegExp(`^${want.vmstat.nr_foll_pin_acquired}\\b`),
      );
      expect(await page.locator('td[data-vmstat=nr_foll_pin_released]').textContent()).toBe(
        String(want.vmstat.nr_foll_pin_released),
      );
      // An inspect step: the page, clicked on the map, shows the same fields.
      const st = sc.steps[i]!;
      if (st.op === 'inspect' && st.proc && st.region && Array.isArray(want.pages)) {
        for (const rec of (want.pages as Array<Record<string, unknown>>).slice(0, 2)) {
          const got = await inspectViaMap(page, st.proc, st.region, rec.page as number);
          await page.keyboard.press('Escape'); // the map keeps its arrow keys until left
          for (const [k, v] of Object.entries(rec))
            expect(got[k], `step ${i} page ${String(rec.page)} ${k}`).toBe(shown(k, v));
          const state = (await page.locator('[data-testid=page-state]').textContent()) ?? '';
          if (!rec.present) expect(state).toContain('not present');
          else if (rec.zero_page) expect(state).toMatch(/zero/);
          else if (rec.maybe_dma_pinned) expect(state).toMatch(/pinned|false positive/);
          else expect(state).not.toMatch(/pinned|not present|zero/);
        }
      }
    }
    expect(await page.locator('[data-testid=run-ok]').textContent()).toContain(
      cli.ok ? 'every expect step holds' : 'failed',
    );
    await page.screenshot({ path: join(SHOTS, `${name}-last-step.png`), fullPage: true });
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('back and forth: any step, in any order, shows the same result', async () => {
    const cli = cliRun(join(ROOT, 'examples', 'fork-after-pin.yaml'));
    const page = await open();
    await loadExample(page, 'fork-after-pin');
    for (const target of [9, 2, 11, 0, 5, 12, 3]) {
      await page.fill('#jump', String(target));
      await page.press('#jump', 'Enter');
      await expect.poll(() => stepNow(page)).toBe(target);
      await page.keyboard.press('Tab'); // out of the number box, whose arrow keys are its own
      expect(await stepJson(page)).toEqual(cli.steps[target]);
    }
    await page.locator('body').press('End');
    await expect.poll(() => stepNow(page)).toBe(cli.steps.length - 1);
    await page.locator('body').press('ArrowLeft');
    await expect.poll(() => stepNow(page)).toBe(cli.steps.length - 2);
    await page.locator('body').press('Home');
    await expect.poll(() => stepNow(page)).toBe(0);
    await page.click('#last');
    await expect.poll(() => stepNow(page)).toBe(cli.steps.length - 1);
    await page.click('#prev');
    expect(await stepJson(page)).toEqual(cli.steps[cli.steps.length - 2]);
    await page.close();
  });

  it('an edit that breaks the scenario shows the problem at its line, did you mean included', async () => {
    const page = await open();
    await loadExample(page, 'doc-zero-page');
    const text = 'name: broken\nsteps:\n  - { op: mmap, proc: app, as: buf, size: 4KiB, typ: anon }\n';
    await page.click('#editor .cm-content');
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.locator('#editor .cm-content').pressSequentially(text.replace(/\n {2}/g, '\n'), { delay: 0 });
    const item = page.locator('#problems li[data-line="3"]', { hasText: 'unknown field' });
    await expect
      .poll(() => item.textContent(), { timeout: 10_000 })
      .toContain('unknown field "typ" (did you mean "type"?)');
    expect(await page.locator('#editor .cm-lintRange-error').count()).toBeGreaterThan(0);
    // The views keep the last valid scenario.
    expect(await page.locator('[data-testid=scenario-name]').textContent()).toBe('doc-zero-page');
    await page.screenshot({ path: join(SHOTS, 'editor-error.png') });
    await page.close();
  });

  it('opens a gupsim diff --json result and marks the steps that differ', async () => {
    const file = join(ROOT, 'examples', 'fork-after-pin.yaml');
    const sc = loadScenario(readFileSync(file, 'utf8'));
    const diff = await diffScenario(sc, { name: 'fork-after-pin', probe: fakeKernel(3) });
    const path = join(tmpdir(), `gupsim-diff-${process.pid}.json`);
    writeFileSync(path, JSON.stringify(diff));
    const page = await open();
    await loadExample(page, 'fork-after-pin');
    await page.setInputFiles('#open-diff', path);
    await expect.poll(() => page.locator('[data-testid=diff-summary]').textContent()).toContain('differ');
    expect(await page.locator('tr[data-diff-step="3"] td').nth(2).textContent()).toBe('differs');
    expect(await page.locator('tr[data-diff-step="3"] td').nth(3).textContent()).toContain('ret: model 0, kernel 1');
    expect(await page.locator('#steps tr[data-step="3"]').getAttribute('class')).toContain('diff-differs');
    await page.locator('#diff').screenshot({ path: join(SHOTS, 'diff.png') });
    await page.close();
  });

  it('runs the scenario on the kernel through the local server when started with --probe', async () => {
    const page = await open();
    await loadExample(page, 'fork-after-pin');
    await page.click('#run-kernel');
    await expect.poll(() => page.locator('[data-testid=diff-summary]').textContent()).toContain('stand-in');
    // Without the token the page offers no kernel run.
    const bare = await open(pg.url.replace(/\?token=.*$/, ''));
    expect(await bare.locator('#run-kernel').isVisible()).toBe(false);
    await bare.close();
    await page.close();
  });

  it('shares the scenario and the step by URL; a reload opens both', async () => {
    const page = await open();
    await loadExample(page, 'doc-false-positive');
    await page.fill('#jump', '4');
    await page.press('#jump', 'Enter');
    await page.click('#share');
    await expect.poll(() => page.locator('#share-url').inputValue()).toContain('#s=');
    const url = await page.locator('#share-url').inputValue();
    const text = await page.evaluate(() =>
      (window as unknown as { gupsim: { scenarioText(): string } }).gupsim.scenarioText(),
    );
    const again = await open(url);
    await expect.poll(() => stepNow(again)).toBe(4);
    expect(
      await again.evaluate(() => (window as unknown as { gupsim: { scenarioText(): string } }).gupsim.scenarioText()),
    ).toBe(text);
    expect(await again.locator('[data-testid=scenario-name]').textContent()).toBe('doc-false-positive');
    await again.reload();
    await again.waitForSelector('body[data-ready=true]');
    await expect.poll(() => stepNow(again)).toBe(4);
    await again.close();
    await page.close();
  });

  it('works from the keyboard alone, and the map has a text alternative', async () => {
    const page = await open();
    await loadExample(page, 'doc-false-positive');
    await page.locator('body').press('End');
    // Tab to the first map, move the page cursor, inspect with Enter.
    let onMap = false;
    for (let i = 0; i < 120 && !onMap; i++) {
      await page.keyboard.press('Tab');
      onMap = await page.evaluate(() => document.activeElement?.classList.contains('pagemap') ?? false);
    }
    expect(onMap).toBe(true);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('#inspector-title').textContent()).toContain('page 0,');
    expect(await page.locator('.map-cursor').first().textContent()).toMatch(/^page 0: /);
    // The map as text: the next stop after the map, opened with Enter.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    const items = page.locator('details.map-alt').first().locator('li');
    await expect.poll(() => items.count()).toBeGreaterThan(0);
    const alt = await items.allTextContents();
    expect(alt.length).toBeGreaterThan(0);
    expect(alt.join('\n')).toMatch(/page 0: exclusive anon/);
    // Step keys work once focus leaves the map.
    await page.locator('body').press('Home');
    await expect.poll(() => stepNow(page)).toBe(0);
    await page.locator('#h-memory').screenshot({ path: join(SHOTS, 'memory-heading.png') });
    await page.locator('#maps').screenshot({ path: join(SHOTS, 'maps.png') });
    await page.close();
  });

  it('the advisor answers as a form, checked by the model', async () => {
    const page = await open();
    await page.check('#adv-dma');
    await page.check('#adv-longLived');
    await page.check('#adv-writesData');
    await page.selectOption('#adv-memory', 'movable');
    await page.click('.advisor-form button[type=submit]');
    await expect.poll(() => page.locator('[data-testid=advice-case]').textContent()).toBe('Case 2: RDMA');
    expect(await page.locator('[data-testid=advice-verdict]').textContent()).toBe(
      'The model does what the advice says.',
    );
    expect(await page.locator('[data-testid=advice-findings]').textContent()).toContain('migrated for the pin');
    await page.locator('#advisor').screenshot({ path: join(SHOTS, 'advisor.png') });
    await page.close();
  });
});
