/**
 * MQTT 5 properties (spec §2.2.2): one table row per property, with its wire type, the
 * packets (and the Will) that may carry it and its field in `Properties`. Decoding and
 * encoding are both driven by the table.
 *
 * Decoding follows Mosquitto (property__read_all + mosquitto_property_check_all): an
 * unknown identifier or a value that runs past the block is a malformed packet; a
 * repeated property (User Property excepted), a property the packet may not carry and an
 * out-of-range value are protocol errors, reported only once the whole block has been
 * read (so a later malformed property wins, as in Mosquitto).
 *
 * Encoding writes properties in the key order of the object, so a decoded packet encodes
 * back to the same bytes and the broker decides wire order (Mosquitto's CONNACK order).
 */
import { Buffer } from 'node:buffer';
import { MAX_VARIABLE_BYTE_INTEGER, PacketType, PropertyId, ReasonCode } from './constants.ts';
import { MqttError } from './errors.ts';
import type { Properties, UserProperty } from './packets.ts';
import { EMPTY_PROPERTIES } from './packets.ts';
import {
  assertUint,
  binaryFieldLength,
  stringFieldLength,
  varintLength,
  writeBinary,
  writeString,
  writeU16,
  writeU32,
  writeVarint,
} from './primitives.ts';
import type { PacketReader } from './reader.ts';
import { isValidTopicName } from './topic.ts';

export const PropertyType = {
  Byte: 1,
  U16: 2,
  U32: 3,
  Varint: 4,
  Utf8: 5,
  Binary: 6,
  Utf8Pair: 7,
} as const;
export type PropertyType = (typeof PropertyType)[keyof typeof PropertyType];

/** What a decoded value must satisfy, beyond its wire type. */
export const PropertyCheck = {
  None: 0,
  /** 0 or 1. */
  Boolean: 1,
  /** Not 0. */
  NonZero: 2,
  /** A valid topic name (Response Topic; Mosquitto 2.0.20+). */
  TopicName: 3,
} as const;
export type PropertyCheck = (typeof PropertyCheck)[keyof typeof PropertyCheck];

/** The "packet type" of Will properties inside CONNECT, in `allowedIn` masks. */
export const WILL_PROPERTIES = 0;

export interface PropertySpec {
  readonly id: PropertyId;
  readonly name: keyof Properties;
  readonly type: PropertyType;
  /** Bit (1 << packet type) per packet that may carry it; bit 0 = Will properties. */
  readonly allowedIn: number;
  readonly check: PropertyCheck;
}

const T = PacketType;
const bit = (...types: number[]): number => types.reduce((m, t) => m | (1 << t), 0);
const W = WILL_PROPERTIES;
const ALL_WITH_PROPERTIES = bit(
  W,
  T.Connect,
  T.Connack,
  T.Publish,
  T.Puback,
  T.Pubrec,
  T.Pubrel,
  T.Pubcomp,
  T.Subscribe,
  T.Suback,
  T.Unsubscribe,
  T.Unsuback,
  T.Disconnect,
  T.Auth,
);
const P = PropertyType;
const C = PropertyCheck;
const I = PropertyId;

function spec(
  id: PropertyId,
  name: keyof Properties,
  type: PropertyType,
  allowedIn: number,
  check: PropertyCheck = C.None,
): PropertySpec {
  return { id, name, type, allowedIn, check };
}

