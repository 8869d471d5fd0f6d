import { describe, it, expect } from 'vitest';
import { fixFlavourMakefile } from './kbuild.js';

describe('module build', () => {
  it('points the flavour Makefile at the extracted -common headers', () => {
    const debian = 'include /usr/src/linux-headers-6.12.117+deb12-common/Makefile\n';
    expect(
      fixFlavourMakefile(debian, '6.12.117+deb12-amd64', '/c/root/usr/src/linux-headers-6.12.117+deb12-common'),
    ).toBe('include /c/root/usr/src/linux-headers-6.12.117+deb12-common/Makefile\n');
    // Already pointing somewhere (a moved cache): pointed again.
    const moved = 'include /old/root/usr/src/linux-headers-6.1.0-57-common/Makefile\n';
    expect(fixFlavourMakefile(moved, '6.1.0-57-amd64', '/new/common')).toBe('include /new/common/Makefile\n');
    expect(fixFlavourMakefile('other\n', '6.1.0-57-amd64', '/x')).toBe('other\n');
  });
});
