/**
 * Wire primitives of MQTT (spec §1.5): Variable Byte Integers, big-endian integers,
 * UTF-8 Encoded Strings and Binary Data, plus the strict UTF-8 check Mosquitto applies
 * to every string it reads (mosquitto_validate_utf8).
 *
 * Strings in MQTT are validated more strictly than Unicode requires: besides ill-formed
 * sequences (overlong forms, surrogates, code points above U+10FFFF), Mosquitto refuses
 * U+0000, the C0 and C1 control characters (U+0001-U+001F, U+007F-U+009F) and the
 * non-characters U+FDD0-U+FDEF and U+xFFFE/U+xFFFF. A topic containing a TAB is
 * therefore a malformed packet.
 */
import { Buffer } from 'node:buffer';
import { MAX_VARIABLE_BYTE_INTEGER } from './constants.ts';

/**
 * Buffer's per-encoding methods (defined on Buffer.prototype since Node 0.x and used by
 * toString/write themselves, but missing from @types/node). Calling them directly skips
 * the encoding-name dispatch, which matters for short topics on the hot path.
 */
interface BufferFastPaths {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  latin1Write(value: string, offset: number, length: number): number;
  utf8Write(value: string, offset: number, length: number): number;
}

/** Largest length a UTF-8 string or binary field can have (a two-byte length prefix). */
export const MAX_STRING_BYTES = 65_535;

/** Number of bytes the Variable Byte Integer encoding of `value` takes (1-4). */
export function varintLength(value: number): number {
  if (value < 128) return 1;
  if (value < 16_384) return 2;
  if (value < 2_097_152) return 3;
  return 4;
}

/**
 * Writes `value` as a Variable Byte Integer at `offset` and returns the offset after it.
 * The caller guarantees 0 <= value <= 268,435,455 and room in `buf`.
 */
export function writeVarint(buf: Buffer, offset: number, value: number): number {
  let pos = offset;
  let rest = value;
  while (rest >= 128) {
    buf[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buf[pos++] = rest;
  return pos;
}

/** Throws a RangeError unless `value` fits a Variable Byte Integer (programmer error). */
export function assertVarint(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_VARIABLE_BYTE_INTEGER) {
    throw new RangeError(`${what} ${value} is not a Variable Byte Integer (0..268435455)`);
  }
}

/** Encodes a Variable Byte Integer into a new Buffer (tests and tools; not the hot path). */
export function encodeVarint(value: number): Buffer {
  assertVarint(value, 'value');
  const buf = Buffer.allocUnsafe(varintLength(value));
  writeVarint(buf, 0, value);
  return buf;
}

/** Why a byte sequence is not an acceptable MQTT string; Utf8Problem.None when it is. */
export const Utf8Problem = {
  None: 0,
  /** Truncated or overlong sequence, surrogate, > U+10FFFF: [MQTT-1.5.4-1]. */
  IllFormed: 1,
  /** U+0000: [MQTT-1.5.4-2]. */
  Null: 2,
  /** Control character or non-character: refused by Mosquitto (§1.5.4 allows it). */
  Disallowed: 3,
} as const;
export type Utf8Problem = (typeof Utf8Problem)[keyof typeof Utf8Problem];

/**
 * Checks bytes [start, end) of `buf` with Mosquitto's rules. Returns the first problem
 * found. All reads stay inside [start, end).
 */
export function checkMqttUtf8(buf: Buffer, start: number, end: number): Utf8Problem {
  let i = start;
  while (i < end) {
    const b0 = buf[i] as number;
    if (b0 >= 0x20 && b0 < 0x7f) {
      i++;
      continue;
    }
    if (b0 < 0x80) return b0 === 0 ? Utf8Problem.Null : Utf8Problem.Disallowed;
    let need: number;
    let cp: number;
    if ((b0 & 0xe0) === 0xc0) {
      // C0 and C1 would only produce overlong two-byte forms.
      if (b0 < 0xc2) return Utf8Problem.IllFormed;
      need = 1;
      cp = b0 & 0x1f;
    } else if ((b0 & 0xf0) === 0xe0) {
      need = 2;
      cp = b0 & 0x0f;
    } else if ((b0 & 0xf8) === 0xf0) {
      if (b0 > 0xf4) return Utf8Problem.IllFormed;
      need = 3;
      cp = b0 & 0x07;
    } else {
      return Utf8Problem.IllFormed; // stray continuation byte or 0xF8-0xFF
    }
    if (i + need >= end) return Utf8Problem.IllFormed; // truncated sequence
    for (let k = 1; k <= need; k++) {
      const b = buf[i + k] as number;
      if ((b & 0xc0) !== 0x80) return Utf8Problem.IllFormed;
      cp = (cp << 6) | (b & 0x3f);
    }
    i += need + 1;
    if (need === 2 && cp < 0x800) return Utf8Problem.IllFormed;
    if (need === 3 && (cp < 0x10000 || cp > 0x10ffff)) return Utf8Problem.IllFormed;
    if (cp >= 0xd800 && cp <= 0xdfff) return Utf8Problem.IllFormed;
    if (cp >= 0xfdd0 && cp <= 0xfdef) return Utf8Problem.Disallowed;
    if ((cp & 0xfffe) === 0xfffe) return Utf8Problem.Disallowed;
    if (cp <= 0x9f) return Utf8Problem.Disallowed; // C1 controls U+0080-U+009F
  }
  return Utf8Problem.None;
}

/**
 * Checks a JavaScript string with the same rules as checkMqttUtf8 (lone surrogates count
 * as ill-formed). Used to validate strings before they are sent, e.g. command-line topics.
 */
export function checkMqttString(value: string): Utf8Problem {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) continue;
    if (c === 0) return Utf8Problem.Null;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return Utf8Problem.Disallowed;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < n ? value.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) return Utf8Problem.IllFormed;
      const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      if ((cp & 0xfffe) === 0xfffe) return Utf8Problem.Disallowed;
      i++;
      continue;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return Utf8Problem.IllFormed;
    if ((c >= 0xfdd0 && c <= 0xfdef) || c >= 0xfffe) return Utf8Problem.Disallowed;
  }
  return Utf8Problem.None;
}