/** Every MQTT 5 property (spec table 2-4). */
export const PROPERTY_SPECS: readonly PropertySpec[] = [
  spec(I.PayloadFormatIndicator, 'payloadFormatIndicator', P.Byte, bit(W, T.Publish), C.Boolean),
  spec(I.MessageExpiryInterval, 'messageExpiryInterval', P.U32, bit(W, T.Publish)),
  spec(I.ContentType, 'contentType', P.Utf8, bit(W, T.Publish)),
  spec(I.ResponseTopic, 'responseTopic', P.Utf8, bit(W, T.Publish), C.TopicName),
  spec(I.CorrelationData, 'correlationData', P.Binary, bit(W, T.Publish)),
  spec(I.SubscriptionIdentifier, 'subscriptionIdentifiers', P.Varint, bit(T.Publish, T.Subscribe)),
  spec(
    I.SessionExpiryInterval,
    'sessionExpiryInterval',
    P.U32,
    bit(T.Connect, T.Connack, T.Disconnect),
  ),
  spec(I.AssignedClientIdentifier, 'assignedClientIdentifier', P.Utf8, bit(T.Connack)),
  spec(I.ServerKeepAlive, 'serverKeepAlive', P.U16, bit(T.Connack)),
  spec(I.AuthenticationMethod, 'authenticationMethod', P.Utf8, bit(T.Connect, T.Connack, T.Auth)),
  spec(I.AuthenticationData, 'authenticationData', P.Binary, bit(T.Connect, T.Connack, T.Auth)),
  spec(I.RequestProblemInformation, 'requestProblemInformation', P.Byte, bit(T.Connect), C.Boolean),
  spec(I.WillDelayInterval, 'willDelayInterval', P.U32, bit(W)),
  spec(
    I.RequestResponseInformation,
    'requestResponseInformation',
    P.Byte,
    bit(T.Connect),
    C.Boolean,
  ),
  spec(I.ResponseInformation, 'responseInformation', P.Utf8, bit(T.Connack)),
  spec(I.ServerReference, 'serverReference', P.Utf8, bit(T.Connack, T.Disconnect)),
  spec(
    I.ReasonString,
    'reasonString',
    P.Utf8,
    bit(
      T.Connack,
      T.Puback,
      T.Pubrec,
      T.Pubrel,
      T.Pubcomp,
      T.Suback,
      T.Unsuback,
      T.Disconnect,
      T.Auth,
    ),
  ),
  spec(I.ReceiveMaximum, 'receiveMaximum', P.U16, bit(T.Connect, T.Connack), C.NonZero),
  spec(I.TopicAliasMaximum, 'topicAliasMaximum', P.U16, bit(T.Connect, T.Connack)),
  spec(I.TopicAlias, 'topicAlias', P.U16, bit(T.Publish), C.NonZero),
  spec(I.MaximumQoS, 'maximumQoS', P.Byte, bit(T.Connack), C.Boolean),
  spec(I.RetainAvailable, 'retainAvailable', P.Byte, bit(T.Connack), C.Boolean),
  spec(I.UserProperty, 'userProperties', P.Utf8Pair, ALL_WITH_PROPERTIES),
  spec(I.MaximumPacketSize, 'maximumPacketSize', P.U32, bit(T.Connect, T.Connack), C.NonZero),
  spec(
    I.WildcardSubscriptionAvailable,
    'wildcardSubscriptionAvailable',
    P.Byte,
    bit(T.Connack),
    C.Boolean,
  ),
  spec(
    I.SubscriptionIdentifierAvailable,
    'subscriptionIdentifierAvailable',
    P.Byte,
    bit(T.Connack),
    C.Boolean,
  ),
  spec(
    I.SharedSubscriptionAvailable,
    'sharedSubscriptionAvailable',
    P.Byte,
    bit(T.Connack),
    C.Boolean,
  ),
];

/** Table rows by identifier (undefined for identifiers MQTT 5 does not define). */
export const PROPERTY_BY_ID: readonly (PropertySpec | undefined)[] = (() => {
  const byId: (PropertySpec | undefined)[] = new Array<PropertySpec | undefined>(256).fill(
    undefined,
  );
  for (const s of PROPERTY_SPECS) byId[s.id] = s;
  return byId;
})();

/** Table rows by their `Properties` field name. */
export const PROPERTY_BY_NAME: Readonly<Record<keyof Properties, PropertySpec>> = (() => {
  const byName: Partial<Record<keyof Properties, PropertySpec>> = {};
  for (const s of PROPERTY_SPECS) byName[s.name] = s;
  return byName as Record<keyof Properties, PropertySpec>;
})();

/** How decodeProperties treats the rules where Mosquitto's codes or directions differ. */
export interface PropertyDecodeMode {
  /**
   * Reason code for a property not allowed in the packet or an out-of-range value.
   * Mosquitto turns these into malformed packets for SUBSCRIBE and UNSUBSCRIBE only;
   * repeated properties stay protocol errors.
   */
  readonly invalidCode: number;
  /**
   * PUBLISH read by a server (from a client, which must not send a Subscription
   * Identifier at all [MQTT-3.3.4-6]): Mosquitto ignores one, of any value, but refuses
   * a repeated one. Read by a client, several are normal and 0 is a protocol error.
   */
  readonly serverSide: boolean;
}

type MutableProperties = { -readonly [K in keyof Properties]: Properties[K] };

