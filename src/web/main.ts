// The playground's entry: the examples (bundled from examples/ at build time, so the page needs no
// network), then the app.

import { parse } from 'yaml';
import { App, type Example } from './app.js';

const files = import.meta.glob('../../examples/*.yaml', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

function examples(): Example[] {
  const out = Object.entries(files).map(([path, text]) => {
    const file = path.replace(/^.*\//, '');
    let description = '';
    try {
      description = String((parse(text) as { description?: unknown })?.description ?? '').trim();
    } catch {
      // An example that does not parse still opens; the editor shows why.
    }
    return { file, name: file.replace(/\.ya?ml$/, ''), text, description };
  });
  // The claims of pin_user_pages.rst first, then the consumers, then the live-kernel probes.
  const rank = (e: Example) => (e.file.startsWith('doc-') ? 0 : e.file.startsWith('probe-') ? 2 : 1);
  return out.sort((a, b) => rank(a) - rank(b) || a.file.localeCompare(b.file));
}

const app = new App(examples());
void app.start();
(window as unknown as { gupsim: App }).gupsim = app;
