// The scenario's THP / mTHP / shmem THP / zero-page settings (host.ts planSettings) applied inside a
// VM through its helper, as the host engine applies them on the host, but without a journal: the
// VM is thrown away. What a release does not have (mTHP sysfs files before 6.8) is fine when the
// scenario asks for what that release does anyway (the setting's `absent` value, as on a host:
// mTHP sizes other than 2M never), and a problem otherwise. hugetlb pools are reserved on the kernel
// command line (cmdline.ts) and only checked here; their overcommit is written as on a host.

import type { Helper } from '../helper.js';
import type { HostSetting } from '../host.js';

/** "always [madvise] never" -> "madvise"; numbers as they are. */
export function settingValue(text: string, kind: HostSetting['kind']): string {
  const t = text.trim();
  if (kind === 'selector') return /\[([^\]]+)\]/.exec(t)?.[1] ?? t;
  return t;
}

/** Whether the kernel lacking the setting's file behaves as the scenario wants (host.ts HostSetting.absent). */
function inherent(s: HostSetting): boolean {
  return s.absent !== undefined && s.want === s.absent;
}

export async function applyGuestSettings(
  helper: Helper,
  settings: HostSetting[],
  kernel: string,
): Promise<{ changed: Array<{ what: string; path: string; from: string; to: string }>; problems: string[] }> {
  const changed: Array<{ what: string; path: string; from: string; to: string }> = [];
  const problems: string[] = [];
  for (const s of settings) {
    const cur = await helper.supervisorCommand(`readfile path=${s.path}`);
    if (s.path.includes('/hugepages/hugepages-') && s.path.endsWith('/nr_hugepages')) {
      // Reserved at boot (hugepagesz=/hugepages=): only checked.
      if ((cur.ret < 0 || typeof cur.text !== 'string') && inherent(s)) continue;
      const got = typeof cur.text === 'string' ? cur.text.trim() : 'none';
      if (got !== s.want)
        problems.push(`${s.what}: the kernel reserved ${got} pages at boot, the scenario needs ${s.want}`);
      continue;
    }
    if (cur.ret < 0 || typeof cur.text !== 'string') {
      if (!inherent(s)) problems.push(`${s.what}: ${s.path} does not exist on Linux ${kernel}`);
      continue;
    }
    const from = settingValue(cur.text, s.kind);
    if (from === s.want) continue;
    const w = await helper.supervisorCommand(`writefile path=${s.path} value=${s.want}`);
    if (w.ret < 0) {
      problems.push(`${s.what}: writing ${s.want} to ${s.path} failed: ${w.errno}`);
      continue;
    }
    const now = await helper.supervisorCommand(`readfile path=${s.path}`);
    const to = typeof now.text === 'string' ? settingValue(now.text, s.kind) : '?';
    changed.push({ what: s.what, path: s.path, from, to });
    if (to !== s.want) problems.push(`${s.what}: asked for ${s.want}, the kernel gave ${to}`);
  }
  return { changed, problems };
}
