// getopt(3) for the gup_test clone (tools/testing/selftests/mm/gup_test.c parses its command line with
// libc getopt, which Node's util.parseArgs cannot imitate: `-n -1` takes "-1" as the argument of -n).
//
// POSIX semantics: options are single characters, clustered (`-ct`), an option argument is the rest of
// the element (`-n64`) or the next element (`-n 64`, `-n -1`, even `-n --`), `--` ends the options, a
// lone `-` is an operand. An unknown option or a missing argument makes getopt return '?' (':' for a
// missing argument when the optstring starts with ':') and print glibc's message unless the optstring
// starts with ':'.
//
// Like glibc (the C library the selftest is built against on Linux), operands are permuted to the end
// by default, so `gup_test -c 0 1 -p` still sees -p; a leading '+' in the optstring or POSIXLY_CORRECT
// (`permute: false`) stops at the first operand, as POSIX requires. glibc's '-' prefix (operands
// returned in order as option '\x01') and GNU '::' optional arguments are supported for completeness.

/** One return value of getopt(): the option character (or '?' / ':' / '\x01'), with optarg/optopt. */
export interface GetoptItem {
  /** The option character, '?' for an unknown option or a missing argument, ':' for a missing
   *  argument in ':' mode, '\x01' for an operand in '-' (RETURN_IN_ORDER) mode. */
  opt: string;
  /** The option's argument (optarg), when it takes one. */
  optarg?: string;
  /** The offending character (optopt) when opt is '?' or ':'. */
  optopt?: string;
  /** The message glibc prints on stderr for '?' (absent in ':' mode). */
  message?: string;
}

export interface GetoptResult {
  /** Every value getopt() returned before -1, in order (errors included: the caller decides). */
  items: GetoptItem[];
  /** argv[optind..] after getopt() returned -1: the operands, in their original order. */
  operands: string[];
}

export interface GetoptOptions {
  /** glibc PERMUTE ordering (default true); false = POSIX REQUIRE_ORDER (POSIXLY_CORRECT). */
  permute?: boolean;
  /** argv[0] for the error messages. */
  progname?: string;
}

type ArgSpec = 0 | 1 | 2; // no argument, required argument, optional (GNU '::')

/** Parse an optstring such as "m:r:n:F:f:abcj:tTLUuwWSHpz". */
function parseOptstring(optstring: string): {
  spec: Map<string, ArgSpec>;
  order: 'permute' | 'require' | 'in-order';
  colon: boolean;
} {
  let s = optstring;
  let order: 'permute' | 'require' | 'in-order' = 'permute';
  if (s.startsWith('+')) {
    order = 'require';
    s = s.slice(1);
  } else if (s.startsWith('-')) {
    order = 'in-order';
    s = s.slice(1);
  }
  const colon = s.startsWith(':');
  if (colon) s = s.slice(1);
  const spec = new Map<string, ArgSpec>();
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === ':') continue;
    if (s[i + 1] === ':') {
      if (s[i + 2] === ':') {
        spec.set(c, 2);
        i += 2;
      } else {
        spec.set(c, 1);
        i += 1;
      }
    } else spec.set(c, 0);
  }
  return { spec, order, colon };
}

/** NONOPTION_P in glibc: an element that does not start with '-', or is exactly "-". */
function isOperand(arg: string): boolean {
  return arg[0] !== '-' || arg.length === 1;
}

/**
 * Run getopt(argc, argv, optstring) to completion. `argv` excludes argv[0].
 * Returns what each call returned and the operands left at optind.
 */
export function getopt(argv: readonly string[], optstring: string, o: GetoptOptions = {}): GetoptResult {
  const { spec, order: specOrder, colon } = parseOptstring(optstring);
  const order = specOrder === 'permute' && o.permute === false ? 'require' : specOrder;
  const prog = o.progname ?? 'getopt';
  const items: GetoptItem[] = [];
  const skipped: string[] = []; // operands passed over while permuting
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (isOperand(arg)) {
      if (order === 'require') break;
      if (order === 'in-order') items.push({ opt: '\x01', optarg: arg });
      else skipped.push(arg);
      i++;
      continue;
    }
    // An option element: walk its characters (a cluster such as -ct or -n64).
    i++;
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      const kind = spec.get(c);
      if (kind === undefined) {
        const it: GetoptItem = { opt: '?', optopt: c };
        if (!colon) it.message = `${prog}: invalid option -- '${c}'`;
        items.push(it);
        continue;
      }
      if (kind === 0) {
        items.push({ opt: c });
        continue;
      }
      const rest = arg.slice(j + 1);
      if (rest !== '') {
        items.push({ opt: c, optarg: rest });
      } else if (kind === 2) {
        items.push({ opt: c }); // optional argument: only attached
      } else if (i < argv.length) {
        items.push({ opt: c, optarg: argv[i++]! }); // taken verbatim: "-1", "--", "-x" alike
      } else {
        const it: GetoptItem = { opt: colon ? ':' : '?', optopt: c };
        if (!colon) it.message = `${prog}: option requires an argument -- '${c}'`;
        items.push(it);
      }
      break; // the rest of the element was the argument
    }
  }
  return { items, operands: [...skipped, ...argv.slice(i)] };
}
