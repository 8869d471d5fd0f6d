// `gupsim playground [--port N] [--open] [--probe]`: serve the built playground (dist-web/, from
// `npm run build:web`) on 127.0.0.1 and print its URL. With --probe the page may also run its
// scenario on this host's kernel (gupsim diff) through POST /api/diff: loopback only, a random token
// in the URL that every API request must send back, Host and Origin checked against this server
// (so another site, or a DNS name rebound to 127.0.0.1, cannot drive it), one run at a time.

import type { Command } from 'commander';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { spawn } from 'node:child_process';
import { packageRoot } from '../probe/package.js';
import { diffScenario } from '../probe/diff.js';
import { ProbeError } from '../probe/errors.js';
import { loadScenario, ScenarioError } from '../scenario/load.js';
import type { Scenario } from '../scenario/schema.js';
import { UserError } from './errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

/** A scenario posted for a kernel run is small; anything bigger is refused unread. */
const MAX_BODY = 1 << 20;

export type DiffRunner = (sc: Scenario, name: string) => Promise<unknown>;

export interface PlaygroundOptions {
  /** 0: any free port. */
  port?: number;
  /** Serve POST /api/diff (a kernel run per request). */
  probe?: boolean;
  /** The built site (default: dist-web/ in the package). */
  root?: string;
  /** How /api/diff runs a scenario (default: gupsim diff's engine); tests replace it. */
  diff?: DiffRunner;
}

export interface Playground {
  url: string;
  port: number;
  token: string | undefined;
  close(): Promise<void>;
}

export function webRoot(): string {
  return join(packageRoot(), 'dist-web');
}

function send(res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

function json(res: ServerResponse, code: number, v: unknown): void {
  send(res, code, JSON.stringify(v), 'application/json');
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) return undefined;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Start the server; resolves once it listens. */
export async function startPlayground(opts: PlaygroundOptions = {}): Promise<Playground> {
  const root = resolve(opts.root ?? webRoot());
  if (!existsSync(join(root, 'index.html')))
    throw new UserError(
      'ERR_USAGE',
      `the playground is not built (no ${join(root, 'index.html')}): run npm run build:web`,
    );
  const token = opts.probe ? randomBytes(24).toString('base64url') : undefined;
  const runDiff: DiffRunner = opts.diff ?? ((sc, name) => diffScenario(sc, { name }));
  let port = 0;
  let busy = false;

  const allowedHost = (h: string | undefined) => h === `127.0.0.1:${port}` || h === `localhost:${port}`;
  const allowedOrigin = (o: string | undefined) =>
    o === undefined || o === `http://127.0.0.1:${port}` || o === `http://localhost:${port}`;

  async function api(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (!token) return send(res, 404, 'not found (start gupsim playground --probe for the kernel API)\n');
    if (!sameToken(req.headers['x-gupsim-token'] as string | undefined, token))
      return send(res, 403, 'forbidden: a token from the URL gupsim playground printed is required\n');
    if (!allowedOrigin(req.headers.origin)) return send(res, 403, 'forbidden: cross-origin request\n');
    if (path === '/api/config' && req.method === 'GET') return json(res, 200, { probe: true });
    if (path !== '/api/diff') return send(res, 404, 'not found\n');
    if (req.method !== 'POST') return send(res, 405, 'POST a scenario\n');
    if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
      return send(res, 415, 'send application/json\n');
    const body = await readBody(req);
    if (body === undefined) return send(res, 413, 'scenario too large\n');
    let text: unknown;
    let name: unknown;
    try {
      ({ text, name } = JSON.parse(body) as { text?: unknown; name?: unknown });
    } catch {
      return send(res, 400, 'the body is not JSON\n');
    }
    if (typeof text !== 'string') return send(res, 400, 'the body needs "text": the scenario\n');
    let sc: Scenario;
    try {
      sc = loadScenario(text, 'scenario.yaml');
    } catch (e) {
      if (e instanceof ScenarioError) return send(res, 400, `invalid scenario\n${e.problems.join('\n')}\n`);
      throw e;
    }
    if (busy) return send(res, 409, 'a kernel run is in progress; try again when it ends\n');
    busy = true;
    try {
      return json(res, 200, await runDiff(sc, typeof name === 'string' && name ? name : 'scenario'));
    } catch (e) {
      if (e instanceof ProbeError || e instanceof UserError) return send(res, 422, `${e.message}\n`);
      throw e;
    } finally {
      busy = false;
    }
  }

  async function file(res: ServerResponse, path: string): Promise<void> {
    const rel = normalize(decodeURIComponent(path === '/' ? '/index.html' : path)).replace(/^([/\\])+/, '');
    const full = join(root, rel);
    if (!(full + sep).startsWith(root + sep) || rel.split(/[/\\]/).includes('..')) return send(res, 403, 'forbidden\n');
    const st = await stat(full).catch(() => undefined);
    if (!st?.isFile()) return send(res, 404, 'not found\n');
    res.writeHead(200, {
      'content-type': TYPES[extname(full)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      // The page needs nothing from elsewhere; CodeMirror injects its own styles.
      'content-security-policy':
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "connect-src 'self'",
    });
    res.end(await readFile(full));
  }

  const server = createServer((req, res) => {
    if (!allowedHost(req.headers.host)) return send(res, 403, 'forbidden: this server answers 127.0.0.1 only\n');
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const handle = url.pathname.startsWith('/api/')
      ? api(req, res, url.pathname)
      : req.method === 'GET' || req.method === 'HEAD'
        ? file(res, url.pathname)
        : Promise.resolve(send(res, 405, 'method not allowed\n'));
    handle.catch((e: Error) => {
      if (!res.headersSent) send(res, 500, `gupsim bug: ${e.message}\n`);
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new UserError('ERR_USAGE', `cannot listen on 127.0.0.1:${opts.port ?? 0}: ${e.code ?? e.message}`)),
    );
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  port = typeof addr === 'object' && addr ? addr.port : 0;
  const url = `http://127.0.0.1:${port}/${token ? `?token=${token}` : ''}`;
  return {
    url,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`gupsim: could not start a browser (${cmd}); open the URL yourself\n`));
  child.unref();
}

export function registerPlayground(program: Command, setCode: (c: number) => void): void {
  program
    .command('playground')
    .description('serve the browser playground on 127.0.0.1 and print its URL (Ctrl-C stops it)')
    .option('--port <n>', 'port to listen on (default: any free port)', '0')
    .option('--open', 'open the URL in a browser')
    .option('--probe', "let the page run its scenario on this host's kernel (gupsim diff); guarded by a token")
    .action(async (o: { port: string; open?: boolean; probe?: boolean }) => {
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UserError('ERR_USAGE', `--port: expected 0 to 65535, got "${o.port}"`);
      const pg = await startPlayground({ port, probe: !!o.probe });
      process.stdout.write(`gupsim playground: ${pg.url}\n`);
      if (o.probe)
        process.stdout.write(
          "  --probe: this URL's token lets the page run scenarios on this host's kernel; keep it to yourself\n",
        );
      process.stdout.write('  Ctrl-C stops it\n');
      if (o.open) openBrowser(pg.url);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await pg.close();
      setCode(0);
    });
}
