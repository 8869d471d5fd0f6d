// The playground's build: web/ is the root, the output a static site in dist-web/ with relative
// paths, so any file server (or none with internet) can host it.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../dist-web', import.meta.url)),
    emptyOutDir: true,
    // One bundle: the model and the editor load together, and the size report counts it whole.
    chunkSizeWarningLimit: 2048,
    reportCompressedSize: true,
  },
  // The model's worker (src/web/worker.ts) as an ES module, like the page.
  worker: { format: 'es' },
  server: { fs: { allow: [fileURLToPath(new URL('..', import.meta.url))] } },
});
