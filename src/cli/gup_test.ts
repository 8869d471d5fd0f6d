// `gupsim gup_test [flags] [page indices...]`: tools/testing/selftests/mm/gup_test.c run on the model.
// Same getopt string (m:r:n:F:f:abcj:tTLUuwWSHpz), same flow (TAP header and plan, open, mmap,
// madvise, touch every page from user space, one "thread" per -j, the ioctls of mm/gup_test.c), same
// kselftest output byte for byte; the kernel log lines the ioctls produce (dump_page, WARN, pr_warn)
// are printed where they happen, as `dmesg` would show them (--no-dmesg leaves them out).
//
// gupsim additions, parsed before getopt (the selftest itself would call them "Wrong argument"):
// --memory MiB (model machine size; default: enough for the buffer), --thp always|madvise|never,
// --kernel 6.1|6.12 (Debian's kernel in a VM, gup_test_vm.ts), --kernel R --model (the model with
// R's release profile, 6.1|6.12|6.18; -F takes R's FOLL_* values), --no-dmesg, --help. Threads run
// one after the other. The selftest's own exit rules apply: 1 for ksft_exit_fail_msg() ("Wrong
// argument", mmap failure), 0 otherwise (ksft_exit_pass(), even after a "not ok" line).

import type { Command } from 'commander';
import { getopt } from './getopt.js';
import { atoi, strtol } from './strtol.js';
import { Progress } from './progress.js';
import { UserError } from './errors.js';
import { Machine, type ThpPolicy } from '../mm/machine.js';
import {
  GupTestFile,
  gupTestStruct,
  cmd_to_str,
  GUP_FAST_BENCHMARK,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
  GUP_BASIC_TEST,
  PIN_BASIC_TEST,
  DUMP_USER_PAGES_TEST,
  GUP_TEST_FLAG_DUMP_PAGES_USE_PIN,
  GUP_TEST_MAX_PAGES_TO_DUMP,
  type GupTest,
} from '../mm/gup_test.js';
import { do_mmap, type MmapArgs } from '../mm/mmap.js';
import { do_madvise } from '../mm/madvise.js';
import { userAccess } from '../mm/user_access.js';
import { PAGE_SIZE, PMD_SIZE, PMD_ORDER } from '../mm/memmap.js';
import { FOLL_WRITE } from '../mm/foll_flags.js';
import { DEFAULT_PROFILE } from '../mm/profile.js';
import { kernelOption } from './kernel_option.js';
import { EINVAL, ENOMEM, errnoName } from '../uapi/errno.js';
import type { FsKind } from '../mm/fs.js';
import { VM_RELEASES, type VmRelease } from '../probe/vm/releases.js';

const MB = 1n << 20n;
const MiB = 1 << 20;
/** The selftest's getopt string. */
export const GUP_TEST_OPTSTRING = 'm:r:n:F:f:abcj:tTLUuwWSHpz';
/** Options of GUP_TEST_OPTSTRING that take an argument. */
const TAKES_ARG = new Set(['m', 'r', 'n', 'F', 'f', 'j']);
/** x86-64 TASK_SIZE with 4-level paging: larger mmap lengths fail with ENOMEM. */
const TASK_SIZE = 2n ** 47n - 4096n;
/** Largest model machine gupsim builds for this command (metadata is 16 bytes per 4 KiB page). */
const MAX_MACHINE_MIB = 32768;
/** ENODEV: mmap of a file whose f_op has no ->mmap. */
const ENODEV = 19;

export interface GupTestIo {
  out(s: string): void;
  err(s: string): void;
  /** stderr, for the progress bar (drawn only when it is a TTY). */
  stderr: { isTTY?: boolean; columns?: number; write(s: string): unknown };
  env: Record<string, string | undefined>;
  /** The command's help text, for --help. */
  help?: () => string;
}

interface Extras {
  memoryMiB?: number;
  thp?: ThpPolicy;
  dmesg: boolean;
  help: boolean;
  /** --kernel: run on Debian's 6.1 / 6.12 in a VM (gup_test_vm.ts) instead of the model. */
  kernel?: string;
  /** --model: with --kernel, run the model with that release's profile (-F: its FOLL_* values) instead. */
  model?: boolean;
}

/**
 * Take gupsim's own long options out of argv, leaving what the selftest's getopt sees. Aware of the
 * selftest's options that consume the next element (`-f --memory` maps a file named "--memory"), of
 * `--`, and, in POSIX order, of the first operand.
 */
