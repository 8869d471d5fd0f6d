// Generates, from a zod schema, the source of a standalone parser that does what the schema's safeParse
// does on success (the same output, key for key) and answers "invalid" wherever safeParse would fail.
// The CLI's build (scripts/build-cli.mjs) generates one from ScenarioSchema, so that `gupsim run` of a
// valid scenario does not load zod at all; any scenario it calls invalid goes to zod, whose messages
// are the ones users see. It reads zod's schema definitions (`_zod.def`), covers the kinds of schema
// and check that scenario files use, and refuses anything else (a build error, never a wrong answer).
// The functions the schema calls (transforms, refinements) must be ones the generated code can import:
// `functions` names them (schema_functions.ts).

/** The part of a zod schema object the generator reads. */
interface ZodNode {
  _zod: {
    def: ZodDef;
    optin?: 'optional' | 'defaulted';
    optout?: 'optional';
    values?: Set<unknown>;
    propValues?: Record<string, Set<unknown>>;
  };
}

interface ZodDef {
  type: string;
  checks?: Array<{ _zod: { def: CheckDef } }>;
  coerce?: boolean;
  shape?: Record<string, ZodNode>;
  catchall?: ZodNode;
  innerType?: ZodNode;
  options?: ZodNode[];
  discriminator?: string;
  unionFallback?: boolean;
  inclusive?: boolean;
  element?: ZodNode;
  keyType?: ZodNode;
  valueType?: ZodNode;
  mode?: string;
  partial?: boolean;
  in?: ZodNode;
  out?: ZodNode;
  transform?: unknown;
}

interface CheckDef {
  check: string;
  value?: unknown;
  inclusive?: boolean;
  format?: string;
  minimum?: number;
  fn?: unknown;
}

/** The generated parser: `body` is the body of a function taking `functions` (by name, in that order). */
export interface GeneratedParser {
  /** Names of the schema's own functions the code calls (exports of the functions module). */
  functions: string[];
  /** Statements that return the parser: (input: unknown) => the parsed value, or undefined if invalid. */
  body: string;
}

/** A kind of schema, check or option the generator does not model: the build stops on it. */
export class UnsupportedSchemaError extends Error {
  constructor(what: string) {
    super(`parser_gen: ${what} is not supported (extend src/scenario/parser_gen.ts)`);
    this.name = 'UnsupportedSchemaError';
  }
}

const lit = (v: unknown): string => {
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return JSON.stringify(v);
  if (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0)) return String(v);
  throw new UnsupportedSchemaError(`the literal ${String(v)}`);
};

class Generator {
  private readonly lines: string[] = [];
  private readonly byBody = new Map<string, string>();
  private readonly byNode = new Map<ZodNode, string>();
  private readonly fnNames = new Map<unknown, string>();
  readonly used = new Set<string>();
  private constants = 0;
  private helpers = new Set<string>();

  constructor(functions: Record<string, unknown>) {
    for (const [name, f] of Object.entries(functions)) if (typeof f === 'function') this.fnNames.set(f, name);
  }

  /** A named function of the schema's, which the generated code may call. */
  private fn(f: unknown, what: string): string {
    const name = this.fnNames.get(f);
    if (name === undefined) throw new UnsupportedSchemaError(`a ${what} function not exported by the functions module`);
    this.used.add(name);
    return name;
  }

  private helper(name: string, code: string): string {
    if (!this.helpers.has(name)) {
      this.helpers.add(name);
      this.lines.push(code);
    }
    return name;
  }

  private constant(expr: string): string {
    const name = `K${this.constants++}`;
    this.lines.push(`const ${name} = ${expr};`);
    return name;
  }

  /** The name of a function `(x) => output | INVALID` for a body (the same body is emitted once). */
  private emit(body: string): string {
    let name = this.byBody.get(body);
    if (name === undefined) {
      name = `p${this.byBody.size}`;
      this.byBody.set(body, name);
      this.lines.push(`function ${name}(x) {\n${body}\n}`);
    }
    return name;
  }

  /** The parser function of a schema node: its parse, then its checks. */
  node(n: ZodNode): string {
    let name = this.byNode.get(n);
    if (name !== undefined) return name;
    const d = n._zod.def;
    const parse = this.emit(this.parseBody(n));
    const checks = (d.checks ?? []).map((c) => this.check(c._zod.def, d.type));
    name = checks.length
      ? this.emit(`const v = ${parse}(x);\nif (v === INVALID) return INVALID;\n${checks.join('\n')}\nreturn v;`)
      : parse;
    this.byNode.set(n, name);
    return name;
  }

