// `gupsim gup_test --kernel 6.1|6.12 [selftest flags]`: the same command line as the model's clone
// (gup_test.ts), run for real on Debian's kernel of that release in a throwaway qemu VM: the
// helper maps and touches the buffer as tools/testing/selftests/mm/gup_test.c does, and gupsim's
// GUP module performs mm/gup_test.c's ioctls 1-6 on it (Debian kernels lack CONFIG_GUP_TEST). The
// output is the selftest's TAP; the kernel log lines the ioctls make are printed where they happen.
// Times are the emulated kernel's; pages, counters and errors are the kernel's.

import { Helper } from '../probe/helper.js';
import {
  GUP_FAST_BENCHMARK,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
  cmd_to_str,
  type GupTest,
} from '../mm/gup_test.js';
import { loadScenario } from '../scenario/load.js';
import { bootConfig } from '../probe/vm/cmdline.js';
import { VmSession, VM_COMMAND_TIMEOUT_MS } from '../probe/vm/probe.js';
import { VmTransport } from '../probe/vm/transport.js';
import { VmSystem } from '../probe/vm/system.js';
import type { VmRelease } from '../probe/vm/releases.js';
import { ProbeError } from '../probe/errors.js';
import { UserError } from './errors.js';
import { fileKind, strerror, type GupTestArgs, type GupTestIo } from './gup_test.js';
import { vmProgress } from './vm_progress.js';

const MiB = 1 << 20;
const PMD = 2 * MiB;
const EINVAL = 22;
const ENODEV = 19;

/** -errno of a helper reply's errno name (for strerror), EINVAL if unknown. */
function errnoOf(name: unknown): number {
  const table: Record<string, number> = {
    ENOMEM: 12,
    EINVAL: 22,
    ENODEV: 19,
    EFAULT: 14,
    EACCES: 13,
    ENOENT: 2,
    EPERM: 1,
    EBUSY: 16,
  };
  return typeof name === 'string' ? (table[name] ?? EINVAL) : EINVAL;
}