export function splitGupsimOptions(argv: readonly string[], posix = false): { extras: Extras; rest: string[] } {
  const extras: Extras = { dmesg: true, help: false };
  const rest: string[] = [];
  const value = (name: string, i: number, inline: string | undefined): [string, number] => {
    if (inline !== undefined) return [inline, i];
    if (i + 1 >= argv.length) throw new UserError('ERR_USAGE', `gup_test: ${name} needs a value`);
    return [argv[i + 1]!, i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const long = /^--([a-z-]+)(?:=(.*))?$/s.exec(a);
    if (long) {
      const [, name, inline] = long;
      if (name === 'memory') {
        let v: string;
        [v, i] = value('--memory', i, inline);
        if (!/^\d+$/.test(v) || +v < 16 || +v > MAX_MACHINE_MIB) {
          throw new UserError(
            'ERR_USAGE',
            `gup_test: --memory takes a size in MiB from 16 to ${MAX_MACHINE_MIB}, not '${v}'`,
          );
        }
        extras.memoryMiB = +v;
        continue;
      }
      if (name === 'thp') {
        let v: string;
        [v, i] = value('--thp', i, inline);
        if (v !== 'always' && v !== 'madvise' && v !== 'never') {
          throw new UserError('ERR_USAGE', `gup_test: --thp takes always, madvise or never, not '${v}'`);
        }
        extras.thp = v;
        continue;
      }
      if (name === 'kernel') {
        [extras.kernel, i] = value('--kernel', i, inline);
        continue;
      }
      if (name === 'model' && inline === undefined) {
        extras.model = true;
        continue;
      }
      if (name === 'no-dmesg' && inline === undefined) {
        extras.dmesg = false;
        continue;
      }
      if (name === 'help' && inline === undefined) {
        extras.help = true;
        continue;
      }
      rest.push(a); // not ours: getopt will call it a wrong argument
      continue;
    }
    if (a.length > 1 && a[0] === '-') {
      rest.push(a);
      // Does this cluster end with an option whose argument is the next element?
      for (let j = 1; j < a.length; j++) {
        if (!TAKES_ARG.has(a[j]!)) continue;
        if (j === a.length - 1 && i + 1 < argv.length) rest.push(argv[++i]!);
        break;
      }
      continue;
    }
    if (posix) {
      rest.push(...argv.slice(i));
      break;
    }
    rest.push(a);
  }
  return { extras, rest };
}

/** The counters and printers of tools/testing/selftests/kselftest.h. */
export class Ksft {
  pass = 0;
  fail = 0;
  xfail = 0;
  xpass = 0;
  xskip = 0;
  error = 0;
  plan = 0;
  constructor(private readonly print: (s: string) => void) {}

  test_num(): number {
    return this.pass + this.fail + this.xfail + this.xpass + this.xskip + this.error;
  }

  print_header(env: Record<string, string | undefined>): void {
    if (!env.KSFT_TAP_LEVEL) this.print('TAP version 13\n');
  }

  set_plan(plan: number): void {
    this.plan = plan >>> 0;
    this.print(`1..${this.plan}\n`);
  }

  /** ksft_print_msg(): "# " and the message as given (no newline added). */
  print_msg(msg: string): void {
    this.print('# ' + msg);
  }

  test_result(ok: boolean, msg: string): void {
    if (ok) this.pass++;
    else this.fail++;
    this.print(`${ok ? 'ok' : 'not ok'} ${this.test_num()} ${msg}`);
  }

  print_cnts(): void {
    if (this.plan !== this.test_num())
      this.print(`# Planned tests != run tests (${this.plan} != ${this.test_num()})\n`);
    this.print(
      `# Totals: pass:${this.pass} fail:${this.fail} xfail:${this.xfail} xpass:${this.xpass} skip:${this.xskip} ` +
        `error:${this.error}\n`,
    );
  }

  exit_pass(): number {
    this.print_cnts();
    return 0; // KSFT_PASS
  }

  exit_fail_msg(msg: string): number {
    this.print('Bail out! ' + msg);
    this.print_cnts();
    return 1; // KSFT_FAIL
  }
}

/** strerror() for the errnos this command can meet. */
export function strerror(err: number): string {
  switch (err) {
    case ENOMEM:
      return 'Cannot allocate memory';
    case EINVAL:
      return 'Invalid argument';
    case ENODEV:
      return 'No such device';
  }
  return errnoName(err);
}

/** What -f PATH names in the model: /dev/zero is anonymous memory, other paths are files by mount. */
export function fileKind(path: string): 'zero' | 'nodev' | FsKind {
  if (path === '/dev/zero') return 'zero';
  if (path.startsWith('/dev/shm/')) return 'tmpfs';
  if (path.startsWith('/dev/hugepages/') || path.startsWith('/mnt/huge/')) return 'hugetlbfs';
  if (path.startsWith('/mnt/pmem')) return 'dax';
  if (path.startsWith('/dev/')) return 'nodev'; // a device without ->mmap (/dev/null...): ENODEV
  return 'disk';
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** The selftest's command line, parsed as its main() does. */
export interface GupTestArgs {
  extras: Extras;
  ksft: Ksft;
  print: (s: string) => void;
  progress: Progress;
  gup: GupTest;
  cmd: number;
  repeats: number;
  size: bigint;
  nthreads: number;
  thp: number;
  shared: boolean;
  mapHugetlb: boolean;
  file: string;
}

/**
 * Parse the selftest's command line (gupsim's own long options, then its getopt switch and page
 * indices). Returns the exit status when it ends there (--help, a wrong argument).
 */
export function parseGupTest(argv: readonly string[], io: GupTestIo): GupTestArgs | { exit: number } {
  const posix = io.env.POSIXLY_CORRECT !== undefined;
  const { extras, rest } = splitGupsimOptions(argv, posix);
  if (extras.help) {
    io.out(
      io.help?.() ??
        'usage: gupsim gup_test [-abcLUuptTwWSHz] [-m MiB] [-r repeats] [-n pages] [-F flags] [-f file] [-j threads] ' +
          '[page...]\n',
    );
    return { exit: 0 };
  }
  const progress = new Progress(io.stderr);
  const print = (s: string) => {
    progress.clear();
    io.out(s);
  };
  const ksft = new Ksft(print);

  // --- main(): option parsing, as the selftest's switch ---------------------------------------
  const gup = gupTestStruct();
  let cmd = GUP_FAST_BENCHMARK;
  let repeats = 1;
  let size = 128n * MB; // unsigned long
  let nr_pages = 1;
  let thp = -1;
  let write = 1;
  let nthreads = 1;
  let shared = false;
  let mapHugetlb = false;
  let file = '/dev/zero';
  const { items, operands } = getopt(rest, GUP_TEST_OPTSTRING, { permute: !posix, progname: 'gup_test' });
  for (const it of items) {
    const arg = it.optarg ?? '';
    switch (it.opt) {
      case 'a':
        cmd = PIN_FAST_BENCHMARK;
        break;
      case 'b':
        cmd = PIN_BASIC_TEST;
        break;
      case 'L':
        cmd = PIN_LONGTERM_BENCHMARK;
        break;
      case 'c':
        cmd = DUMP_USER_PAGES_TEST;
        gup.which_pages[0] = 1; // page 0, 1-based; command-line indices may override it
        break;
      case 'p':
        gup.test_flags |= GUP_TEST_FLAG_DUMP_PAGES_USE_PIN;
        break;
      case 'F':
        gup.gup_flags = Number(BigInt.asUintN(32, strtol(arg, 0).value));
        break; // long -> __u32
      case 'j':
        nthreads = atoi(arg);
        break;
      case 'm':
        size = BigInt.asUintN(64, BigInt(atoi(arg)) * MB);
        break; // int * 1UL << 20
      case 'r':
        repeats = atoi(arg);
        break;
      case 'n':
        nr_pages = atoi(arg);
        if (nr_pages < 0) nr_pages = Number(BigInt.asIntN(32, size / BigInt(PAGE_SIZE))); // the size so far
        break;
      case 't':
        thp = 1;
        break;
      case 'T':
        thp = 0;
        break;
      case 'U':
        cmd = GUP_BASIC_TEST;
        break;
      case 'u':
        cmd = GUP_FAST_BENCHMARK;
        break;
      case 'w':
        write = 1;
        break;
      case 'W':
        write = 0;
        break;
      case 'f':
        file = arg;
        break;
      case 'S':
        shared = true;
        break;
      case 'H':
        mapHugetlb = true;
        break;
      default: // '?' from getopt, and -z, which the optstring accepts but the switch does not handle
        if (it.message) io.err(it.message + '\n');
        return { exit: ksft.exit_fail_msg('Wrong argument\n') };
    }
  }
  // Trailing operands: up to GUP_TEST_MAX_PAGES_TO_DUMP page indices, 0-based here, stored 1-based.
  for (let k = 0; k < operands.length && k < GUP_TEST_MAX_PAGES_TO_DUMP; k++) {
    gup.which_pages[k] = Number(BigInt.asUintN(32, BigInt.asIntN(64, strtol(operands[k]!, 0).value + 1n)));
  }
  gup.nr_pages_per_call = nr_pages >>> 0;
  // FOLL_WRITE is 0x1 in every release's headers (the model's and the VM's kernels alike).
  if (write) gup.gup_flags = (gup.gup_flags | FOLL_WRITE) >>> 0;
  return { extras, ksft, print, progress, gup, cmd, repeats, size, nthreads, thp, shared, mapHugetlb, file };
}

/** Run the selftest on the model. Returns the process exit status. */
export function gupTestMain(argv: readonly string[], io: GupTestIo): number {
  const parsed = parseGupTest(argv, io);
  return 'exit' in parsed ? parsed.exit : runOnModel(parsed, io);
}

function runOnModel(parsed: GupTestArgs, io: GupTestIo): number {
  const { extras, ksft, print, progress, gup, cmd, repeats, size, nthreads, thp, shared, mapHugetlb, file } = parsed;

  // The model machine for the buffer (a gupsim limit is a usage error, before any selftest output).
  const kind = mapHugetlb ? 'zero' : fileKind(file); // MAP_ANONYMOUS ignores the file
  const hugetlb = mapHugetlb || kind === 'hugetlbfs';
  let len = size;
  // ALIGN(len, huge_page_size)
  if (hugetlb) len = ((size + BigInt(PMD_SIZE) - 1n) / BigInt(PMD_SIZE)) * BigInt(PMD_SIZE);
  const mmapFails = size === 0n || len > TASK_SIZE || kind === 'nodev';
  const bytes = Number(size);
  const mapLen = Number(len);
  const autoMiB = roundUp(2 * mapLen + 256 * MiB, 2 * MiB) / MiB;
  const memMiB = extras.memoryMiB ?? (mmapFails ? 256 : autoMiB);
  if (memMiB > MAX_MACHINE_MIB) {
    throw new UserError(
      'ERR_USAGE',
      `gup_test: a ${bytes / MiB} MiB buffer needs a model machine of ${autoMiB} MiB, over gupsim's ` +
        `${MAX_MACHINE_MIB} MiB limit`,
    );
  }

  ksft.print_header(io.env);
  ksft.set_plan(nthreads);
  // open(file, O_RDWR|O_CREAT, 0664) and open("/sys/kernel/debug/gup_test"): the model machine runs
  // as root with CONFIG_GUP_TEST and debugfs mounted, so both succeed.

  // --- mmap(NULL, size, PROT_READ|PROT_WRITE, flags, filed, 0) ---------------------------------
  if (size === 0n) return ksft.exit_fail_msg(`mmap: ${strerror(EINVAL)}\n`);
  if (len > TASK_SIZE) return ksft.exit_fail_msg(`mmap: ${strerror(ENOMEM)}\n`);
  if (kind === 'nodev') return ksft.exit_fail_msg(`mmap: ${strerror(ENODEV)}\n`);
  const m = new Machine(
    {
      memory: memMiB * MiB,
      ...(extras.thp ? { thp: extras.thp } : {}),
      // -H: a hugetlb pool big enough for the buffer (echo N > nr_hugepages), as far as memory allows.
      ...(hugetlb ? { hugetlb: { '2M': mapLen / PMD_SIZE } } : {}),
      ...(kind === 'dax' ? { pmem: mapLen } : {}),
    },
    // Only the model runs here: without --kernel, 6.18; with --kernel R --model, R's profile.
    extras.kernel !== undefined ? kernelOption(extras.kernel, 'gup_test')! : DEFAULT_PROFILE,
  );
  const proc = m.spawn('gup_test');
  const mmapArgs: MmapArgs = { size: bytes, type: 'anon', shared, name: 'gup_test' };
  if (hugetlb) {
    mmapArgs.type = 'hugetlb';
    if (kind === 'hugetlbfs') mmapArgs.file = m.newFile('hugetlbfs', file, mapLen / PAGE_SIZE, PMD_ORDER);
  } else if (kind === 'tmpfs' || kind === 'disk') {
    // The file exists with at least `size` bytes (a freshly created empty one would SIGBUS on touch).
    mmapArgs.type = 'file';
    mmapArgs.file = m.newFile(kind, file, mapLen / PAGE_SIZE);
  } else if (kind === 'dax') {
    mmapArgs.type = 'fsdax';
    mmapArgs.file = m.newFile('dax', file, mapLen / PAGE_SIZE);
  }
  if (mmapArgs.file) mmapArgs.file.users++; // filed stays open
  const addr = do_mmap(m, proc, mmapArgs);
  if (addr < 0) return ksft.exit_fail_msg(`mmap: ${strerror(-addr)}\n`);
  gup.addr = addr;

  if (thp === 1)
    do_madvise(m, proc, addr, bytes, 'hugepage'); // return value ignored, as in the selftest
  else if (thp === 0) do_madvise(m, proc, addr, bytes, 'nohugepage');

  // --- fault them in from user space: p[0] = 0 on every psize() page ----------------------------
  const big = bytes > 64 * MiB;
  progress.setBig(big);
  const touchLabel = `faulting in ${bytes / MiB} MiB`;
  const step = 2 * MiB;
  for (let a = addr; a < addr + bytes; a += step) {
    const r = userAccess(m, proc, a, Math.min(step, addr + bytes - a), true);
    if (r === -ENOMEM) {
      progress.clear();
      throw new UserError(
        'ERR_USAGE',
        `gup_test: the model machine (${memMiB} MiB) ran out of memory faulting in the buffer (the OOM killer would ` +
          `end gup_test here); use a larger --memory`,
      );
    }
    if (r < 0) {
      progress.clear();
      io.err(
        `gupsim: gup_test: a user-space write in 0x${a.toString(16)}-0x${(a + step).toString(16)} faulted: the ` +
          `process would die of SIGSEGV/SIGBUS\n`,
      );
      return 1;
    }
    progress.update(touchLabel, a + step - addr, bytes);
  }

  // --- the "threads", one after the other -------------------------------------------------------
  if (nthreads < 0) {
    // malloc(sizeof(pthread_t) * nthreads) with a negative count fails: assert(tid).
    progress.clear();
    io.err("gup_test: gup_test.c: main: Assertion `tid' failed.\n");
    return 134; // SIGABRT
  }
  let label = '';
  const f = new GupTestFile(m, proc, {
    onProgress: (done, total) => progress.update(label, done, total),
  });
  const ioctl = (g: GupTest): number => {
    const r = f.ioctl(cmd, g);
    const lines = f.drainDmesg();
    if (extras.dmesg && lines.length) print(lines.map((l) => l + '\n').join(''));
    return r < 0 ? -1 : r; // the libc wrapper: -1 and errno
  };
  const benchmark = cmd === PIN_FAST_BENCHMARK || cmd === GUP_FAST_BENCHMARK || cmd === PIN_LONGTERM_BENCHMARK;
  for (let t = 0; t < nthreads; t++) {
    // gup_thread(): each thread works on its own copy of the struct.
    const g: GupTest = { ...gup, which_pages: [...gup.which_pages] };
    // In the C, status is uninitialized when -r is 0 or less; the model reads it as 0.
    let status = 0;
    if (benchmark) {
      for (let i = 0; i < repeats; i++) {
        label = `${cmd_to_str(cmd)} thread ${t + 1}/${nthreads}, repeat ${i + 1}/${repeats}`;
        g.size = bytes;
        status = ioctl(g);
        if (status) break;
        ksft.print_msg(`${cmd_to_str(cmd)}: Time: get:${g.get_delta_usec} put:${g.put_delta_usec} us`);
        if (g.size !== bytes) ksft.print_msg(`, truncated (size: ${g.size})`);
        ksft.print_msg('\n');
      }
    } else {
      label = `${cmd_to_str(cmd)} thread ${t + 1}/${nthreads}`;
      g.size = bytes;
      status = ioctl(g);
      if (!status) {
        ksft.print_msg(`${cmd_to_str(cmd)}: done\n`);
        if (g.size !== bytes) ksft.print_msg(`Truncated (size: ${g.size})\n`);
      }
    }
    ksft.test_result(!status, `ioctl status ${status}\n`);
  }
  f.release();
  return ksft.exit_pass();
}

const HELP_AFTER = `
Selftest flags (tools/testing/selftests/mm/gup_test.c; getopt string ${GUP_TEST_OPTSTRING}):
  -u          GUP_FAST_BENCHMARK: get_user_pages_fast + put_page (the default)
  -a          PIN_FAST_BENCHMARK: pin_user_pages_fast + unpin_user_pages
  -L          PIN_LONGTERM_BENCHMARK: pin_user_pages with FOLL_LONGTERM
  -U          GUP_BASIC_TEST: get_user_pages
  -b          PIN_BASIC_TEST: pin_user_pages
  -c          DUMP_USER_PAGES_TEST (dumps page 0 unless page indices are given)
  -p          dump test: pin (FOLL_PIN) instead of get (FOLL_GET)
  -m MiB      buffer size (default 128)
  -n N        pages per GUP call (default 1; negative: the whole buffer so far)
  -r N        repeats of a benchmark (default 1)
  -j N        threads (run one after the other here), one TAP result each
  -F FLAGS    gup_flags (strtol: 0x.. hex and 0.. octal allowed); FOLL_WRITE is then added unless -W
  -w / -W     write (FOLL_WRITE, the default) / read-only
  -t / -T     madvise(MADV_HUGEPAGE) / madvise(MADV_NOHUGEPAGE)
  -f PATH     file to map (default /dev/zero = anonymous memory). In the model, /dev/shm/* is tmpfs,
              /dev/hugepages/* hugetlbfs, /mnt/pmem* fsdax, other /dev/* cannot be mapped, anything
              else is an ext4 file at least as big as the buffer
  -S          MAP_SHARED (with /dev/zero: shared anonymous memory, i.e. shmem)
  -H          MAP_HUGETLB|MAP_ANONYMOUS (gupsim sizes the 2 MiB hugetlb pool to fit)
  -z          accepted by getopt, then rejected: "Wrong argument"
  --kernel R  run it on Debian's Linux R (6.1 or 6.12) in a throwaway qemu VM, through gupsim's GUP
              module, instead of on the model (times are the emulated kernel's)
  --model     with --kernel R: run it on the model with R's release profile (6.1, 6.12 or 6.18)
              instead; -F then takes R's FOLL_* values
  page...     page indices (0-based, strtol) for -c, up to 8

Output is kselftest TAP as the selftest prints it; kernel log lines (dump_page, WARN, ZEROING) appear
where the ioctl prints them. Exit status: 1 for "Bail out!", else 0 (ksft_exit_pass).
Examples:
  gupsim gup_test -a -m 16
  gupsim gup_test -c -p 0 1 2
  gupsim gup_test -L -S -f /data/file      (longterm write pin of an ext4 shared mapping: refused)
`;

export function registerGupTest(program: Command, setCode: (c: number) => void): void {
  program
    .command('gup_test')
    .description('run tools/testing/selftests/mm/gup_test on the model (kselftest TAP output)')
    .usage('[selftest flags] [page indices...]  (see below)')
    .argument('[args...]', 'selftest flags and page indices')
    .option('--memory <MiB>', 'model machine size in MiB (default: twice the buffer plus 256)')
    .option('--thp <policy>', 'transparent_hugepage/enabled: always, madvise (default) or never')
    .option('--no-dmesg', 'leave the kernel log lines out of the output')
    .option('--kernel <release>', "run on Debian's Linux 6.1 or 6.12 in a qemu VM instead of the model")
    .option('--model', "with --kernel R: run the model with R's release profile instead of the VM")
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .addHelpText('after', HELP_AFTER)
    .action(async (_args: string[], _o: unknown, self: Command) => {
      // Commander has already rearranged argv (it drops a leading "--"): take the raw words after
      // the command name and give them to getopt as the selftest would see them.
      // (rawArgs: set by Command.parse(), not in commander's typings.)
      const raw = (self.parent as unknown as { rawArgs?: string[] } | null)?.rawArgs ?? [];
      const at = raw.indexOf(self.name());
      const argv = at >= 0 ? raw.slice(at + 1) : _args;
      const io: GupTestIo = {
        out: (s) => process.stdout.write(s),
        err: (s) => process.stderr.write(s),
        stderr: process.stderr,
        env: process.env,
        help: () => self.helpInformation() + HELP_AFTER,
      };
      const parsed = parseGupTest(argv, io);
      if ('exit' in parsed) return setCode(parsed.exit);
      if (parsed.extras.kernel === undefined || parsed.extras.model) return setCode(runOnModel(parsed, io));
      const release = parsed.extras.kernel;
      if (!(VM_RELEASES as readonly string[]).includes(release)) {
        throw new UserError(
          'ERR_USAGE',
          `gup_test: --kernel takes ${VM_RELEASES.join(' or ')} (a Debian kernel in a qemu VM); without it the ` +
            'selftest runs on the model',
        );
      }
      // Loaded on demand: the VM engine is not needed for the model.
      const { gupTestInVm } = await import('./gup_test_vm.js');
      setCode(await gupTestInVm(parsed, release as VmRelease, io));
    });
}