  /** A check on the parsed value `v` (zod runs a schema's checks after its parse). */
  private check(c: CheckDef, type: string): string {
    switch (c.check) {
      case 'custom':
        return `if (!${this.fn(c.fn, 'refinement')}(v)) return INVALID;`;
      case 'number_format':
        if (c.format !== 'safeint') throw new UnsupportedSchemaError(`the number format ${c.format}`);
        return 'if (!Number.isSafeInteger(v)) return INVALID;';
      case 'greater_than':
      case 'less_than': {
        const op = (c.check === 'greater_than' ? '>' : '<') + (c.inclusive ? '=' : '');
        return `if (!(v ${op} ${lit(c.value)})) return INVALID;`;
      }
      case 'min_length': {
        // zod counts a string's length in code points, an array's in elements.
        const codePoints = 'function codePoints(s) {\nlet n = 0;\nfor (const _ of s) n++;\nreturn n;\n}';
        const len = type === 'string' ? `${this.helper('codePoints', codePoints)}(v)` : 'v.length';
        return `if (${len} < ${lit(c.minimum)}) return INVALID;`;
      }
      default:
        throw new UnsupportedSchemaError(`the check ${c.check}`);
    }
  }

  /** The body of the parse of a node (without its checks), `x` being the input. */
  private parseBody(n: ZodNode): string {
    const d = n._zod.def;
    if (d.coerce) throw new UnsupportedSchemaError(`a coercing ${d.type}`);
    switch (d.type) {
      case 'string':
      case 'boolean':
        return `if (typeof x !== '${d.type}') return INVALID;\nreturn x;`;
      case 'number':
        return "if (typeof x !== 'number' || !Number.isFinite(x)) return INVALID;\nreturn x;";
      case 'literal':
      case 'enum': {
        const values = [...(n._zod.values ?? [])];
        if (!values.length) throw new UnsupportedSchemaError(`an empty ${d.type}`);
        return `if (${values.map((v) => `x !== ${lit(v)}`).join(' && ')}) return INVALID;\nreturn x;`;
      }
      case 'unknown':
      case 'any':
        return 'return x;';
      case 'never':
        return 'return INVALID;';
      case 'optional':
        if (d.innerType!._zod.optin === 'defaulted') throw new UnsupportedSchemaError('an optional default');
        return `if (x === undefined) return undefined;\nreturn ${this.node(d.innerType!)}(x);`;
      case 'nullable':
        return `if (x === null) return null;\nreturn ${this.node(d.innerType!)}(x);`;
      case 'array':
        return (
          'if (!Array.isArray(x)) return INVALID;\nconst out = new Array(x.length);\n' +
          `for (let i = 0; i < x.length; i++) {\nconst r = ${this.node(d.element!)}(x[i]);\n` +
          'if (r === INVALID) return INVALID;\nout[i] = r;\n}\nreturn out;'
        );
      case 'object':
        return this.objectBody(d);
      case 'record':
        return this.recordBody(d);
      case 'union':
        return d.discriminator === undefined ? this.unionBody(d) : this.discriminatedBody(d);
      case 'pipe':
        return `const a = ${this.node(d.in!)}(x);\nif (a === INVALID) return INVALID;\nreturn ${this.node(d.out!)}(a);`;
      case 'transform': {
        // The transform reports a problem through ctx.addIssue, as a zod transform does.
        const f = this.fn(d.transform, 'transform');
        return `let bad = false;\nconst r = ${f}(x, { addIssue() { bad = true; } });\nreturn bad ? INVALID : r;`;
      }
      default:
        throw new UnsupportedSchemaError(`the zod type ${d.type}`);
    }
  }

  /** A strict (unknown keys are errors) or stripping object: zod's $ZodObject and handlePropertyResult. */
  private objectBody(d: ZodDef): string {
    const shape = d.shape!;
    const keys = Object.keys(shape);
    if (Object.getOwnPropertySymbols(shape).length || keys.includes('__proto__'))
      throw new UnsupportedSchemaError('an object with a symbol or __proto__ key');
    const object = this.helper(
      'object',
      // An absent optional field is left out of the output; a present one is kept, even when undefined; an
      // absent required one is an error whatever its schema makes of undefined.
      'function object(x, known, fields) {\n' +
        "if (typeof x !== 'object' || x === null || Array.isArray(x)) return INVALID;\n" +
        'if (known !== null) for (const k in x) if (!known.has(k)) return INVALID;\n' +
        'const out = {};\n' +
        'for (const [k, parse, optional] of fields) {\n' +
        'if (k in x) {\nconst r = parse(x[k]);\nif (r === INVALID) return INVALID;\nout[k] = r;\n' +
        '} else if (!optional) return INVALID;\n}\nreturn out;\n}',
    );
    let known = 'null';
    if (d.catchall !== undefined) {
      if (d.catchall._zod.def.type !== 'never') throw new UnsupportedSchemaError('an object with a catchall');
      known = this.constant(`new Set(${JSON.stringify(keys)})`);
    }
    const fields = keys.map((k) => {
      const { optin, optout } = shape[k]!._zod;
      const optional = optin === 'optional' && optout === 'optional';
      if (!optional && optin !== undefined)
        throw new UnsupportedSchemaError(`a field with optin ${optin} and optout ${optout}`);
      return `[${JSON.stringify(k)}, ${this.node(shape[k]!)}, ${optional}]`;
    });
    return `return ${object}(x, ${known}, ${this.constant(`[${fields.join(', ')}]`)});`;
  }

