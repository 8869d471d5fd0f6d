// hostCannotCompare: what the live tests may skip, decided from the host's capabilities. Runs
// anywhere with stand-in capabilities; the live tests (live.test.ts) use the host's own.

import { describe, it, expect } from 'vitest';
import { loadScenario } from '../scenario/load.js';
import { hostCannotCompare, type HostCapabilities } from './capability.js';

const full: HostCapabilities = { root: true, ioUringDisabled: 0, gupTest: false };

const uring = loadScenario(`
processes: { app: { root: false } }
steps:
  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }
  - { op: io_uring_register_buffers, proc: app, region: buf, as: ring }
`);

describe('hostCannotCompare', () => {
  it('a host without the probe, or without root, can compare nothing', () => {
    expect(hostCannotCompare(uring, { ...full, probe: 'no C compiler found' })).toBe('no C compiler found');
    expect(hostCannotCompare(uring, { ...full, root: false })).toMatch(/^not root/);
  });

  it('io_uring steps need a host where io_uring_setup works, and unprivileged rings need io_uring_disabled 0', () => {
    const noRing = 'io_uring_setup(2) failed with EPERM on this host';
    expect(hostCannotCompare(uring, { ...full, ioUring: noRing })).toBe(noRing);
    expect(hostCannotCompare(uring, { ...full, ioUringDisabled: 1 })).toMatch(/io_uring_disabled is 1/);
    const plain = loadScenario('steps:\n  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }');
    expect(hostCannotCompare(plain, { ...full, ioUring: noRing })).not.toBe(noRing);
  });

  it('steps only a device or CONFIG_GUP_TEST could run make the scenario one this host cannot compare', () => {
    const gup = loadScenario(`
steps:
  - { op: mmap, proc: app, as: buf, size: 64KiB, type: anon }
  - { op: pin_user_pages, proc: app, region: buf, pages: 1, as: p }
`);
    expect(hostCannotCompare(gup, full)).toMatch(/^step 1 \(pin_user_pages\): needs CONFIG_GUP_TEST/);
  });
});
