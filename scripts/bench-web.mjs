// `npm run bench:web`: the playground's timings in Debian's Chromium (a benchmark, never a test):
// running a 50-step scenario on a 1 GiB machine into its timeline (in the page's Web Worker: the
// time until it shows, and the longest the page's main thread was busy meanwhile), moving to every
// step of it (the move's JavaScript, the main thread's work for it and for the frame that shows it,
// and whether that frame came one frame interval after the one before), and painting a whole
// 262,144-page (1 GiB) region's map. The main thread's work comes from Chromium's trace, as thread
// time: on a loaded machine a task's wall time also counts the time the thread waited for a CPU.
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
const ms = (us) => us / 1000;

/** Run `fn` with Chromium's trace on; its result and the trace's events. */
async function traced(cdp, fn) {
  await cdp.send('Tracing.start', {
    categories: 'devtools.timeline,blink.user_timing,disabled-by-default-devtools.timeline',
    transferMode: 'ReturnAsStream',
  });
  const result = await fn();
  const done = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.end');
  const { stream } = await done;
  let data = '';
  for (;;) {
    const c = await cdp.send('IO.read', { handle: stream });
    data += c.data;
    if (c.eof) break;
  }
  await cdp.send('IO.close', { handle: stream });
  const parsed = JSON.parse(data);
  return { result, events: parsed.traceEvents ?? parsed };
}

