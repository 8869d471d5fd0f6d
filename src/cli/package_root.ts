// Where the package's shipped files (examples/) live, for the CLI.
import { join } from 'node:path';
import { packageRoot } from '../probe/package.js';

export function examplePath(name: string): string {
  return join(packageRoot(), 'examples', name);
}
