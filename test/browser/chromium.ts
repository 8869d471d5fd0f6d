// What the playground's browser tests share: Debian's Chromium driven by playwright-core (never a browser
// download), the reason they skip without it or without the built site, and where screenshots go.

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

export const ROOT = join(import.meta.dirname, '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
export const SHOTS = join(ROOT, 'test-results', 'playground');

export const skipReason = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`
  : !existsSync(join(ROOT, 'dist-web', 'index.html'))
    ? 'the playground is not built (npm run build:web; npm test does)'
    : !existsSync(join(ROOT, 'dist', 'cli', 'main.js'))
      ? 'the CLI is not built (npm run build)'
      : undefined;
if (skipReason) console.log(`browser tests skipped: ${skipReason}`);

/** Headless Chromium with nothing of its own on the network; the screenshot folder made. */
export function launchChromium(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
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
}
