// Which kernel modules a VM needs for its disk (virtio-blk + ext4), in load order: read from the
// kernel's modules.dep (made by depmod) and modules.builtin, as `modprobe --show-depends` would
// resolve them. Pure functions.

/** The modules a disk needs, by name; built-in ones are skipped. crc32c: ext4's metadata checksums. */
export const DISK_MODULES = ['virtio_pci', 'virtio_blk', 'crc32c_generic', 'ext4'];

/** Module name of a path: "kernel/fs/ext4/ext4.ko.xz" -> "ext4" (dashes and underscores are one). */
export function moduleName(path: string): string {
  return path
    .slice(path.lastIndexOf('/') + 1)
    .replace(/\.ko(\.(xz|zst|gz))?$/, '')
    .replace(/-/g, '_');
}

/** modules.dep: module path -> the paths it depends on. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.set(
      line.slice(0, colon).trim(),
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
  }
  return out;
}

/**
 * The module files to insmod, dependencies first, each once, for the wanted module names; names
 * that are built in (listed in modules.builtin) or unknown are left out (reported in `missing`
 * only when not built in).
 */
export function loadOrder(
  wanted: string[],
  dep: Map<string, string[]>,
  builtin: string,
): { files: string[]; missing: string[] } {
  const byName = new Map<string, string>();
  for (const p of dep.keys()) byName.set(moduleName(p), p);
  const builtins = new Set(builtin.split('\n').filter(Boolean).map(moduleName));
  const files: string[] = [];
  const missing: string[] = [];
  const visit = (path: string, depth: number) => {
    if (files.includes(path) || depth > 32) return;
    for (const d of dep.get(path) ?? []) visit(d, depth + 1);
    files.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name.replace(/-/g, '_'));
    if (path) visit(path, 0);
    else if (!builtins.has(name.replace(/-/g, '_'))) missing.push(name);
  }
  return { files, missing };
}