export async function gupTestInVm(p: GupTestArgs, release: VmRelease, io: GupTestIo): Promise<number> {
  const { extras, ksft, print, gup, cmd, repeats, size, nthreads, thp, shared, mapHugetlb, file } = p;
  const kind = mapHugetlb ? 'zero' : fileKind(file);
  if (kind === 'hugetlbfs' || kind === 'dax') {
    throw new UserError(
      'ERR_PROBE_UNSUPPORTED',
      `gup_test --kernel: -f ${file} (${kind === 'dax' ? 'fsdax' : 'hugetlbfs'}) is not available in the VM; ` +
        'use -H for hugetlb memory',
    );
  }
  const hugetlb = mapHugetlb;
  const bytes = Number(size);
  const mapLen = hugetlb ? Math.ceil(bytes / PMD) * PMD : bytes;
  const memMiB = extras.memoryMiB ?? Math.max(1024, Math.ceil((2 * mapLen + 256 * MiB) / PMD) * 2);
  // The machine as a scenario would describe it (cmdline.ts makes the VM of it).
  const machine = [
    `memory: ${memMiB}MiB`,
    `thp: ${extras.thp ?? 'madvise'}`,
    ...(hugetlb ? [`hugetlb: { 2M: ${mapLen / PMD} }`] : []),
  ];
  const diskFile = kind === 'disk' && bytes > 0;
  const sc = loadScenario(
    `machine: { ${machine.join(', ')} }\nsteps: [${diskFile ? `{ op: create_file, as: f, size: ${mapLen} }` : ''}]`,
    'gup_test',
  );
  const boot = bootConfig(sc);
  let session: VmSession;
  try {
    session = await VmSession.open(release, boot, { progress: vmProgress(io.stderr) });
  } catch (e) {
    if (e instanceof ProbeError) throw new UserError(e.code, e.message);
    throw e;
  }
  const helper = new Helper(new VmTransport(session.vm));
  try {
    await helper.start();
    if (!helper.gupModule)
      throw new UserError('ERR_PROBE_UNSUPPORTED', `gupsim's GUP module did not load in the Linux ${release} VM`);
    const sys = new VmSystem(helper, release, diskFile);
    ksft.print_header(io.env);
    ksft.set_plan(nthreads);
    if (nthreads < 0) {
      io.err("gup_test: gup_test.c: main: Assertion `tid' failed.\n");
      return 134;
    }
    const proc = await helper.spawn('gup_test');
    // --- mmap(NULL, size, PROT_READ|PROT_WRITE, flags, filed, 0) -------------------------------
    if (size === 0n) return ksft.exit_fail_msg(`mmap: ${strerror(EINVAL)}\n`);
    if (kind === 'nodev') return ksft.exit_fail_msg(`mmap: ${strerror(ENODEV)}\n`);
    let args: string;
    if (hugetlb) args = `kind=hugetlb shared=${shared ? 1 : 0} huge=2M`;
    else if (kind === 'tmpfs' || kind === 'disk') {
      const path = await sys.createFile(file.slice(file.lastIndexOf('/') + 1) || 'gup_test', mapLen, kind, { step: 0 });
      args = `kind=file shared=${shared ? 1 : 0} path=${path}`;
    } else args = shared ? 'kind=shmem shared=1' : 'kind=anon shared=0';
    const m = await helper.send(proc, `mmap ${args} size=${bytes} prot=rw plain=1`, VM_COMMAND_TIMEOUT_MS);
    if (m.ret < 0) return ksft.exit_fail_msg(`mmap: ${strerror(errnoOf(m.errno))}\n`);
    const addr = Number(m.addr);
    // MADV_HUGEPAGE (14) / MADV_NOHUGEPAGE (15); the result is ignored, as in the selftest.
    if (thp === 1) await helper.send(proc, `madvise addr=${addr} len=${bytes} advice=14`);
    else if (thp === 0) await helper.send(proc, `madvise addr=${addr} len=${bytes} advice=15`);
    // Fault them in from user space: p[0] = 0 on every page.
    const touchMs = VM_COMMAND_TIMEOUT_MS + Math.ceil(bytes / (16 * MiB)) * 1000;
    const t = await helper.send(proc, `touch addr=${addr} len=${bytes} write=1`, touchMs);
    if (t.ret < 0) {
      io.err(
        `gupsim: gup_test: a user-space write at 0x${Number(t.at ?? addr).toString(16)} faulted ` +
          `(${String(t.signal)}): the process would die of it\n`,
      );
      return 1;
    }
    await sys.kmsg(); // the log from here on is the ioctls'
    const ioctl = async (g: GupTest): Promise<number> => {
      const r = await helper.send(
        proc,
        `gup_test cmd=${cmd & 0xff} addr=${addr} size=${g.size} nr=${g.nr_pages_per_call} flags=${g.gup_flags} ` +
          `test_flags=${g.test_flags} which=${g.which_pages.join(',')}`,
        VM_COMMAND_TIMEOUT_MS + Math.ceil(g.size / (8 * MiB)) * 1000,
      );
      const lines = (await sys.kmsg()) ?? [];
      if (extras.dmesg && lines.length) print(lines.map((l) => l + '\n').join(''));
      if (r.ret < 0) return -1; // the libc wrapper: -1 and errno
      g.size = Number(r.size);
      g.get_delta_usec = Number(r.get_delta_usec);
      g.put_delta_usec = Number(r.put_delta_usec);
      return 0;
    };
    const benchmark = cmd === PIN_FAST_BENCHMARK || cmd === GUP_FAST_BENCHMARK || cmd === PIN_LONGTERM_BENCHMARK;
    for (let th = 0; th < nthreads; th++) {
      const g: GupTest = { ...gup, addr, which_pages: [...gup.which_pages] };
      let status = 0;
      if (benchmark) {
        for (let i = 0; i < repeats; i++) {
          g.size = bytes;
          status = await ioctl(g);
          if (status) break;
          ksft.print_msg(`${cmd_to_str(cmd)}: Time: get:${g.get_delta_usec} put:${g.put_delta_usec} us`);
          if (g.size !== bytes) ksft.print_msg(`, truncated (size: ${g.size})`);
          ksft.print_msg('\n');
        }
      } else {
        g.size = bytes;
        status = await ioctl(g);
        if (!status) {
          ksft.print_msg(`${cmd_to_str(cmd)}: done\n`);
          if (g.size !== bytes) ksft.print_msg(`Truncated (size: ${g.size})\n`);
        }
      }
      ksft.test_result(!status, `ioctl status ${status}\n`);
    }
    return ksft.exit_pass();
  } catch (e) {
    if (e instanceof ProbeError) throw new UserError(e.code, e.message);
    throw e;
  } finally {
    helper.kill();
    await session.close();
  }
}
