/**
 * The MQTT 5 property lists stored in MSG_STORE and CLIENT_MSG chunks, read the way
 * Mosquitto reads them back: property__read_all(CMD_PUBLISH, ...) followed by
 * mosquitto_property_check_all(). A list Mosquitto would refuse makes it refuse the whole
 * file, so the codec refuses it too, and mosquitto_db_dump prints from the same parse.
 *
 * This lives in `common` (the codec cannot import `protocol`); src/protocol/properties.ts
 * decodes packets into typed objects, this keeps the raw values db_dump prints.
 */
import type { Buffer } from 'node:buffer';
import { isMosquittoUtf8 } from '../mosquitto-utf8.ts';

export const DbPropertyId = {
  PayloadFormatIndicator: 1,
  MessageExpiryInterval: 2,
  ContentType: 3,
  ResponseTopic: 8,
  CorrelationData: 9,
  SubscriptionIdentifier: 11,
  SessionExpiryInterval: 17,
  AssignedClientIdentifier: 18,
  ServerKeepAlive: 19,
  AuthenticationMethod: 21,
  AuthenticationData: 22,
  RequestProblemInformation: 23,
  WillDelayInterval: 24,
  RequestResponseInformation: 25,
  ResponseInformation: 26,
  ServerReference: 28,
  ReasonString: 31,
  ReceiveMaximum: 33,
  TopicAliasMaximum: 34,
  TopicAlias: 35,
  MaximumQos: 36,
  RetainAvailable: 37,
  UserProperty: 38,
  MaximumPacketSize: 39,
  WildcardSubAvailable: 40,
  SubscriptionIdAvailable: 41,
  SharedSubAvailable: 42,
} as const;

type Kind = 'byte' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';

/** Each identifier property__read() knows, with its wire type. */
const KINDS: ReadonlyMap<number, Kind> = new Map<number, Kind>([
  [1, 'byte'],
  [23, 'byte'],
  [25, 'byte'],
  [36, 'byte'],
  [37, 'byte'],
  [40, 'byte'],
  [41, 'byte'],
  [42, 'byte'],
  [19, 'u16'],
  [33, 'u16'],
  [34, 'u16'],
  [35, 'u16'],
  [2, 'u32'],
  [17, 'u32'],
  [24, 'u32'],
  [39, 'u32'],
  [11, 'varint'],
  [3, 'string'],
  [8, 'string'],
  [18, 'string'],
  [21, 'string'],
  [26, 'string'],
  [28, 'string'],
  [31, 'string'],
  [22, 'binary'],
  [9, 'binary'],
  [38, 'pair'],
]);

/** The properties mosquitto_property_check_command() lets a PUBLISH carry. */
const ALLOWED_IN_PUBLISH: ReadonlySet<number> = new Set([1, 2, 3, 8, 9, 11, 35, 38]);

/** TOPIC_HIERARCHY_LIMIT: more '/' than this in a Response Topic is refused. */
const TOPIC_HIERARCHY_LIMIT = 200;

/** One property as Mosquitto holds it. */
export interface DbProperty {
  readonly id: number;
  /** The number for byte, two-byte, four-byte and varint properties. */
  readonly number: number;
  /** The bytes of a string or binary value (of the value of a user property). */
  readonly bytes: Buffer | null;
  /** The name of a user property. */
  readonly name: Buffer | null;
}

export type DbPropertiesParse =
  | { readonly ok: true; readonly properties: readonly DbProperty[]; readonly end: number }
  | { readonly ok: false; readonly error: string };

/**
 * Parses `data[start, end)` as property__read_all() does: a varint length, then properties
 * until that length is used up. Reads never go past `end`; bytes between the list's end and
 * `end` are left unread (the result's `end` says where the list stopped).
 */
