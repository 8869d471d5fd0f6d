#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/cli to dist/cli.
import { main } from '../dist/cli/main.js';

// `gupsim tour | head` closes the pipe early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
