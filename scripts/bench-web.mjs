// `npm run bench:web`: the playground's timings in Debian's Chromium (a benchmark, never a test):
// building the timeline of a 50-step scenario on a 1 GiB machine, moving to every step of it (the
// redraw of every view, JavaScript time), and painting a 262,144-page (1 GiB) region's map.
// Prints a table, or JSON with --json. Needs `npm run build` and `npm run build:web` first.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startPlayground } from '../dist/cli/playground.js';

const CHROMIUM = '/usr/bin/chromium';
const json = process.argv.includes('--json');
if (!existsSync(CHROMIUM)) {
  console.error(`bench:web needs Chromium at ${CHROMIUM} (apt-get install chromium)`);
  process.exit(2);
}

/** 50 steps on a 1 GiB machine: a 1 GiB region (262,144 pages) partly faulted, THPs, rings, pins, forks. */
function scenario() {
  const steps = [
    '{ op: mmap, proc: app, as: big, size: 1GiB, type: anon, align: 2MiB }',
    '{ op: madvise, proc: app, region: big, advice: nohugepage }',
    '{ op: write, proc: app, region: big, length: 256MiB }',
    '{ op: mmap, proc: app, as: thp, size: 128MiB, type: anon, align: 2MiB }',
    '{ op: madvise, proc: app, region: thp, advice: hugepage }',
    '{ op: write, proc: app, region: thp }',
  ];
  for (let i = 1; steps.length < 50; i++) {
    const k = (i - 1) % 8;
    steps.push(
      [
        `{ op: io_uring_register_buffers, proc: app, region: big, length: 16MiB, offset: ${(i % 8) * 16}MiB, ` +
          `as: ring${i} }`,
        `{ op: pin_user_pages_fast, proc: app, region: thp, length: 8MiB, flags: [FOLL_WRITE, FOLL_LONGTERM], ` +
          `as: pin${i} }`,
        `{ op: fork, proc: app, child: kid${i} }`,
        '{ op: write, proc: app, region: big, length: 4MiB }',
        `{ op: exit, proc: kid${i - 2} }`,
        `{ op: io_uring_unregister_buffers, ring: ring${i - 5} }`,
        `{ op: unpin_user_pages, pins: pin${i - 5} }`,
        '{ op: inspect, proc: app, region: big, page: 3 }',
      ][k],
    );
  }
  return `name: bench-50-steps-1GiB\nmachine: { memory: 1GiB }\nsteps:\n${steps.map((s) => `  - ${s}`).join('\n')}\n`;
}

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const pg = await startPlayground({ port: 0 });
const browser = await chromium.launch({
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
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  await page.goto(pg.url);
  await page.waitForSelector('body[data-ready=true]');
  const r = await page.evaluate(async (text) => {
    const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve(undefined)));
    const app = window.gupsim;
    const builds = [];
    for (let k = 0; k < 3; k++) {
      const t0 = performance.now();
      app.open(text, 'bench');
      builds.push(performance.now() - t0);
    }
    const n = Number(document.getElementById('jump').max) + 1;
    // Every step, in an order that jumps back and forth.
    const order = [];
    for (let i = 0; i < n; i++) order.push((i * 17) % n);
    const moves = [];
    const frames = [];
    await frame();
    for (let round = 0; round < 3; round++)
      for (const i of order) {
        const t0 = performance.now();
        app.go(i);
        moves.push(performance.now() - t0);
        // Then the frame that shows it (maps scrolled into view are painted as they appear).
        await frame();
        frames.push(performance.now() - t0);
      }
    const paints = [];
    for (let k = 0; k < 5; k++) paints.push(window.gupsimBench.paint(262144));
    return { steps: n, builds, moves, frames, paints, regions: document.querySelectorAll('canvas.pagemap').length };
  }, scenario());
  const out = {
    scenario: { steps: r.steps, machine_bytes: 2 ** 30, region_pages: 262144, maps_on_page: r.regions },
    timeline_build_ms: median(r.builds),
    step_move_ms: { median: median(r.moves), max: Math.max(...r.moves), moves: r.moves.length },
    step_to_next_frame_ms: { median: median(r.frames), max: Math.max(...r.frames) },
    paint_262144_pages_ms: { median: median(r.paints), max: Math.max(...r.paints) },
    frame_ms: 1000 / 60,
  };
  if (json) console.log(JSON.stringify(out, null, 2));
  else {
    const f = (x) => x.toFixed(1);
    console.log(`playground in Chromium: ${r.steps}-step scenario on a 1 GiB machine, ${r.regions} maps on the page`);
    console.log(`  run once into a timeline (load, every view after every step):  ${f(out.timeline_build_ms)} ms`);
    console.log(
      `  move to a step (redraw every view), ${r.moves.length} moves:            median ` +
        `${f(out.step_move_ms.median)} ms, ` +
        `max ${f(out.step_move_ms.max)} ms (one frame: ${f(out.frame_ms)} ms)`,
    );
    console.log(
      `  from the key press to the next frame:                          median ` +
        `${f(out.step_to_next_frame_ms.median)} ms, max ${f(out.step_to_next_frame_ms.max)} ms`,
    );
    console.log(
      `  paint a 262,144-page map (1 GiB region):                       median ` +
        `${f(out.paint_262144_pages_ms.median)} ms, ` +
        `max ${f(out.paint_262144_pages_ms.max)} ms`,
    );
  }
} finally {
  await browser.close();
  await pg.close();
}