export function parseDbProperties(data: Buffer, start: number, end: number): DbPropertiesParse {
  let pos = start;
  const fail = (error: string): DbPropertiesParse => ({ ok: false, error });

  const readVarint = (): { value: number; bytes: number } | null => {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      if (pos >= end) return null;
      const byte = data[pos++] ?? 0;
      value += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) === 0) {
        if (i > 0 && byte === 0) return null; // overlong encoding
        return { value, bytes: i + 1 };
      }
    }
    return null;
  };
  const readLengthPrefixed = (): Buffer | null => {
    if (end - pos < 2) return null;
    const length = data.readUInt16BE(pos);
    pos += 2;
    if (end - pos < length) return null;
    const bytes = data.subarray(pos, pos + length);
    pos += length;
    return bytes;
  };

  const length = readVarint();
  if (length === null) return fail('malformed property length');
  let remaining = length.value;
  const properties: DbProperty[] = [];
  while (remaining > 0) {
    const id = readVarint();
    if (id === null) return fail('malformed property identifier');
    remaining -= id.bytes;
    const kind = KINDS.get(id.value);
    let number = 0;
    let bytes: Buffer | null = null;
    let name: Buffer | null = null;
    switch (kind) {
      case undefined:
        return fail(`unknown property identifier ${id.value}`);
      case 'byte':
        if (end - pos < 1) return fail('property value runs past the end');
        number = data[pos++] ?? 0;
        remaining -= 1;
        break;
      case 'u16':
        if (end - pos < 2) return fail('property value runs past the end');
        number = data.readUInt16BE(pos);
        pos += 2;
        remaining -= 2;
        break;
      case 'u32':
        if (end - pos < 4) return fail('property value runs past the end');
        number = data.readUInt32BE(pos);
        pos += 4;
        remaining -= 4;
        break;
      case 'varint': {
        const value = readVarint();
        if (value === null) return fail('malformed subscription identifier');
        number = value.value;
        remaining -= value.bytes;
        break;
      }
      case 'binary':
        bytes = readLengthPrefixed();
        if (bytes === null) return fail('property value runs past the end');
        remaining -= 2 + bytes.length;
        break;
      case 'string':
        bytes = readLengthPrefixed();
        if (bytes === null) return fail('property value runs past the end');
        if (!isMosquittoUtf8(bytes)) return fail(`property ${id.value} is not valid UTF-8`);
        remaining -= 2 + bytes.length;
        break;
      case 'pair':
        name = readLengthPrefixed();
        if (name === null) return fail('property value runs past the end');
        if (!isMosquittoUtf8(name)) return fail('user property name is not valid UTF-8');
        bytes = readLengthPrefixed();
        if (bytes === null) return fail('property value runs past the end');
        if (!isMosquittoUtf8(bytes)) return fail('user property value is not valid UTF-8');
        remaining -= 4 + name.length + bytes.length;
        break;
    }
    // Mosquitto's counter is unsigned: a property that overshoots the declared length
    // makes it wrap and read on until it runs out of data, so the list is refused.
    if (remaining < 0) return fail('properties overrun their declared length');
    properties.push({ id: id.value, number, bytes, name });
  }
  const problem = checkPublishProperties(properties);
  return problem === null ? { ok: true, properties, end: pos } : fail(problem);
}

/** mosquitto_property_check_all(CMD_PUBLISH, ...): null when the list passes. */
function checkPublishProperties(properties: readonly DbProperty[]): string | null {
  for (let i = 0; i < properties.length; i++) {
    const p = properties[i];
    if (p === undefined) continue;
    const kind = KINDS.get(p.id);
    if (kind === 'byte' && p.number > 1) return `property ${p.id} has value ${p.number}`;
    if (p.id === DbPropertyId.MaximumPacketSize && p.number === 0) {
      return 'maximum packet size 0';
    }
    if (
      (p.id === DbPropertyId.ReceiveMaximum || p.id === DbPropertyId.TopicAlias) &&
      p.number === 0
    ) {
      return `property ${p.id} has value 0`;
    }
    if (p.id === DbPropertyId.ResponseTopic && !isPublishTopic(p.bytes)) {
      return 'invalid response topic';
    }
    if (!ALLOWED_IN_PUBLISH.has(p.id)) return `property ${p.id} is not allowed in PUBLISH`;
    if (p.id !== DbPropertyId.UserProperty) {
      for (let j = i + 1; j < properties.length; j++) {
        if (properties[j]?.id === p.id) return `duplicate property ${p.id}`;
      }
    }
  }
  return null;
}

/** mosquitto_pub_topic_check() as built into the broker and db_dump (WITH_BROKER). */
function isPublishTopic(topic: Buffer | null): boolean {
  if (topic === null || topic.length === 0) return false;
  let levels = 0;
  for (const byte of topic) {
    if (byte === 0x2b || byte === 0x23) return false; // + #
    if (byte === 0x2f) levels++;
  }
  return levels <= TOPIC_HIERARCHY_LIMIT;
}

export { isMosquittoUtf8 };
