// The CLI's bundle, built by `npm run build` after tsc: dist/cli/main.js and all it imports (zod, yaml and
// commander included) in one CommonJS script, dist/bundle/gupsim.cjs, in which every command's module is
// still evaluated only when the command runs; the scenario parser generated from ScenarioSchema
// (src/scenario/parser_gen.ts) in place of src/scenario/fast_parser.ts's empty one; the experiment
// worker beside it; and a V8 code cache of the bundle made by running a few example scenarios with it
// (bin/bundle.js loads the bundle with that cache). Bundling, the parser and the cache are what make
// `gupsim run` start in about the time of `node -e 0` (see `gupsim bench`, cli_start).
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { rolldown } from 'rolldown';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const out = join(dist, 'bundle');
const dist_ = (...p) => pathToFileURL(join(dist, ...p)).href;

/** The scenarios whose run makes the code cache (what most runs compile: loading, the runner, mm). */
const TRAINING = ['doc-bias-small-folio.yaml', 'fork-after-pin.yaml', 'io-uring-thp-coalesce.yaml'];

const { generateParser, parserModule } = await import(dist_('scenario', 'parser_gen.js'));
const { ScenarioSchema } = await import(dist_('scenario', 'schema.js'));
const functions = await import(dist_('scenario', 'schema_functions.js'));
const parser = parserModule(generateParser(ScenarioSchema, functions), 'fastScenarioParser', './schema_functions.js');
const stub = join(dist, 'scenario', 'fast_parser.js');
let replaced = 0;
const fastParser = {
  name: 'gupsim-fast-parser',
  load(id) {
    if (id !== stub) return null;
    replaced++;
    return parser;
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const build = `// gupsim-build ${randomBytes(8).toString('hex')}`;
const cli = await rolldown({
  input: join(dist, 'cli', 'main.js'),
  platform: 'node',
  plugins: [fastParser],
  logLevel: 'warn',
});
const { output } = await cli.generate({ format: 'cjs', codeSplitting: false, minify: true });
if (output.length !== 1) throw new Error(`build-cli: the bundle came out in ${output.length} files`);
writeFileSync(join(out, 'gupsim.cjs'), `${build}\n${output[0].code}`);
if (replaced !== 1) throw new Error(`build-cli: ${stub} was not replaced by the generated parser`);
// `new URL('./experiment_worker.js', import.meta.url)` in the bundle finds this one.
const worker = await rolldown({ input: join(dist, 'cli', 'experiment_worker.js'), platform: 'node', logLevel: 'warn' });
await worker.write({ file: join(out, 'experiment_worker.js'), format: 'esm', codeSplitting: false });

// Train: run the examples with the bundle in this process, then keep what V8 compiled.
const { loadBundle, CODE_CACHE } = await import(pathToFileURL(join(root, 'bin', 'bundle.js')).href);
const { exports, script, build: line } = loadBundle({ useCache: false });
const write = process.stdout.write;
process.stdout.write = () => true;
try {
  for (const ex of TRAINING) {
    const code = await exports.main(['run', join(root, 'examples', ex)]);
    if (code !== 0) throw new Error(`build-cli: the bundle's run of examples/${ex} exited ${code}`);
  }
} finally {
  process.stdout.write = write;
}
writeFileSync(CODE_CACHE, Buffer.concat([Buffer.from(line), script.createCachedData()]));
