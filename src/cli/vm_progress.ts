// What the VM engine is doing (downloading a kernel, building the module, booting), on stderr: a
// bar with the phase on a TTY, one plain line per phase otherwise.

import { Progress, type ProgressStream } from './progress.js';
import type { VmProgress } from '../probe/vm/progress.js';

export function vmProgress(stream: ProgressStream = process.stderr): VmProgress {
  if (!stream.isTTY) {
    return {
      phase: (text) => {
        stream.write(`gupsim: ${text}\n`);
      },
      update: () => undefined,
      end: () => undefined,
    };
  }
  let bar: Progress | undefined;
  let label = '';
  return {
    phase(text) {
      bar?.clear();
      label = text;
      bar = new Progress(stream, { big: true, intervalMs: 100 });
      stream.write(`\r\x1b[K${text}...`);
    },
    update(done, total) {
      if (total > 0) bar?.update(label, done, total);
    },
    end() {
      bar?.clear();
      stream.write('\r\x1b[K');
      bar = undefined;
    },
  };
}