/**
 * Decodes bytes [start, end) as UTF-8, or as latin1 when `ascii` is true (the same string
 * for ASCII bytes, from a cheaper decoder). Validation is the caller's business.
 */
export function sliceString(buf: Buffer, start: number, end: number, ascii: boolean): string {
  return ascii
    ? (buf as unknown as BufferFastPaths).latin1Slice(start, end)
    : (buf as unknown as BufferFastPaths).utf8Slice(start, end);
}

/**
 * Writes a UTF-8 string of known byte length with its two-byte length prefix at `offset`
 * and returns the offset after it.
 */
export function writeString(
  buf: Buffer,
  offset: number,
  value: string,
  byteLength: number,
): number {
  buf[offset] = byteLength >>> 8;
  buf[offset + 1] = byteLength & 0xff;
  if (byteLength === value.length) {
    // Pure ASCII: latin1 writes the same bytes, without the UTF-8 encoder.
    (buf as unknown as BufferFastPaths).latin1Write(value, offset + 2, byteLength);
  } else {
    (buf as unknown as BufferFastPaths).utf8Write(value, offset + 2, byteLength);
  }
  return offset + 2 + byteLength;
}

/** Writes Binary Data (two-byte length prefix, then the bytes); returns the offset after. */
export function writeBinary(buf: Buffer, offset: number, value: Uint8Array): number {
  const n = value.length;
  buf[offset] = n >>> 8;
  buf[offset + 1] = n & 0xff;
  buf.set(value, offset + 2);
  return offset + 2 + n;
}

/** Writes a big-endian 16-bit integer; returns the offset after it. */
export function writeU16(buf: Buffer, offset: number, value: number): number {
  buf[offset] = value >>> 8;
  buf[offset + 1] = value & 0xff;
  return offset + 2;
}

/** Writes a big-endian 32-bit integer; returns the offset after it. */
export function writeU32(buf: Buffer, offset: number, value: number): number {
  buf[offset] = value >>> 24;
  buf[offset + 1] = (value >>> 16) & 0xff;
  buf[offset + 2] = (value >>> 8) & 0xff;
  buf[offset + 3] = value & 0xff;
  return offset + 4;
}

/** The byte length of a string field, checked against the 65535-byte limit. */
export function stringFieldLength(value: string, what: string): number {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string`);
  const n = Buffer.byteLength(value, 'utf8');
  if (n > MAX_STRING_BYTES) throw new RangeError(`${what} is ${n} bytes; MQTT allows 65535`);
  return n;
}

/** The length of a binary field, checked against the 65535-byte limit. */
export function binaryFieldLength(value: Uint8Array, what: string): number {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Buffer`);
  if (value.length > MAX_STRING_BYTES) {
    throw new RangeError(`${what} is ${value.length} bytes; MQTT allows 65535`);
  }
  return value.length;
}

/** Throws a RangeError unless `value` is an integer in [0, max] (programmer error). */
export function assertUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} ${value} is out of range 0..${max}`);
  }
}
