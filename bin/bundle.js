// Loading the CLI's bundle (scripts/build-cli.mjs builds it): one CommonJS script, dist/bundle/gupsim.cjs,
// run through vm.Script with the V8 code cache the build made of it. Node 20 has no compile cache for
// modules; with this one a start neither parses nor compiles again the functions a run uses.
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = join(root, 'dist', 'bundle', 'gupsim.cjs');
export const CODE_CACHE = `${BUNDLE}.cache`;
/** What tsc builds: the bundle is current only if it is not older (else tsc ran after the last bundle). */
const TSC_MAIN = join(root, 'dist', 'cli', 'main.js');
/** The bundle's first line names its build; its code cache starts with the same line. */
const BUILD_LINE = /^\/\/ gupsim-build [0-9a-f]+\n/;

export function bundleIsCurrent() {
  try {
    return statSync(BUNDLE).mtimeMs >= statSync(TSC_MAIN).mtimeMs;
  } catch {
    return false;
  }
}

/** The code cache of this build of the bundle, if there is one (a cache of another build is never used). */
function codeCache(build) {
  try {
    const cache = readFileSync(CODE_CACHE);
    return cache.subarray(0, build.length).toString() === build ? cache.subarray(build.length) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * require() for the bundle: a Node built-in module is loaded when first used, not when the bundle starts
 * (the bundler puts every module's require() of a built-in at the top of the script, so without this each
 * start would load the HTTP server, the worker threads, zlib... that only some commands use).
 */
function lazyRequire(require) {
  const loaded = new Map();
  return (id) => {
    let m = loaded.get(id);
    if (m === undefined) {
      let real;
      const get = () => (real ??= require(id));
      m = new Proxy(
        {},
        {
          get: (_, k) => get()[k],
          has: (_, k) => k in get(),
          ownKeys: () => Reflect.ownKeys(get()),
          getOwnPropertyDescriptor: (_, k) => {
            const d = Reflect.getOwnPropertyDescriptor(get(), k);
            return d && { ...d, configurable: true };
          },
        },
      );
      loaded.set(id, m);
    }
    return m;
  };
}

/** Run the bundle's module code; its exports (main), the script (for its code cache) and its build line. */
export function loadBundle({ useCache = true } = {}) {
  const source = readFileSync(BUNDLE, 'utf8');
  const build = BUILD_LINE.exec(source)?.[0];
  if (build === undefined) throw new Error(`${BUNDLE}: not a gupsim bundle (npm run build)`);
  // The CommonJS wrapper on the bundle's first line, so that stack traces keep its line numbers.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: BUNDLE,
    cachedData: useCache ? codeCache(build) : undefined,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, lazyRequire(createRequire(BUNDLE)), module, BUNDLE, dirname(BUNDLE));
  return { exports: module.exports, script, build };
}