  /** A record whose keys are not exhaustive: zod's $ZodRecord over every own enumerable key. */
  private recordBody(d: ZodDef): string {
    if (d.keyType!._zod.values !== undefined && !d.partial)
      throw new UnsupportedSchemaError('a record with an exhaustive key set');
    if (d.mode !== undefined && d.mode !== 'strict') throw new UnsupportedSchemaError(`a record in mode ${d.mode}`);
    const plain = this.helper(
      'isPlainObject',
      // zod's util.isPlainObject
      'function isPlainObject(o) {\n' +
        "if (typeof o !== 'object' || o === null || Array.isArray(o)) return false;\n" +
        'const c = o.constructor;\n' +
        "if (c === undefined || typeof c !== 'function') return true;\n" +
        'const p = c.prototype;\n' +
        "if (typeof p !== 'object' || p === null || Array.isArray(p)) return false;\n" +
        "return Object.prototype.hasOwnProperty.call(p, 'isPrototypeOf');\n}",
    );
    // A key the key schema refuses would be retried as a number by zod; a refusal here sends the input to
    // zod, which is always right.
    return (
      `if (!${plain}(x)) return INVALID;\nconst out = {};\n` +
      'for (const k of Reflect.ownKeys(x)) {\n' +
      "if (k === '__proto__' || !Object.prototype.propertyIsEnumerable.call(x, k)) continue;\n" +
      `const key = ${this.node(d.keyType!)}(k);\nif (key === INVALID) return INVALID;\n` +
      `const r = ${this.node(d.valueType!)}(x[k]);\nif (r === INVALID) return INVALID;\n` +
      "if (key !== '__proto__') out[key] = r;\n}\nreturn out;"
    );
  }

  /** zod's $ZodUnion: the first option that parses. */
  private unionBody(d: ZodDef): string {
    if (d.inclusive === false) throw new UnsupportedSchemaError('an exclusive union');
    const opts = d.options!.map((o) => this.node(o));
    return `let r;\n${opts.map((o) => `if ((r = ${o}(x)) !== INVALID) return r;`).join('\n')}\nreturn INVALID;`;
  }

  /** zod's $ZodDiscriminatedUnion: the option whose literal matches the discriminator, and only that one. */
  private discriminatedBody(d: ZodDef): string {
    if (d.unionFallback) throw new UnsupportedSchemaError('a discriminated union with unionFallback');
    const disc = d.discriminator!;
    const owner = new Map<unknown, ZodNode | null>();
    for (const o of d.options!) {
      const values = o._zod.propValues?.[disc];
      if (!values?.size) throw new UnsupportedSchemaError('a discriminated union option without its discriminator');
      for (const v of values) owner.set(v, owner.has(v) ? null : o);
    }
    const cases: string[] = [];
    for (const [v, o] of owner)
      if (o) cases.push(`case ${v === undefined ? 'undefined' : lit(v)}: return ${this.node(o)}(x);`);
    return (
      "if (typeof x !== 'object' || x === null || Array.isArray(x)) return INVALID;\n" +
      `switch (x[${JSON.stringify(disc)}]) {\n${cases.join('\n')}\n}\nreturn INVALID;`
    );
  }

  finish(root: string): string {
    return [
      "const INVALID = Symbol('invalid');",
      ...this.lines,
      `return (input) => {\nconst r = ${root}(input);\nreturn r === INVALID ? undefined : r;\n};`,
    ].join('\n');
  }
}

/** The parser of `schema`; `functions` are the functions module's exports (the schema's callbacks). */
export function generateParser(schema: unknown, functions: Record<string, unknown>): GeneratedParser {
  const g = new Generator(functions);
  const root = g.node(schema as ZodNode);
  return { functions: [...g.used].sort(), body: g.finish(root) };
}

/** An ES module exporting the parser as `name`, importing the functions it calls from `functionsModule`. */
export function parserModule(p: GeneratedParser, name: string, functionsModule: string): string {
  const names = p.functions.join(', ');
  return (
    `// Generated by src/scenario/parser_gen.ts at build time: do not edit.\n` +
    (names ? `import { ${names} } from ${JSON.stringify(functionsModule)};\n` : '') +
    `export const ${name} = (function (${names}) {\n${p.body}\n})(${names});\n`
  );
}

/** The parser as a function, evaluated here (tests; a host that allows evaluating code). */
export function instantiateParser(p: GeneratedParser, functions: Record<string, unknown>): (input: unknown) => unknown {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const make = new Function(...p.functions, p.body) as (...fns: unknown[]) => (input: unknown) => unknown;
  return make(...p.functions.map((n) => functions[n]));
}
