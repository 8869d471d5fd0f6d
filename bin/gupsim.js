#!/usr/bin/env node
// Launcher: the CLI's bundle (bin/bundle.js) when `npm run build` made it after tsc's last output, else
// tsc's output itself (dist/cli/main.js: the same program, slower to start).
import { bundleIsCurrent, loadBundle } from './bundle.js';

// `gupsim tour | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const { main } = bundleIsCurrent() ? loadBundle().exports : await import('../dist/cli/main.js');
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
