// The playground's race explorer in a real browser: Debian's Chromium driven by playwright-core (never a
// browser download), against `gupsim playground`'s server and the built site (npm run build:web). A race
// example loaded, the explorer run in the Web Worker must list what `gupsim explore --json` reports (end
// states, violations), with 6.18's protections and with one switched off; the shortest violating
// interleaving is stepped through point by point: the thread, the kernel function and the pages after
// each point, as the JSON's trace says. Skipped, with the reason, without Chromium.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Browser, Page } from 'playwright-core';
import { ROOT, SHOTS, skipReason, launchChromium } from './chromium.js';
import { startPlayground, type Playground } from '../../src/cli/playground.js';
import type { ExploreResult } from '../../src/tools/explore/explorer.js';

/** `gupsim explore FILE --json [--without FLAG]`, as the CLI prints it. */
function cliExplore(name: string, without?: string): ExploreResult {
  const args = [join(ROOT, 'bin', 'gupsim.js'), 'explore', join(ROOT, 'examples', `${name}.yaml`), '--json'];
  if (without) args.push('--without', without);
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', cwd: ROOT });
  return JSON.parse(r.stdout) as ExploreResult;
}

let browser: Browser;
let pg: Playground;

async function open(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  (page as unknown as { errors: string[] }).errors = errors;
  await page.goto(pg.url);
  await page.waitForSelector('body[data-ready=true]');
  return page;
}

async function loadExample(page: Page, name: string): Promise<void> {
  await page.click(`button[data-example="${name}"]`);
  await expect.poll(() => page.locator('[data-testid=scenario-name]').textContent()).toBe(name);
}

/** Run the explorer from the page (with `without` chosen) and wait for its summary. */
async function runExplorer(page: Page, without: string): Promise<void> {
  await expect.poll(() => page.locator('#explore-without option').count()).toBeGreaterThan(1);
  await page.selectOption('#explore-without', without);
  await page.click('#explore');
  await page.waitForSelector('[data-testid=explore-summary]', { timeout: 60_000 });
}

describe.skipIf(skipReason !== undefined)('the playground explorer in Chromium', () => {
  beforeAll(async () => {
    pg = await startPlayground({ port: 0 });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await pg?.close();
  });

  it('the explorer shows only for a scenario with a concurrent step', async () => {
    const page = await open();
    await loadExample(page, 'fork-after-pin');
    expect(await page.locator('#races').isHidden()).toBe(true);
    await loadExample(page, 'race-fork-gup-fast');
    expect(await page.locator('#races').isVisible()).toBe(true);
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it("race-fork-gup-fast with 6.18's protections: the end states gupsim explore reports, no violation", async () => {
    const cli = cliExplore('race-fork-gup-fast');
    const page = await open();
    await loadExample(page, 'race-fork-gup-fast');
    await runExplorer(page, '');
    const summary = page.locator('[data-testid=explore-summary]');
    expect(Number(await summary.getAttribute('data-ends'))).toBe(cli.ends.length);
    expect(Number(await summary.getAttribute('data-violations'))).toBe(0);
    expect(await summary.textContent()).toContain(`${cli.interleavings} interleavings, ${cli.states} states`);
    const ends = page.locator('[data-testid=explore-ends] > li');
    expect(await ends.count()).toBe(cli.ends.length);
    for (let i = 0; i < cli.ends.length; i++) {
      const e = cli.ends[i]!;
      const li = ends.nth(i);
      expect(Number(await li.getAttribute('data-interleavings'))).toBe(e.interleavings);
      expect(await li.locator('pre').textContent()).toBe([...e.returns, ...e.pages, ...e.handles].join('\n'));
    }
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('without write-protect-seq: the violation, stepped through point by point as the JSON trace says', async () => {
    const cli = cliExplore('race-fork-gup-fast', 'write-protect-seq');
    const v = cli.violations[0]!;
    const page = await open();
    await loadExample(page, 'race-fork-gup-fast');
    await runExplorer(page, 'write-protect-seq');
    const items = page.locator('[data-testid=explore-violations] > li');
    expect(await items.count()).toBe(cli.violations.length);
    expect(await items.first().locator('strong').textContent()).toBe(v.property);
    await items.first().locator('button').click();
    for (let k = 0; k < v.trace.length; k++) {
      if (k > 0) await page.click('#trace-next');
      await expect.poll(() => page.locator('#trace-position').getAttribute('data-point')).toBe(String(k));
      const want = v.trace[k]!;
      const step = page.locator('[data-testid=trace-step]');
      expect(await step.getAttribute('data-thread')).toBe(want.thread);
      expect(await step.getAttribute('data-fn')).toBe(want.fn);
      expect(await step.textContent()).toContain(want.what);
      expect(await page.locator('[data-testid=trace-pages]').textContent()).toBe((want.pages ?? []).join('\n'));
      if (k === 3) await page.screenshot({ path: join(SHOTS, 'explorer-trace.png'), fullPage: true });
    }
    // The last point says what broke; going back moves back.
    expect(await page.locator('#explore-trace').textContent()).toContain(v.message);
    await page.click('#trace-prev');
    await expect
      .poll(() => page.locator('#trace-position').getAttribute('data-point'))
      .toBe(String(v.trace.length - 2));
    // The GUP-fast grab comes between fork's decision to share and its write-protect.
    const fns = v.trace.map((t) => `${t.thread}:${t.fn}`);
    expect(fns.indexOf('fork:folio_try_dup_anon_rmap_pte')).toBeLessThan(fns.indexOf('dma:try_grab_folio_fast'));
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });
});
