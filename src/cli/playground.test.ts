import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { startPlayground, type Playground } from './playground.js';
import { UserError } from './errors.js';
import type { Scenario } from '../scenario/schema.js';

/** A raw request (fetch cannot set Host). */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, headers: { host: `127.0.0.1:${port}`, ...headers } },
      (res) => {
        let b = '';
        res.on('data', (c: Buffer) => (b += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const site = mkdtempSync(join(tmpdir(), 'gupsim-site-'));
writeFileSync(join(site, 'index.html'), '<!doctype html><title>t</title>');
mkdirSync(join(site, 'assets'));
writeFileSync(join(site, 'assets', 'a.js'), 'console.log(1)');
writeFileSync(join(tmpdir(), 'gupsim-secret.txt'), 'secret');

describe('gupsim playground: the static site', () => {
  let pg: Playground;
  beforeAll(async () => {
    pg = await startPlayground({ root: site });
  });
  afterAll(() => pg.close());

  it('serves the site on 127.0.0.1 and prints a URL without a token', async () => {
    expect(pg.url).toBe(`http://127.0.0.1:${pg.port}/`);
    expect(pg.token).toBeUndefined();
    const r = await get(pg.port, '/');
    expect(r.status).toBe(200);
    expect(r.body).toContain('<title>t</title>');
    expect((await get(pg.port, '/assets/a.js')).body).toBe('console.log(1)');
    expect((await get(pg.port, '/nope.js')).status).toBe(404);
  });

  it('refuses other Host names (DNS rebinding) and paths outside the site', async () => {
    expect((await get(pg.port, '/', { host: 'evil.example:80' })).status).toBe(403);
    expect((await get(pg.port, '/', { host: `localhost:${pg.port}` })).status).toBe(200);
    for (const path of ['/../gupsim-secret.txt', '/%2e%2e/gupsim-secret.txt', '/assets/..%2f..%2fgupsim-secret.txt']) {
      const r = await get(pg.port, path);
      expect([403, 404], path).toContain(r.status);
      expect(r.body).not.toBe('secret');
    }
  });

  it('has no kernel API unless started with --probe', async () => {
    expect((await get(pg.port, '/api/config')).status).toBe(404);
    expect((await get(pg.port, '/api/diff', { 'content-type': 'application/json' }, 'POST', '{}')).status).toBe(404);
  });

  it('says how to build the site when it is missing', async () => {
    await expect(startPlayground({ root: join(site, 'assets') })).rejects.toThrow(UserError);
    await expect(startPlayground({ root: join(site, 'assets') })).rejects.toThrow(/npm run build:web/);
  });
});

describe('gupsim playground --probe: the kernel API', () => {
  let pg: Playground;
  const ran: Scenario[] = [];
  beforeAll(async () => {
    pg = await startPlayground({
      root: site,
      probe: true,
      diff: async (sc, name) => {
        ran.push(sc);
        return { scenario: name, agree: true, steps: [] };
      },
    });
  });
  afterAll(() => pg.close());

  const post = (body: string, headers: Record<string, string> = {}) =>
    get(
      pg.port,
      '/api/diff',
      { 'content-type': 'application/json', 'x-gupsim-token': pg.token!, ...headers },
      'POST',
      body,
    );

  it('puts a random token in the URL and requires it', async () => {
    expect(pg.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(pg.url).toBe(`http://127.0.0.1:${pg.port}/?token=${pg.token}`);
    expect((await get(pg.port, '/api/config')).status).toBe(403);
    expect((await get(pg.port, '/api/config', { 'x-gupsim-token': 'x'.repeat(32) })).status).toBe(403);
    const ok = await get(pg.port, '/api/config', { 'x-gupsim-token': pg.token! });
    expect(JSON.parse(ok.body)).toEqual({ probe: true });
  });

  it('runs a posted scenario; refuses bad ones, other origins and other hosts', async () => {
    const r = await post(JSON.stringify({ text: 'name: s\nsteps:\n  - { op: vmstat }\n', name: 'mine' }));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ scenario: 'mine', agree: true, steps: [] });
    expect(ran.at(-1)?.steps).toEqual([{ op: 'vmstat' }]);
    const bad = await post(JSON.stringify({ text: 'steps:\n  - { op: nope }\n' }));
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('scenario.yaml:2: step 0 (nope): unknown op "nope"');
    expect((await post('not json')).status).toBe(400);
    expect((await post(JSON.stringify({ text: 'steps: []' }), { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post(JSON.stringify({ text: 'steps: []' }), { host: 'evil.example' })).status).toBe(403);
    expect((await post(JSON.stringify({ text: 'x'.repeat(2 << 20) }))).status).toBe(413);
    expect(ran).toHaveLength(1);
  });
});

describe('gupsim playground, the command', () => {
  const root = join(import.meta.dirname, '..', '..');
  const built = existsSync(join(root, 'dist-web', 'index.html')) && existsSync(join(root, 'dist', 'cli', 'main.js'));
  if (!built) console.log('gupsim playground command test skipped: run npm run build and npm run build:web first');

  it.skipIf(!built)('prints its URL, serves the page, and stops with exit 0 on Ctrl-C', async () => {
    const child = spawn(process.execPath, [join(root, 'bin', 'gupsim.js'), 'playground', '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /gupsim playground: (http:\/\/127\.0\.0\.1:(\d+)\/)\n/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('exit', () => reject(new Error(`exited early: ${out}`)));
    });
    const port = Number(new URL(url).port);
    const page = await get(port, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('gupsim playground');
    expect(out).not.toContain('token');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('refuses a bad port with exit 2', () => {
    const r = spawnSync(process.execPath, [join(root, 'bin', 'gupsim.js'), 'playground', '--port', 'lots'], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--port: expected 0 to 65535, got "lots"');
  });
});
