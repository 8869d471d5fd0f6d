// Ctrl-C (SIGINT) or SIGTERM in the middle of `gupsim probe`: the host settings the probe changed
// are restored synchronously, the helpers are killed, the lock is released, exit 130 / 143. Runs
// the built CLI (dist/, as `npm test` builds it first); needs Linux, a C compiler and root.

import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probeUnsupportedReason } from './build.js';
import { packageRoot } from './package.js';
import { isRoot, lockPath, readSetting } from './host.js';

const root = packageRoot();
const cli = join(root, 'bin', 'gupsim.js');
const built = join(root, 'dist', 'probe', 'engine.js');
const SETTING = '/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled';

function reason(): string | undefined {
  const why = probeUnsupportedReason();
  if (why) return why;
  if (!isRoot()) return 'not root: the probe changes THP settings only as root';
  if (!existsSync(SETTING)) return `${SETTING} does not exist on this kernel`;
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(root, 'src', 'probe', 'engine.ts')).mtimeMs)
    return 'dist/ is missing or older than src/ (npm run build)';
  return undefined;
}
const why = reason();
if (why) console.log(`probe signal tests skipped: ${why}`);

/** Processes running a gupsim helper binary. */
function helpers(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (/\/helper-[0-9a-f]{16}$/.test(readlinkSync(`/proc/${d}/exe`))) out.push(Number(d));
    } catch {
      /* gone or a kernel thread */
    }
  }
  return out;
}

/** Whether pid descends from ancestor (other tests start helpers of their own meanwhile). */
function descends(pid: number, ancestor: number): boolean {
  for (let p = pid, i = 0; p > 1 && i < 64; i++) {
    if (p === ancestor) return true;
    try {
      const st = readFileSync(`/proc/${p}/stat`, 'utf8');
      p = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      return false;
    }
  }
  return false;
}

/** The pid holding the probe lock (other probes of the test suite may run meanwhile). */
function lockHolder(): number | undefined {
  try {
    return (JSON.parse(readFileSync(lockPath(), 'utf8')) as { pid?: number }).pid;
  } catch {
    return undefined;
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return cond();
}

describe.skipIf(why !== undefined)('gupsim probe interrupted', () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`restores the settings and kills the helpers on ${signal}`, async () => {
      const original = readSetting(SETTING, 'selector');
      const want = original === 'always' ? 'never' : 'always';
      const dir = mkdtempSync(join(tmpdir(), 'gupsim-signal-test-'));
      const file = join(dir, 'slow.yaml');
      const steps = ['  - { op: mmap, proc: app, as: buf, size: 1MiB, type: anon }'];
      for (let i = 0; i < 300; i++) steps.push('  - { op: read, proc: app, region: buf }');
      writeFileSync(file, `name: slow\nmachine: { mthp: { 64K: ${want} } }\nsteps:\n${steps.join('\n')}\n`);
      const before = new Set(helpers());
      const child = spawn(process.execPath, [cli, 'probe', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      try {
        // Wait until this probe holds the lock, has changed the setting and started its helpers.
        expect(
          await until(
            () =>
              lockHolder() === child.pid &&
              readSetting(SETTING, 'selector') === want &&
              helpers().some((p) => !before.has(p)),
            150_000,
          ),
        ).toBe(true);
        const ours = helpers().filter((p) => !before.has(p) && descends(p, child.pid!));
        expect(ours.length).toBeGreaterThan(0);
        child.kill(signal);
        expect(await exited).toBe(code);
        expect(readSetting(SETTING, 'selector')).toBe(original);
        expect(await until(() => ours.every((p) => !helpers().includes(p)), 3000)).toBe(true);
      } finally {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    }, 180_000);
  }
});
