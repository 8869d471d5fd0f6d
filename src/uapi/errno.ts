// Models include/uapi/asm-generic/errno-base.h and errno.h: the errno values the GUP paths return.
// Model functions return a count or a negative errno, as the kernel does.

export const EPERM = 1;
export const ESRCH = 3;
export const ENXIO = 6;
export const EBADF = 9;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const EAGAIN = 11;
export const EMLINK = 31;
export const ERANGE = 34;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;
export const EREMOTEIO = 121;
export const EHWPOISON = 133;

const NAMES: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ESRCH]: 'ESRCH',
  [ENXIO]: 'ENXIO',
  [EBADF]: 'EBADF',
  [ENOENT]: 'ENOENT',
  [EINTR]: 'EINTR',
  [EIO]: 'EIO',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [EINVAL]: 'EINVAL',
  [ENOSPC]: 'ENOSPC',
  [EAGAIN]: 'EAGAIN',
  [EMLINK]: 'EMLINK',
  [ERANGE]: 'ERANGE',
  [EOVERFLOW]: 'EOVERFLOW',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
  [EREMOTEIO]: 'EREMOTEIO',
  [EHWPOISON]: 'EHWPOISON',
};

/** Symbolic name of an errno (positive or negative), e.g. errnoName(-14) === 'EFAULT'. */
export function errnoName(err: number): string {
  return NAMES[Math.abs(err)] ?? `E${Math.abs(err)}`;
}

/** Errno value from its symbolic name, or undefined. */
export function errnoByName(name: string): number | undefined {
  for (const [k, v] of Object.entries(NAMES)) if (v === name) return Number(k);
  return undefined;
}

/** MAX_ERRNO: IS_ERR_VALUE() treats the top 4095 values of an unsigned long as errnos. */
export const MAX_ERRNO = 4095;