/**
 * Reads a property block (length, then properties) for packet `where` (a packet type,
 * or WILL_PROPERTIES). Returns EMPTY_PROPERTIES when the block is empty.
 */
export function decodeProperties(
  reader: PacketReader,
  where: number,
  mode: PropertyDecodeMode,
): Properties {
  const length = reader.varint('property length');
  if (length === 0) return EMPTY_PROPERTIES;
  const blockEnd = reader.pos + length;
  if (blockEnd > reader.end) {
    throw new MqttError(
      ReasonCode.MalformedPacket,
      'property length runs past the end of the packet',
      'MQTT-2.2.2',
    );
  }
  const packetEnd = reader.end;
  // Property values must stay inside the block: narrow the reader to it.
  reader.end = blockEnd;
  const props: MutableProperties = {};
  const record = props as Record<string, unknown>;
  let userProperties: UserProperty[] | undefined;
  let subscriptionIdentifiers: number[] | undefined;
  let deferred: MqttError | null = null;
  const whereBit = 1 << where;

  while (reader.pos < blockEnd) {
    const id = reader.byte('property identifier');
    const s = PROPERTY_BY_ID[id];
    if (s === undefined) {
      // Identifiers are Variable Byte Integers, but every defined one fits in one byte.
      throw new MqttError(
        ReasonCode.MalformedPacket,
        `unknown property identifier 0x${id.toString(16)}`,
        'MQTT-2.2.2.2',
      );
    }
    let value: number | string | Buffer;
    switch (s.type) {
      case P.Byte:
        value = reader.byte(s.name);
        break;
      case P.U16:
        value = reader.u16(s.name);
        break;
      case P.U32:
        value = reader.u32(s.name);
        break;
      case P.Varint:
        value = reader.varint(s.name);
        break;
      case P.Binary:
        value = reader.binary(s.name);
        break;
      case P.Utf8Pair: {
        const key = reader.string('user property name');
        const val = reader.string('user property value');
        if (userProperties === undefined) {
          userProperties = [];
          props.userProperties = userProperties;
        }
        userProperties.push([key, val]);
        if (deferred === null && (s.allowedIn & whereBit) === 0) {
          deferred = notAllowed(s, where, mode);
        }
        continue;
      }
      default:
        value = reader.string(s.name);
        break;
    }
    if (deferred !== null) continue;

    deferred = checkValue(s, value, mode);
    if (deferred !== null) continue;
    if ((s.allowedIn & whereBit) === 0) {
      deferred = notAllowed(s, where, mode);
    } else if (s.type === P.Varint) {
      // The only Variable Byte Integer property: Subscription Identifier.
      const id = value as number;
      deferred = checkSubscriptionIdentifier(id, where, mode, subscriptionIdentifiers);
      if (subscriptionIdentifiers === undefined) {
        subscriptionIdentifiers = [];
        props.subscriptionIdentifiers = subscriptionIdentifiers;
      }
      subscriptionIdentifiers.push(id);
    } else if (record[s.name] !== undefined) {
      deferred = new MqttError(
        ReasonCode.ProtocolError,
        `property ${s.name} appears more than once`,
        'MQTT-2.2.2.2',
      );
    } else {
      record[s.name] = value;
    }
  }
  reader.end = packetEnd;
  if (deferred !== null) throw deferred;
  return props;
}

function notAllowed(s: PropertySpec, where: number, mode: PropertyDecodeMode): MqttError {
  const place = where === WILL_PROPERTIES ? 'Will properties' : `packet type ${where}`;
  return new MqttError(
    mode.invalidCode,
    `property ${s.name} is not allowed in ${place}`,
    'MQTT-2.2.2.2',
  );
}

function checkValue(
  s: PropertySpec,
  value: number | string | Buffer,
  mode: PropertyDecodeMode,
): MqttError | null {
  switch (s.check) {
    case C.Boolean:
      return (value as number) > 1
        ? new MqttError(
            mode.invalidCode,
            `${s.name} must be 0 or 1, not ${value as number}`,
            'MQTT-2.2.2.2',
          )
        : null;
    case C.NonZero:
      return value === 0
        ? new MqttError(mode.invalidCode, `${s.name} must not be 0`, 'MQTT-2.2.2.2')
        : null;
    case C.TopicName:
      return isValidTopicName(value as string)
        ? null
        : new MqttError(
            mode.invalidCode,
            `response topic "${value as string}" is not a valid topic name`,
            'MQTT-3.3.2-14',
          );
    default:
      return null;
  }
}

