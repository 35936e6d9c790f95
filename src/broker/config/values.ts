/**
 * The lexical layer of mosquitto.conf, reproducing the C parser's byte-level behaviour.
 *
 * Lines are handled as "binary strings" (one char per byte, latin1), so tokenising,
 * trimming and the UTF-8 check see exactly the bytes Mosquitto sees; a value becomes a
 * real (UTF-8 decoded) string only once it has been validated.
 */
import { Buffer } from 'node:buffer';
import { isMosquittoUtf8 } from '../../common/mosquitto-utf8.ts';

/** C `isspace()` in the C locale: space, \t, \n, \v, \f, \r. */
export function isCSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

/**
 * glibc `strtol(text, NULL, 10)`: leading white space, an optional sign, then digits;
 * anything after them is ignored and no digits give 0. Saturates at the 64-bit limits.
 */
export function strtol64(text: string): bigint {
  let i = 0;
  while (i < text.length && isCSpace(text.charCodeAt(i))) i++;
  let negative = false;
  const sign = text.charCodeAt(i);
  if (sign === 0x2b || sign === 0x2d) {
    negative = sign === 0x2d;
    i++;
  }
  const start = i;
  while (i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++;
  if (i === start) return 0n;
  const magnitude = BigInt(text.slice(start, i));
  if (negative) return magnitude > 2n ** 63n ? -(2n ** 63n) : -magnitude;
  return magnitude > 2n ** 63n - 1n ? 2n ** 63n - 1n : magnitude;
}

/**
 * glibc `atoi()`: `(int)strtol(text, NULL, 10)`. Garbage gives 0, trailing junk is ignored,
 * and out-of-range values wrap to 32 bits as the cast does (e.g. 4294967297 gives 1).
 */
export function atoi(text: string): number {
  return Number(BigInt.asIntN(32, strtol64(text)));
}

/** glibc `atol()` on a 64-bit system. */
export function atol(text: string): number {
  return Number(strtol64(text));
}

/**
 * glibc `strtol(text, &end, 0)`: leading white space, an optional sign, then a `0x`/`0X`
 * hexadecimal, `0` octal or decimal number. `end` is the index where the number stopped
 * (0 when there are no digits at all, as C leaves `end` at the start); `value` is exact
 * (not saturated), so callers compare it with the limits they need.
 */
export function strtolAuto(text: string): { readonly value: bigint; readonly end: number } {
  let i = 0;
  while (i < text.length && isCSpace(text.charCodeAt(i))) i++;
  let negative = false;
  const sign = text.charCodeAt(i);
  if (sign === 0x2b || sign === 0x2d) {
    negative = sign === 0x2d;
    i++;
  }
  let base = 10;
  if (text[i] === '0') {
    if ((text[i + 1] === 'x' || text[i + 1] === 'X') && isDigitIn(text.charCodeAt(i + 2), 16)) {
      base = 16;
      i += 2;
    } else {
      base = 8;
    }
  }
  const start = i;
  while (i < text.length && isDigitIn(text.charCodeAt(i), base)) i++;
  if (i === start) return { value: 0n, end: 0 };
  const digits = text.slice(start, i);
  const magnitude =
    base === 16 ? BigInt(`0x${digits}`) : base === 8 ? BigInt(`0o${digits}`) : BigInt(digits);
  return { value: negative ? -magnitude : magnitude, end: i };
}

function isDigitIn(code: number, base: number): boolean {
  if (code >= 0x30 && code <= 0x39) return code - 0x30 < base;
  if (base !== 16) return false;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66;
}

/** Strips C white space from both ends (Mosquitto's `misc__trimblanks`). */
export function trimBlanks(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isCSpace(text.charCodeAt(start))) start++;
  while (end > start && isCSpace(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

/** A binary string (one char per byte) decoded as UTF-8. */
export function decodeBytes(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/**
 * Mosquitto's UTF-8 validator (`mosquitto_validate_utf8`) on a binary string: rejects
 * malformed and overlong sequences, surrogates, non-characters, NUL and every C0/C1
 * control character (so a tab inside a value is an error).
 */
export function isValidMosquittoUtf8(bytes: string): boolean {
  return isMosquittoUtf8(Buffer.from(bytes, 'latin1'));
}

/** The levels limit Mosquitto applies to topics (more '/' than this is invalid). */
const TOPIC_SEPARATOR_LIMIT = 200;

/** `mosquitto_pub_topic_check` (broker build): no wildcards, 1-65535 bytes, <= 200 '/'. */
export function isValidPublishTopic(topic: string): boolean {
  let separators = 0;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 0x2b || c === 0x23) return false;
    if (c === 0x2f) separators++;
  }
  return topic.length > 0 && topic.length <= 65535 && separators <= TOPIC_SEPARATOR_LIMIT;
}

/** `mosquitto_sub_topic_check`: '+' a whole level, '#' the whole last level. */
export function isValidSubscribeTopic(filter: string): boolean {
  let separators = 0;
  let previous = 0;
  for (let i = 0; i < filter.length; i++) {
    const c = filter.charCodeAt(i);
    const atLevelStart = previous === 0 || previous === 0x2f;
    const next = i + 1 < filter.length ? filter.charCodeAt(i + 1) : 0;
    if (c === 0x2b) {
      if (!atLevelStart || (next !== 0 && next !== 0x2f)) return false;
    } else if (c === 0x23) {
      if (!atLevelStart || next !== 0) return false;
    } else if (c === 0x2f) {
      separators++;
    }
    previous = c;
  }
  return filter.length > 0 && filter.length <= 65535 && separators <= TOPIC_SEPARATOR_LIMIT;
}

/**
 * One configuration line, consumed the way Mosquitto's `strtok_r` calls consume it: the
 * option name ends at the first space (not tab), `nextToken()` skips spaces and stops at
 * the next one, `rest()` takes everything after the delimiter that ended the last token.
 */
export class LineCursor {
  readonly #line: string;
  #position = 0;

  constructor(line: string) {
    this.#line = line;
  }

  /** `strtok_r(…, " ", …)`: the next space-delimited token, or null at the end. */
  nextToken(): string | null {
    const line = this.#line;
    let start = this.#position;
    while (start < line.length && line.charCodeAt(start) === 0x20) start++;
    if (start >= line.length) {
      this.#position = line.length;
      return null;
    }
    const space = line.indexOf(' ', start);
    if (space === -1) {
      this.#position = line.length;
      return line.slice(start);
    }
    this.#position = space + 1;
    return line.slice(start, space);
  }

  /** `strtok_r(NULL, "", …)`: the raw remainder (not trimmed), or null when empty. */
  rest(): string | null {
    if (this.#position >= this.#line.length) return null;
    const rest = this.#line.slice(this.#position);
    this.#position = this.#line.length;
    return rest;
  }

  /** The remainder after skipping spaces and tabs; '' when nothing is left. */
  restAfterBlanks(): string {
    const line = this.#line;
    let start = this.#position;
    while (start < line.length && (line[start] === ' ' || line[start] === '\t')) start++;
    this.#position = line.length;
    return line.slice(start);
  }
}
