/**
 * The C library's number parsing, as Mosquitto's tools use it on their arguments: atoi,
 * atol, strtol(base 0) and atof. Their leniency is part of the interface users see
 * (`-q 1x` is QoS 1, `-k abc` is keepalive 0 and then refused), so we reproduce it:
 * leading white space, an optional sign, the longest numeric prefix, overflow clamped to
 * the 64-bit long range (glibc), and atoi's truncation of that to a 32-bit int.
 */

const LONG_MAX = 9_223_372_036_854_775_807n;
const LONG_MIN = -9_223_372_036_854_775_808n;

const SPACE = /^[ \t\n\v\f\r]*/;

interface StrtolResult {
  /** The value, clamped to the range of a 64-bit long. */
  readonly value: bigint;
  /** Index of the first character not consumed (0 when no digits were found). */
  readonly end: number;
}

/** strtol(text, &end, base) with base 10, 16 or 0 (auto: 0x.., 0.., decimal). */
export function strtol(text: string, base: 0 | 10 | 16 = 10): StrtolResult {
  let i = SPACE.exec(text)?.[0].length ?? 0;
  let negative = false;
  if (text[i] === '+' || text[i] === '-') {
    negative = text[i] === '-';
    i++;
  }
  let radix: number = base;
  if (
    (base === 0 || base === 16) &&
    text[i] === '0' &&
    (text[i + 1] === 'x' || text[i + 1] === 'X')
  ) {
    // "0x" counts as a prefix only when a hex digit follows; otherwise the "0" is the number.
    if (/[0-9a-fA-F]/.test(text[i + 2] ?? '')) {
      i += 2;
      radix = 16;
    } else {
      return { value: 0n, end: i + 1 };
    }
  } else if (base === 0) {
    radix = text[i] === '0' ? 8 : 10;
  }
  const digits = radix === 16 ? /^[0-9a-fA-F]+/ : radix === 8 ? /^[0-7]+/ : /^[0-9]+/;
  const match = digits.exec(text.slice(i));
  if (match === null) return { value: 0n, end: 0 };
  let value = 0n;
  const big = BigInt(radix);
  for (const ch of match[0]) {
    value = value * big + BigInt(parseInt(ch, radix));
    if (value > LONG_MAX + 1n) break;
  }
  if (negative) value = -value;
  if (value > LONG_MAX) value = LONG_MAX;
  if (value < LONG_MIN) value = LONG_MIN;
  return { value, end: i + match[0].length };
}

/** atol(): strtol base 10, 0 when there is no number. */
export function atol(text: string): number {
  return Number(strtol(text).value);
}

/** atoi(): atol truncated to a 32-bit int, as glibc does. */
export function atoi(text: string): number {
  return Number(BigInt.asIntN(32, strtol(text).value));
}

/** atof(): the longest prefix that strtod accepts (decimal, hex float, inf, nan), else 0. */
export function atof(text: string): number {
  const rest = text.slice(SPACE.exec(text)?.[0].length ?? 0);
  const special = /^([+-]?)(inf(inity)?|nan)/i.exec(rest);
  if (special !== null) {
    const sign = special[1] === '-' ? -1 : 1;
    return special[2]?.toLowerCase().startsWith('nan') === true ? NaN : sign * Infinity;
  }
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?/.exec(rest);
  if (hex !== null && ((hex[2] ?? '') !== '' || (hex[3] ?? '') !== '')) {
    const whole = hex[2] ?? '';
    const fraction = hex[3] ?? '';
    let value = whole === '' ? 0 : parseInt(whole, 16);
    for (let k = 0; k < fraction.length; k++)
      value += parseInt(fraction[k] ?? '0', 16) / 16 ** (k + 1);
    value *= 2 ** Number(hex[4] ?? '0');
    return hex[1] === '-' ? -value : value;
  }
  const decimal = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(rest);
  return decimal === null ? 0 : Number(decimal[0]);
}