function checkSubscriptionIdentifier(
  value: number,
  where: number,
  mode: PropertyDecodeMode,
  previous: number[] | undefined,
): MqttError | null {
  const repeatable = where === T.Publish && !mode.serverSide;
  if (previous !== undefined && !repeatable) {
    return new MqttError(
      ReasonCode.ProtocolError,
      'subscriptionIdentifiers appears more than once',
      where === T.Publish ? 'MQTT-3.3.4-6' : 'MQTT-3.8.2.1.2',
    );
  }
  // SUBSCRIBE's 0 is checked by the SUBSCRIBE decoder (Mosquitto: malformed packet);
  // a server ignores the identifier of an incoming PUBLISH whatever its value.
  if (value === 0 && where === T.Publish && !mode.serverSide) {
    return new MqttError(ReasonCode.ProtocolError, 'subscription identifier 0', 'MQTT-3.3.2.3.8');
  }
  return null;
}

/** Encoded size of the properties themselves (not counting the length prefix). */
export function propertiesLength(props: Properties): number {
  if (props === EMPTY_PROPERTIES) return 0;
  let size = 0;
  const record = props as Readonly<Record<string, unknown>>;
  for (const name in record) {
    const value = record[name];
    if (value === undefined) continue;
    const s = specFor(name);
    switch (s.type) {
      case P.Byte:
        assertUint(value as number, 0xff, name);
        size += 2;
        break;
      case P.U16:
        assertUint(value as number, 0xffff, name);
        size += 3;
        break;
      case P.U32:
        assertUint(value as number, 0xffff_ffff, name);
        size += 5;
        break;
      case P.Varint:
        for (const id of value as readonly number[]) {
          assertUint(id, MAX_VARIABLE_BYTE_INTEGER, 'subscription identifier');
          size += 1 + varintLength(id);
        }
        break;
      case P.Utf8:
        size += 3 + stringFieldLength(value as string, name);
        break;
      case P.Binary:
        size += 3 + binaryFieldLength(value as Buffer, name);
        break;
      default:
        for (const [k, v] of value as readonly UserProperty[]) {
          size += 5 + stringFieldLength(k, 'user property name');
          size += stringFieldLength(v, 'user property value');
        }
        break;
    }
  }
  return size;
}

/**
 * Writes the property block (length prefix, then properties) at `offset`, where
 * `length` is propertiesLength(props). Returns the offset after the block.
 */
export function writeProperties(
  buf: Buffer,
  offset: number,
  props: Properties,
  length: number,
): number {
  let pos = writeVarint(buf, offset, length);
  if (length === 0) return pos;
  const record = props as Readonly<Record<string, unknown>>;
  for (const name in record) {
    const value = record[name];
    if (value === undefined) continue;
    const s = specFor(name);
    switch (s.type) {
      case P.Byte:
        buf[pos] = s.id;
        buf[pos + 1] = value as number;
        pos += 2;
        break;
      case P.U16:
        buf[pos] = s.id;
        pos = writeU16(buf, pos + 1, value as number);
        break;
      case P.U32:
        buf[pos] = s.id;
        pos = writeU32(buf, pos + 1, value as number);
        break;
      case P.Varint:
        for (const id of value as readonly number[]) {
          buf[pos] = s.id;
          pos = writeVarint(buf, pos + 1, id);
        }
        break;
      case P.Utf8: {
        const str = value as string;
        buf[pos] = s.id;
        pos = writeString(buf, pos + 1, str, Buffer.byteLength(str, 'utf8'));
        break;
      }
      case P.Binary:
        buf[pos] = s.id;
        pos = writeBinary(buf, pos + 1, value as Buffer);
        break;
      default:
        for (const [k, v] of value as readonly UserProperty[]) {
          buf[pos] = s.id;
          pos = writeString(buf, pos + 1, k, Buffer.byteLength(k, 'utf8'));
          pos = writeString(buf, pos, v, Buffer.byteLength(v, 'utf8'));
        }
        break;
    }
  }
  return pos;
}

function specFor(name: string): PropertySpec {
  const s = (PROPERTY_BY_NAME as Readonly<Record<string, PropertySpec | undefined>>)[name];
  if (s === undefined) throw new TypeError(`unknown MQTT property "${name}"`);
  return s;
}