/** The page's main-thread tasks: start, wall and thread time (µs), and whether the task rendered a frame. */
function mainTasks(events) {
  const mains = new Set(
    events
      .filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain')
      .map((e) => `${e.pid}/${e.tid}`),
  );
  const isTask = (e) => e.ph === 'X' && (e.name === 'RunTask' || e.name === 'ThreadControllerImpl::RunTask');
  // The page's renderer: the main thread with the most tasks.
  const count = new Map();
  for (const e of events)
    if (isTask(e) && mains.has(`${e.pid}/${e.tid}`))
      count.set(`${e.pid}/${e.tid}`, (count.get(`${e.pid}/${e.tid}`) ?? 0) + 1);
  const main = [...count].sort((a, b) => b[1] - a[1])[0]?.[0];
  const on = events.filter((e) => `${e.pid}/${e.tid}` === main);
  const tasks = on
    .filter(isTask)
    .map((e) => ({ ts: e.ts, end: e.ts + e.dur, wall: e.dur, cpu: e.tdur ?? e.dur, frame: false }));
  tasks.sort((a, b) => a.ts - b.ts);
  const within = (t) => tasks.find((k) => k.ts <= t && t <= k.end);
  for (const e of on)
    if (e.ph === 'X' && (e.name === 'Paint' || e.name === 'Commit')) {
      const k = within(e.ts);
      if (k) k.frame = true;
    }
  const marks = on.filter((e) => e.cat?.includes('blink.user_timing') && e.name === 'gupsim-move').map((e) => e.ts);
  return { tasks, marks, within };
}

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
  const cdp = await page.context().newCDPSession(page);
  // Helpers in the page: a task right after the next frame's rendering (the frame shows the move).
  await page.evaluate(() => {
    const channel = new MessageChannel();
    window.benchPainted = () =>
      new Promise((resolve) => {
        requestAnimationFrame(() => {
          channel.port1.onmessage = () => resolve(undefined);
          channel.port2.postMessage(0);
        });
      });
  });

  // 1. Build, three times: until the timeline shows (the first frame after it included).
  const build = await traced(cdp, () =>
    page.evaluate(async (text) => {
      const builds = [];
      for (let k = 0; k < 3; k++) {
        const t0 = performance.now();
        await window.gupsim.open(text, 'bench');
        builds.push(performance.now() - t0);
        await window.benchPainted();
      }
      return builds;
    }, scenario()),
  );
  const bt = mainTasks(build.events).tasks;
  const longestBuildTask = bt.reduce((a, b) => (b.cpu > a.cpu ? b : a), bt[0]);

  // 2. Every step, in an order that jumps back and forth, three times; each move in a task of its
  // own (as a key press is), after the last move's frame.
  const moves = await traced(cdp, () =>
    page.evaluate(async () => {
      const app = window.gupsim;
      const n = Number(document.getElementById('jump').max) + 1;
      const order = [];
      for (let i = 0; i < n; i++) order.push((i * 17) % n);
      // Every frame's start time (requestAnimationFrame's timestamp), and when its callbacks ran: the
      // first frame whose callbacks run after a move shows it.
      const starts = [];
      const ran = [];
      let looping = true;
      const loop = (ts) => {
        starts.push(ts);
        ran.push(performance.now());
        if (looping) requestAnimationFrame(loop);
      };
      requestAnimationFrame(loop);
      await window.benchPainted();
      const js = [];
      const gaps = [];
      for (let round = 0; round < 3; round++)
        for (const i of order) {
          const before = starts[starts.length - 1];
          performance.mark('gupsim-move');
          const t0 = performance.now();
          app.go(i);
          js.push(performance.now() - t0);
          // The frame that shows it and the one after: the longer gap from the frame before the move
          // to the one showing it (the move's JavaScript) and from there to the next (its rendering).
          await window.benchPainted();
          await window.benchPainted();
          const k = ran.findIndex((s) => s > t0);
          gaps.push(Math.max(starts[k] - before, (starts[k + 1] ?? starts[k]) - starts[k]));
        }
      looping = false;
      const d = starts.slice(1).map((s, k) => s - starts[k]);
      const interval = [...d].sort((a, b) => a - b)[d.length >> 1];
      return { steps: n, js, gaps, interval, regions: document.querySelectorAll('canvas.pagemap').length };
    }),
  );
  const mt = mainTasks(moves.events);
  // Per move: the main thread's work for it (its task) and for the frame that showed it.
  const moveCpu = [];
  const frameCpu = [];
  for (const m of mt.marks) {
    const task = mt.within(m);
    const frame = mt.tasks.find((k) => k.frame && k.ts > (task?.end ?? m));
    if (task) moveCpu.push(task.cpu);
    if (task && frame) frameCpu.push(task.cpu + frame.cpu);
  }
  const paints = await page.evaluate(() => {
    const out = [];
    for (let k = 0; k < 5; k++) out.push(window.gupsimBench.paint(262144));
    return out;
  });
  const r = moves.result;
  const frame = r.interval;
  const out = {
    scenario: { steps: r.steps, machine_bytes: 2 ** 30, region_pages: 262144, maps_on_page: r.regions },
    timeline_build_ms: median(build.result),
    // The longest main-thread task while the worker built and the page showed the timeline.
    build_longest_main_task_ms: { cpu: ms(longestBuildTask.cpu), wall: ms(longestBuildTask.wall) },
    step_move_js_ms: { median: median(r.js), max: Math.max(...r.js), moves: r.js.length },
    step_move_main_thread_cpu_ms: { median: ms(median(moveCpu)), max: ms(Math.max(...moveCpu)) },
    step_move_and_its_frame_cpu_ms: {
      median: ms(median(frameCpu)),
      max: ms(Math.max(...frameCpu)),
      within_one_frame: frameCpu.filter((c) => ms(c) <= frame).length,
      moves: frameCpu.length,
    },
    frame_interval_ms: frame,
    // A move was shown in one frame when the frames around it came one interval apart (wall clock:
    // a loaded machine delays frames whatever the page does).
    moves_shown_by_the_next_frame: r.gaps.filter((g) => g <= frame * 1.5).length,
    frame_gap_at_a_move_ms: { median: median(r.gaps), max: Math.max(...r.gaps) },
    paint_262144_pages_ms: { median: median(paints), max: Math.max(...paints) },
  };
  if (json) console.log(JSON.stringify(out, null, 2));
  else {
    const f = (x) => x.toFixed(1);
    const n = out.step_move_js_ms.moves;
    console.log(`playground in Chromium: ${r.steps}-step scenario on a 1 GiB machine, ${r.regions} maps on the page`);
    console.log(`  run into a timeline in the worker, until it shows:   ${f(out.timeline_build_ms)} ms`);
    console.log(
      `  meanwhile, the longest main-thread task:             ${f(out.build_longest_main_task_ms.cpu)} ms ` +
        `(thread time; ${f(out.build_longest_main_task_ms.wall)} ms wall)`,
    );
    console.log(
      `  move to a step, ${n} moves, JavaScript:              median ${f(out.step_move_js_ms.median)} ms, ` +
        `max ${f(out.step_move_js_ms.max)} ms`,
    );
    console.log(
      `  the move's task, thread time:                        median ` +
        `${f(out.step_move_main_thread_cpu_ms.median)} ms, max ${f(out.step_move_main_thread_cpu_ms.max)} ms`,
    );
    console.log(
      `  the move and the frame showing it, thread time:      median ` +
        `${f(out.step_move_and_its_frame_cpu_ms.median)} ms, max ${f(out.step_move_and_its_frame_cpu_ms.max)} ms; ` +
        `${out.step_move_and_its_frame_cpu_ms.within_one_frame} of ${out.step_move_and_its_frame_cpu_ms.moves} ` +
        `within one frame (${f(frame)} ms)`,
    );
    console.log(
      `  shown by the next frame (wall clock):                ${out.moves_shown_by_the_next_frame} of ${n}; ` +
        `longest gap between frames around a move: ${f(out.frame_gap_at_a_move_ms.max)} ms`,
    );
    console.log(
      `  paint a 262,144-page map (1 GiB region):             median ${f(out.paint_262144_pages_ms.median)} ms, ` +
        `max ${f(out.paint_262144_pages_ms.max)} ms`,
    );
  }
} finally {
  await browser.close();
  await pg.close();
}
