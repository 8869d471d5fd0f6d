// Where the package's own files (examples/, src/probe/helper.c) live, from dist/ or src/.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: two levels above this module (dist/cli or src/cli). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function examplePath(name: string): string {
  return join(PACKAGE_ROOT, 'examples', name);
}
