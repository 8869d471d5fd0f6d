// After `vite build`: the playground's JavaScript, gzipped, against its budget (400 KiB, editor
// included). Exit 1 over budget.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 400 * 1024;
const dir = join(import.meta.dirname, '..', 'dist-web', 'assets');
let raw = 0;
let gz = 0;
for (const f of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
  const b = readFileSync(join(dir, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
}
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`playground JavaScript: ${kib(raw)}, ${kib(gz)} gzipped (budget ${kib(BUDGET)} gzipped)`);
if (gz > BUDGET) {
  console.error('over the budget: trim a dependency or split the editor out');
  process.exit(1);
}
