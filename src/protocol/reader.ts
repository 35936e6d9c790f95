/**
 * A bounds-checked cursor over the bytes of one packet body. The decoder owns a single
 * reader and resets it for every packet, so reading allocates nothing beyond the values
 * it returns. Every read checks the bytes left before touching the Buffer: a field that
 * runs past the end of the packet (or of a property block, see `end`) is a malformed
 * packet, never a RangeError.
 */
import { Buffer } from 'node:buffer';
import { ReasonCode, TOPIC_HIERARCHY_LIMIT } from './constants.ts';
import { MqttError } from './errors.ts';
import { checkMqttUtf8, sliceString, Utf8Problem } from './primitives.ts';
import { cachedTopicName, rememberTopicName, TOPIC_CACHE_MAX_BYTES } from './topic-name-cache.ts';

const NO_BYTES = Buffer.alloc(0);
/** Printable ASCII (0x20-0x7E): needs no further UTF-8 check. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
/** Printable ASCII without `#` (0x23) and `+` (0x2B). */
const PRINTABLE_TOPIC_NAME = /^[\x20-\x22\x24-\x2a\x2c-\x7e]*$/;

export class PacketReader {
  buf: Buffer = NO_BYTES;
  pos = 0;
  /** Exclusive end of what may be read; narrowed to a property block while reading it. */
  end = 0;
  /**
   * Reason code for a field that is missing or not valid UTF-8. Mosquitto reports most
   * of these as malformed packets, but CONNECT's own fields as protocol errors.
   */
  failCode: number = ReasonCode.MalformedPacket;
  /** Set by topicName(): false for a wildcard or more than 200 separators. */
  topicNameValid = true;

  reset(buf: Buffer, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.failCode = ReasonCode.MalformedPacket;
  }

  /** Drops the reference to the packet bytes, so a consumed chunk can be collected. */
  release(): void {
    this.buf = NO_BYTES;
    this.pos = 0;
    this.end = 0;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private truncated(what: string): never {
    throw new MqttError(this.failCode, `${what} runs past the end of the packet`, 'MQTT-1.5');
  }

  byte(what: string): number {
    if (this.pos >= this.end) this.truncated(what);
    return this.buf[this.pos++] as number;
  }

  u16(what: string): number {
    const pos = this.pos;
    if (pos + 2 > this.end) this.truncated(what);
    this.pos = pos + 2;
    return ((this.buf[pos] as number) << 8) | (this.buf[pos + 1] as number);
  }

  u32(what: string): number {
    const pos = this.pos;
    if (pos + 4 > this.end) this.truncated(what);
    this.pos = pos + 4;
    return this.buf.readUInt32BE(pos);
  }

  /**
   * A Variable Byte Integer inside the packet (property length, Subscription Identifier).
   * At most four bytes, and, as Mosquitto checks, no overlong form (a last byte of 0).
   */
  varint(what: string): number {
    const buf = this.buf;
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) this.truncated(what);
      const b = buf[this.pos++] as number;
      value += (b & 0x7f) * multiplier;
      if (b < 0x80) {
        if (i > 0 && b === 0) {
          throw new MqttError(
            ReasonCode.MalformedPacket,
            `${what} uses more bytes than needed`,
            'MQTT-1.5.5-1',
          );
        }
        return value;
      }
      multiplier *= 128;
    }
    throw new MqttError(ReasonCode.MalformedPacket, `${what} is longer than 4 bytes`, 'MQTT-1.5.5');
  }

  /** A UTF-8 Encoded String, validated with Mosquitto's rules. */
  string(what: string): string {
    const len = this.u16(what);
    const start = this.pos;
    const end = start + len;
    if (end > this.end) this.truncated(what);
    this.pos = end;
    // Decode as latin1 and let a regular expression vouch for printable ASCII: cheaper
    // than a byte loop; anything else takes the full UTF-8 check.
    const latin1 = sliceString(this.buf, start, end, true);
    if (PRINTABLE_ASCII.test(latin1)) return latin1;
    return this.checkedUtf8(what, start, end);
  }

  private checkedUtf8(what: string, start: number, end: number): string {
    const problem = checkMqttUtf8(this.buf, start, end);
    if (problem !== Utf8Problem.None) this.badUtf8(what, problem);
    return sliceString(this.buf, start, end, false);
  }

  /**
   * The topic name of a PUBLISH, like string(), also checked for wildcards and depth.
   * The verdict goes to `topicNameValid` rather than throwing, because Mosquitto checks
   * the packet identifier and properties first. (`+`, `#` and `/` are ASCII, so they
   * never occur inside a multi-byte sequence and can be looked for byte by byte.)
   */
  topicName(): string {
    const len = this.u16('topic name');
    const start = this.pos;
    const end = start + len;
    if (end > this.end) this.truncated('topic name');
    this.pos = end;
    const buf = this.buf;
    const cacheable = len !== 0 && len <= TOPIC_CACHE_MAX_BYTES;
    if (cacheable) {
      const cached = cachedTopicName(buf, start, len);
      if (cached !== undefined) {
        this.topicNameValid = true;
        return cached;
      }
    }
    let topic = sliceString(buf, start, end, true);
    let valid: boolean;
    if (PRINTABLE_TOPIC_NAME.test(topic)) {
      // Only a long topic can have more than TOPIC_HIERARCHY_LIMIT separators.
      valid = len <= TOPIC_HIERARCHY_LIMIT || this.separatorsFit(start, end);
    } else {
      topic = this.checkedUtf8('topic name', start, end);
      valid = !this.hasWildcard(start, end) && this.separatorsFit(start, end);
    }
    this.topicNameValid = valid;
    if (valid && cacheable) rememberTopicName(buf, start, len, topic);
    return topic;
  }

  private hasWildcard(start: number, end: number): boolean {
    for (let i = start; i < end; i++) {
      const b = this.buf[i];
      if (b === 0x2b || b === 0x23) return true;
    }
    return false;
  }

  private separatorsFit(start: number, end: number): boolean {
    let separators = 0;
    for (let i = start; i < end; i++) if (this.buf[i] === 0x2f) separators++;
    return separators <= TOPIC_HIERARCHY_LIMIT;
  }

  badUtf8(what: string, problem: Utf8Problem): never {
    switch (problem) {
      case Utf8Problem.Null:
        throw new MqttError(this.failCode, `${what} contains U+0000`, 'MQTT-1.5.4-2');
      case Utf8Problem.Disallowed:
        throw new MqttError(
          this.failCode,
          `${what} contains a control character or non-character`,
          'MQTT-1.5.4',
        );
      default:
        throw new MqttError(this.failCode, `${what} is not well-formed UTF-8`, 'MQTT-1.5.4-1');
    }
  }

  /** Binary Data: a view of the received bytes (no copy). */
  binary(what: string): Buffer {
    const len = this.u16(what);
    const start = this.pos;
    if (start + len > this.end) this.truncated(what);
    this.pos = start + len;
    return this.view(start, len);
  }

  /** Everything left (the PUBLISH payload): a view of the received bytes. */
  rest(): Buffer {
    const start = this.pos;
    this.pos = this.end;
    return this.view(start, this.end - start);
  }

  /** A Buffer over bytes of the packet; cheaper than subarray (no species lookup). */
  private view(start: number, length: number): Buffer {
    return viewOf(this.buf, start, length);
  }
}

/** A Buffer over `buf[start..start + length)`; cheaper than subarray (no species lookup). */
export function viewOf(buf: Buffer, start: number, length: number): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + start, length);
}
