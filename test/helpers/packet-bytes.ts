/**
 * MQTT packets built by hand, byte by byte, for byte-exact conversations with a broker.
 *
 * Deliberately independent of our codec (src/protocol): these bytes are the yardstick the
 * broker is measured with, so they must not share its bugs. Builders accept overrides
 * (protocol name/level, flags, raw property bytes, trailing bytes) so that malformed
 * packets can be written as easily as good ones.
 */
import { Buffer } from 'node:buffer';

/** '20 02 00 01' (any whitespace, any case) to bytes. */
export function hex(text: string): Buffer {
  const digits = text.replace(/\s+/g, '');
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex bytes: ${text}`);
  return Buffer.from(digits, 'hex');
}

/** Bytes to '20 02 00 01' (lower case, single spaces): the form tables and transcripts use. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** Variable byte integer (1 to 4 bytes). Values above 268435455 throw. */
export function varint(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 268_435_455) {
    throw new Error(`varint out of range: ${value}`);
  }
  const out: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0);
  return Buffer.from(out);
}

export function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

/** Length-prefixed binary data; strings are UTF-8 encoded without any validation. */
export function lengthPrefixed(data: string | Buffer): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return Buffer.concat([u16(bytes.length), bytes]);
}

/** Fixed header (first byte + remaining length) followed by the body. */
export function frame(firstByte: number, ...body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  return Buffer.concat([Buffer.from([firstByte]), varint(payload.length), payload]);
}

// ---------------------------------------------------------------------------------------------
// MQTT 5 properties

/** The wire type of each property identifier (MQTT 5 §2.2.2.2). */
const propertyTypes: Readonly<
  Record<number, 'byte' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair'>
> = {
  0x01: 'byte', // payload format indicator
  0x02: 'u32', // message expiry interval
  0x03: 'string', // content type
  0x08: 'string', // response topic
  0x09: 'binary', // correlation data
  0x0b: 'varint', // subscription identifier
  0x11: 'u32', // session expiry interval
  0x12: 'string', // assigned client identifier
  0x13: 'u16', // server keep alive
  0x15: 'string', // authentication method
  0x16: 'binary', // authentication data
  0x17: 'byte', // request problem information
  0x18: 'u32', // will delay interval
  0x19: 'byte', // request response information
  0x1a: 'string', // response information
  0x1c: 'string', // server reference
  0x1f: 'string', // reason string
  0x21: 'u16', // receive maximum
  0x22: 'u16', // topic alias maximum
  0x23: 'u16', // topic alias
  0x24: 'byte', // maximum QoS
  0x25: 'byte', // retain available
  0x26: 'pair', // user property
  0x27: 'u32', // maximum packet size
  0x28: 'byte', // wildcard subscription available
  0x29: 'byte', // subscription identifiers available
  0x2a: 'byte', // shared subscription available
};

/** One property as written on the wire; `raw` writes its bytes verbatim (for malformed input). */
export type WireProperty =
  | { readonly id: number; readonly value: number | string | Buffer }
  | { readonly id: 0x26; readonly value: readonly [string, string] }
  | { readonly raw: Buffer };

function encodeProperty(property: WireProperty): Buffer {
  if ('raw' in property) return property.raw;
  const { id, value } = property;
  const type = propertyTypes[id];
  if (type === undefined) throw new Error(`unknown property id 0x${id.toString(16)}`);
  const head = varint(id);
  if (type === 'pair') {
    if (!Array.isArray(value)) throw new Error('user property needs [key, value]');
    const [key, val] = value as readonly [string, string];
    return Buffer.concat([head, lengthPrefixed(key), lengthPrefixed(val)]);
  }
  if (type === 'string' || type === 'binary') {
    if (typeof value !== 'string' && !Buffer.isBuffer(value)) {
      throw new Error(`property 0x${id.toString(16)} needs a string or Buffer`);
    }
    return Buffer.concat([head, lengthPrefixed(value)]);
  }
  if (typeof value !== 'number') throw new Error(`property 0x${id.toString(16)} needs a number`);
  switch (type) {
    case 'byte':
      return Buffer.concat([head, Buffer.from([value])]);
    case 'u16':
      return Buffer.concat([head, u16(value)]);
    case 'u32':
      return Buffer.concat([head, u32(value)]);
    case 'varint':
      return Buffer.concat([head, varint(value)]);
  }
}

/** The property block: its varint length followed by the properties. */
export function properties(list: readonly WireProperty[] = []): Buffer {
  const body = Buffer.concat(list.map(encodeProperty));
  return Buffer.concat([varint(body.length), body]);
}

// ---------------------------------------------------------------------------------------------
// Packets

export type WireVersion = 3 | 4 | 5;

export interface WillOptions {
  readonly topic: string;
  readonly payload?: string | Buffer;
  readonly qos?: number;
  readonly retain?: boolean;
  readonly properties?: readonly WireProperty[];
}

export interface ConnectOptions {
  /** Protocol level: 3 (MQTT 3.1), 4 (3.1.1, the default) or 5. */
  readonly version?: WireVersion;
  readonly clientId?: string;
  /** Defaults from the version: 'MQIsdp' for 3, 'MQTT' otherwise. */
  readonly protocolName?: string;
  /** The level byte on the wire; defaults to `version`. */
  readonly protocolLevel?: number;
  readonly cleanStart?: boolean;
  readonly keepAlive?: number;
  readonly will?: WillOptions;
  readonly username?: string;
  readonly password?: string | Buffer;
  /** CONNECT properties (v5 only; not written for levels 3 and 4). */
  readonly properties?: readonly WireProperty[];
  /** Replaces the computed connect-flags byte. */
  readonly flags?: number;
  /** Replaces the first byte (0x10). */
  readonly firstByte?: number;
  /** Bytes appended after the payload (surplus data). */
  readonly trailing?: Buffer;
}

export function connect(options: ConnectOptions = {}): Buffer {
  const version = options.version ?? 4;
  const v5 = version === 5;
  const will = options.will;
  let flags = 0;
  if (options.cleanStart ?? true) flags |= 0x02;
  if (will !== undefined)
    flags |= 0x04 | ((will.qos ?? 0) << 3) | (will.retain === true ? 0x20 : 0);
  if (options.password !== undefined) flags |= 0x40;
  if (options.username !== undefined) flags |= 0x80;
  const variableHeader = Buffer.concat([
    lengthPrefixed(options.protocolName ?? (version === 3 ? 'MQIsdp' : 'MQTT')),
    Buffer.from([options.protocolLevel ?? version, options.flags ?? flags]),
    u16(options.keepAlive ?? 60),
    v5 ? properties(options.properties) : Buffer.alloc(0),
  ]);
  const payload: Buffer[] = [lengthPrefixed(options.clientId ?? 'raw-client')];
  if (will !== undefined) {
    if (v5) payload.push(properties(will.properties));
    payload.push(lengthPrefixed(will.topic), lengthPrefixed(will.payload ?? ''));
  }
  if (options.username !== undefined) payload.push(lengthPrefixed(options.username));
  if (options.password !== undefined) payload.push(lengthPrefixed(options.password));
  if (options.trailing !== undefined) payload.push(options.trailing);
  return frame(options.firstByte ?? 0x10, variableHeader, ...payload);
}

export interface PublishOptions {
  readonly topic: string | Buffer;
  readonly payload?: string | Buffer;
  readonly qos?: number;
  readonly retain?: boolean;
  readonly dup?: boolean;
  /** Required for QoS 1/2 (defaults to 1 there). */
  readonly packetId?: number;
  readonly version?: WireVersion;
  readonly properties?: readonly WireProperty[];
}

export function publish(options: PublishOptions): Buffer {
  const qos = options.qos ?? 0;
  const firstByte =
    0x30 | (options.dup === true ? 0x08 : 0) | (qos << 1) | (options.retain === true ? 1 : 0);
  const parts: Buffer[] = [lengthPrefixed(options.topic)];
  if (qos > 0 || options.packetId !== undefined) parts.push(u16(options.packetId ?? 1));
  if (options.version === 5) parts.push(properties(options.properties));
  const payload = options.payload ?? '';
  parts.push(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload);
  return frame(firstByte, ...parts);
}

/** PUBACK / PUBREC / PUBREL / PUBCOMP. Reason and properties only when given (v5 forms). */
function ack(
  firstByte: number,
  packetId: number,
  reason?: number,
  props?: readonly WireProperty[],
): Buffer {
  const parts = [u16(packetId)];
  if (reason !== undefined) parts.push(Buffer.from([reason]));
  if (props !== undefined) parts.push(properties(props));
  return frame(firstByte, ...parts);
}

export const puback = (id: number, reason?: number, props?: readonly WireProperty[]): Buffer =>
  ack(0x40, id, reason, props);
export const pubrec = (id: number, reason?: number, props?: readonly WireProperty[]): Buffer =>
  ack(0x50, id, reason, props);
export const pubrel = (id: number, reason?: number, props?: readonly WireProperty[]): Buffer =>
  ack(0x62, id, reason, props);
export const pubcomp = (id: number, reason?: number, props?: readonly WireProperty[]): Buffer =>
  ack(0x70, id, reason, props);

export interface SubscriptionRequest {
  readonly filter: string | Buffer;
  /** The options byte: QoS in bits 0-1; v5 adds no-local 0x04, RAP 0x08, retain handling << 4. */
  readonly options?: number;
}

export interface SubscribeOptions {
  readonly packetId?: number;
  readonly subscriptions: readonly (SubscriptionRequest | string)[];
  readonly version?: WireVersion;
  readonly properties?: readonly WireProperty[];
  /** Replaces the first byte (0x82). */
  readonly firstByte?: number;
}

export function subscribe(options: SubscribeOptions): Buffer {
  const parts: Buffer[] = [u16(options.packetId ?? 1)];
  if (options.version === 5) parts.push(properties(options.properties));
  for (const entry of options.subscriptions) {
    const request = typeof entry === 'string' ? { filter: entry } : entry;
    parts.push(lengthPrefixed(request.filter), Buffer.from([request.options ?? 0]));
  }
  return frame(options.firstByte ?? 0x82, ...parts);
}

export interface UnsubscribeOptions {
  readonly packetId?: number;
  readonly filters: readonly (string | Buffer)[];
  readonly version?: WireVersion;
  readonly properties?: readonly WireProperty[];
}

export function unsubscribe(options: UnsubscribeOptions): Buffer {
  const parts: Buffer[] = [u16(options.packetId ?? 1)];
  if (options.version === 5) parts.push(properties(options.properties));
  for (const filter of options.filters) parts.push(lengthPrefixed(filter));
  return frame(0xa2, ...parts);
}

export const pingreq = (): Buffer => hex('c0 00');

/** DISCONNECT; with a reason code (v5) the reason byte and a property block follow. */
export function disconnect(reason?: number, props: readonly WireProperty[] = []): Buffer {
  if (reason === undefined) return hex('e0 00');
  return frame(0xe0, Buffer.from([reason]), properties(props));
}
