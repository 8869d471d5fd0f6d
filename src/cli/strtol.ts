// C library number parsing as the gup_test selftest uses it (glibc, LP64): strtol(s, NULL, base) and
// atoi(s) == (int) strtol(s, NULL, 10). Values are BigInt so the C conversions (long -> __u32,
// int -> unsigned long) can be applied exactly with BigInt.asUintN / asIntN.

const LONG_MAX = (1n << 63n) - 1n;
const LONG_MIN = -(1n << 63n);

/** isspace() in the C locale. */
function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

function digitValue(c: string | undefined): number {
  if (c === undefined) return 99;
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

/**
 * strtol(s, &end, base): leading white space, an optional sign, base 0 = auto (0x → 16, 0 → 8,
 * else 10); stops at the first invalid character; clamps to LONG_MIN/LONG_MAX on overflow (ERANGE).
 * Returns the value and how many characters were used (0 when no digits: the value is then 0).
 */
export function strtol(s: string, base = 10): { value: bigint; end: number; erange: boolean } {
  let i = 0;
  while (isSpace(s[i])) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') {
    neg = s[i] === '-';
    i++;
  }
  if (
    (base === 0 || base === 16) &&
    s[i] === '0' &&
    (s[i + 1] === 'x' || s[i + 1] === 'X') &&
    digitValue(s[i + 2]) < 16
  ) {
    i += 2;
    base = 16;
  } else if (base === 0) {
    base = s[i] === '0' ? 8 : 10;
  }
  const start = i;
  let v = 0n;
  const b = BigInt(base);
  while (digitValue(s[i]) < base) {
    v = v * b + BigInt(digitValue(s[i]));
    i++;
  }
  if (i === start) return { value: 0n, end: 0, erange: false };
  if (neg) v = -v;
  if (v > LONG_MAX) return { value: LONG_MAX, end: i, erange: true };
  if (v < LONG_MIN) return { value: LONG_MIN, end: i, erange: true };
  return { value: v, end: i, erange: false };
}

/** atoi(s): glibc's (int) strtol(s, NULL, 10), i.e. the low 32 bits as a signed int. */
export function atoi(s: string): number {
  return Number(BigInt.asIntN(32, strtol(s, 10).value));
}
