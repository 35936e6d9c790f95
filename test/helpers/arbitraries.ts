/**
 * fast-check arbitraries for valid MQTT packets of every type and protocol version,
 * shared by the differential tests, the fuzzer's seed corpus and anyone else who wants
 * random packets. "Valid" means valid for the spec AND for Mosquitto's stricter
 * reading of it (features §3.1, §3.7, §3.10, §3.12): strings without control
 * characters or non-characters, topic names without wildcards, packet ids > 0, only
 * the properties a packet type may carry, boolean-ish properties 0/1, and so on. A
 * correct decoder must accept every packet generated here, and a correct encoder must
 * encode it.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import {
  PacketType,
  ProtocolVersion,
  TOPIC_HIERARCHY_LIMIT,
} from '../../src/protocol/constants.ts';
import type { QoS } from '../../src/protocol/constants.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PingreqPacket,
  PingrespPacket,
  Properties,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  UserProperty,
  Will,
} from '../../src/protocol/packets.ts';

export const ALL_VERSIONS: readonly ProtocolVersion[] = [
  ProtocolVersion.V31,
  ProtocolVersion.V311,
  ProtocolVersion.V5,
];

/** The packet types a protocol version has (AUTH is MQTT 5 only). */
export function packetTypesOf(version: ProtocolVersion): readonly PacketType[] {
  const types = Object.values(PacketType);
  return version === ProtocolVersion.V5 ? types : types.filter((t) => t !== PacketType.Auth);
}

// ---------------------------------------------------------------------------------
// Strings, topics, filters

/**
 * Characters every receiver must accept in an MQTT string: printable ASCII, and
 * multi-byte code points of every UTF-8 length (2, 3 and 4 bytes, the latter a
 * surrogate pair in JS). U+00A0 sits just past the C1 control range Mosquitto
 * rejects; U+FEFF must be kept, not stripped [MQTT-1.5.4-3].
 */
const TEXT_CHARS: readonly string[] = [
  ...Array.from('abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789 !"$%&\'()*,-.:;<=>?@[\\]^_`{|}~'),
  '+',
  '#',
  '/',
  '\u00a0',
  'é',
  'ß',
  '€',
  '中',
  '\ufeff',
  '\ue000',
  '😀',
  '\u{10fffd}',
];

/** Characters allowed inside one topic level (no separator, no wildcard). */
const LEVEL_CHARS: readonly string[] = TEXT_CHARS.filter(
  (c) => c !== '+' && c !== '#' && c !== '/',
);

/** Any valid MQTT UTF-8 string (client ids, user names, property strings). */
export function mqttString(maxLength = 16): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...TEXT_CHARS), maxLength });
}

/** One topic level: possibly empty, never containing '/', '+' or '#'. */
export const topicLevel: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...LEVEL_CHARS), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a', 'sensors', '$SYS', '$share', 'é') },
);

/** The deepest topic Mosquitto accepts: exactly TOPIC_HIERARCHY_LIMIT levels. */
export const DEEPEST_TOPIC: string = Array.from({ length: TOPIC_HIERARCHY_LIMIT }, () => 'l').join(
  '/',
);

/** A valid topic name: non-empty, no wildcards, at most 200 levels. */
export const topicName: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 20,
    arbitrary: fc
      .array(topicLevel, { minLength: 1, maxLength: 6 })
      .map((levels) => levels.join('/'))
      .filter((t) => t.length > 0 && !t.startsWith('$share/')),
  },
  { weight: 1, arbitrary: fc.constant(DEEPEST_TOPIC) },
);

/** A valid topic filter without the $share prefix. */
export const plainTopicFilter: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(
      fc.oneof({ weight: 3, arbitrary: topicLevel }, { weight: 1, arbitrary: fc.constant('+') }),
      {
        minLength: 0,
        maxLength: 5,
      },
    ),
    fc.boolean(),
  )
  .map(([levels, multiLevel]) => (multiLevel ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0 && !f.startsWith('$share/') && f !== '$share');

/** A shared subscription filter: $share/<non-empty group>/<non-empty filter>. */
export const sharedTopicFilter: fc.Arbitrary<string> = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...LEVEL_CHARS), minLength: 1, maxLength: 6 }),
    plainTopicFilter,
  )
  .map(([group, filter]) => `$share/${group}/${filter}`);

export const topicFilter: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: plainTopicFilter },
  { weight: 1, arbitrary: sharedTopicFilter },
);

// ---------------------------------------------------------------------------------
// Scalars

export const packetId: fc.Arbitrary<number> = fc.integer({ min: 1, max: 0xffff });
export const qos: fc.Arbitrary<QoS> = fc.constantFrom<QoS>(0, 1, 2);
const u16 = fc.integer({ min: 0, max: 0xffff });
const u16NonZero = fc.integer({ min: 1, max: 0xffff });
const u32 = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff),
);
const u32NonZero = fc.integer({ min: 1, max: 0xffffffff });
const flag01 = fc.constantFrom(0, 1);
/** Subscription identifiers are 1..268,435,455 (a 4-byte Variable Byte Integer). */
export const subscriptionIdentifier: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 1, max: 268_435_455 }),
  fc.constantFrom(1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455),
);

function bytes(maxLength: number): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
}

/** Payloads: mostly small, sometimes large enough for 2- and 3-byte remaining lengths. */
export const payload: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 10, arbitrary: bytes(40) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => Buffer.alloc(n, n & 0xff)),
  },
);

// ---------------------------------------------------------------------------------
// MQTT 5 properties

/** User properties drawn from few keys, so repeats and interleaving are common. */
export const userProperties: fc.Arbitrary<readonly UserProperty[]> = fc.array(
  fc.tuple(
    fc.oneof(fc.constantFrom('k', 'a', '1', '0', '', 'é'), mqttString(6)),
    fc.oneof(fc.constantFrom('', 'v', 'w'), mqttString(8)),
  ),
  { minLength: 1, maxLength: 5 },
);

type PropertyModel = {
  readonly [K in keyof Properties]-?: fc.Arbitrary<NonNullable<Properties[K]>>;
};

/** Every property, with values valid wherever the property is allowed. */
const PROPERTY_VALUES: PropertyModel = {
  payloadFormatIndicator: flag01,
  messageExpiryInterval: u32,
  contentType: mqttString(),
  responseTopic: topicName,
  correlationData: bytes(16),
  subscriptionIdentifiers: fc.array(subscriptionIdentifier, { minLength: 1, maxLength: 3 }),
  sessionExpiryInterval: u32,
  assignedClientIdentifier: mqttString(),
  serverKeepAlive: u16,
  authenticationMethod: mqttString(),
  authenticationData: bytes(16),
  requestProblemInformation: flag01,
  willDelayInterval: u32,
  requestResponseInformation: flag01,
  responseInformation: mqttString(),
  serverReference: mqttString(),
  reasonString: mqttString(),
  receiveMaximum: u16NonZero,
  topicAliasMaximum: u16,
  topicAlias: u16NonZero,
  maximumQoS: flag01,
  retainAvailable: flag01,
  userProperties,
  maximumPacketSize: u32NonZero,
  wildcardSubscriptionAvailable: flag01,
  subscriptionIdentifierAvailable: flag01,
  sharedSubscriptionAvailable: flag01,
};

type PropertyName = keyof Properties;

/** Which properties each packet may carry (MQTT 5 §2.2.2.2, table of identifiers). */
export const ALLOWED_PROPERTIES = {
  connect: [
    'sessionExpiryInterval',
    'receiveMaximum',
    'maximumPacketSize',
    'topicAliasMaximum',
    'requestResponseInformation',
    'requestProblemInformation',
    'userProperties',
    'authenticationMethod',
    'authenticationData',
  ],
  will: [
    'willDelayInterval',
    'payloadFormatIndicator',
    'messageExpiryInterval',
    'contentType',
    'responseTopic',
    'correlationData',
    'userProperties',
  ],
  connack: [
    'sessionExpiryInterval',
    'receiveMaximum',
    'maximumQoS',
    'retainAvailable',
    'maximumPacketSize',
    'assignedClientIdentifier',
    'topicAliasMaximum',
    'reasonString',
    'userProperties',
    'wildcardSubscriptionAvailable',
    'subscriptionIdentifierAvailable',
    'sharedSubscriptionAvailable',
    'serverKeepAlive',
    'responseInformation',
    'serverReference',
    'authenticationMethod',
    'authenticationData',
  ],
  publish: [
    'payloadFormatIndicator',
    'messageExpiryInterval',
    'topicAlias',
    'responseTopic',
    'correlationData',
    'userProperties',
    'subscriptionIdentifiers',
    'contentType',
  ],
  ack: ['reasonString', 'userProperties'],
  subscribe: ['subscriptionIdentifiers', 'userProperties'],
  unsubscribe: ['userProperties'],
  disconnect: ['sessionExpiryInterval', 'reasonString', 'userProperties', 'serverReference'],
  auth: ['authenticationMethod', 'authenticationData', 'reasonString', 'userProperties'],
} as const satisfies Record<string, readonly PropertyName[]>;

/**
 * A random subset of `names`, each with a valid value, in a random key order (the
 * encoder writes properties in key order, so order is part of what is tested).
 */
export function propertiesOf(
  names: readonly PropertyName[],
  overrides: Partial<PropertyModel> = {},
): fc.Arbitrary<Properties> {
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const name of names) model[name] = overrides[name] ?? PROPERTY_VALUES[name];
  return fc
    .record(model, { requiredKeys: [] })
    .chain((props) => {
      const keys = Object.keys(props);
      return fc
        .shuffledSubarray(keys, { minLength: keys.length, maxLength: keys.length })
        .map((order) => {
          const shuffled: Record<string, unknown> = {};
          for (const key of order) shuffled[key] = props[key];
          return shuffled;
        });
    })
    .map(fixAuthenticationData);
}

/** Authentication Data without an Authentication Method is a protocol error. */
function fixAuthenticationData(props: Properties): Properties {
  if (props.authenticationData === undefined || props.authenticationMethod !== undefined)
    return props;
  const { authenticationData: _dropped, ...rest } = props;
  return rest;
}

function v5Properties(
  version: ProtocolVersion,
  names: readonly PropertyName[],
  overrides: Partial<PropertyModel> = {},
): fc.Arbitrary<Properties> {
  if (version !== ProtocolVersion.V5) return fc.constant(EMPTY_PROPERTIES);
  // Often none at all, so the short forms (reason code or property length omitted) occur.
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(EMPTY_PROPERTIES) },
    { weight: 3, arbitrary: propertiesOf(names, overrides) },
  );
}

// ---------------------------------------------------------------------------------
// Reason codes (MQTT 5 tables per packet)

export const REASON_CODES = {
  connack: [
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97,
    0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
  ],
  pubackPubrec: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrelPubcomp: [0x00, 0x92],
  suback: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  unsuback: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  disconnect: [
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ],
  auth: [0x00, 0x18, 0x19],
} as const satisfies Record<string, readonly number[]>;

function reasonCode(version: ProtocolVersion, codes: readonly number[]): fc.Arbitrary<number> {
  return version === ProtocolVersion.V5 ? fc.constantFrom(...codes) : fc.constant(0);
}

// ---------------------------------------------------------------------------------
// Packets

export function connectArbitrary(version: ProtocolVersion): fc.Arbitrary<ConnectPacket> {
  const isV5 = version === ProtocolVersion.V5;
  const will: fc.Arbitrary<Will> = fc.record({
    topic: topicName,
    payload,
    qos,
    retain: fc.boolean(),
    properties: v5Properties(version, ALLOWED_PROPERTIES.will),
  });
  return fc
    .record({
      isBridge: isV5 ? fc.constant(false) : fc.boolean(),
      cleanStart: fc.boolean(),
      keepalive: fc.oneof(u16, fc.constantFrom(0, 60, 0xffff)),
      clientId: fc.oneof(
        { weight: 5, arbitrary: mqttString(23) },
        { weight: 1, arbitrary: mqttString(100) },
      ),
      will: fc.option(will, { nil: null }),
      username: fc.option(mqttString(), { nil: null }),
      password: fc.option(bytes(16), { nil: null }),
      properties: v5Properties(version, ALLOWED_PROPERTIES.connect),
    })
    .map((c): ConnectPacket => ({
      type: PacketType.Connect,
      protocolName: version === ProtocolVersion.V31 ? 'MQIsdp' : 'MQTT',
      protocolVersion: version,
      isBridge: c.isBridge,
      cleanStart: c.cleanStart,
      keepalive: c.keepalive,
      clientId: c.clientId,
      will: c.will,
      username: c.username,
      // [MQTT-3.1.2-22] 3.1/3.1.1: no password without a user name (MQTT 5 allows it).
      password: isV5 || c.username !== null ? c.password : null,
      properties: c.properties,
    }));
}

export function connackArbitrary(version: ProtocolVersion): fc.Arbitrary<ConnackPacket> {
  const codes: readonly number[] =
    version === ProtocolVersion.V5 ? REASON_CODES.connack : [0, 1, 2, 3, 4, 5];
  return fc
    .record({
      sessionPresent: version === ProtocolVersion.V31 ? fc.constant(false) : fc.boolean(),
      reasonCode: fc.constantFrom(...codes),
      properties: v5Properties(version, ALLOWED_PROPERTIES.connack),
    })
    .map((c): ConnackPacket => ({
      type: PacketType.Connack,
      // [MQTT-3.2.2-4]/[MQTT-3.2.2-6]: Session Present is 0 with a non-zero code.
      sessionPresent: c.reasonCode === 0 && c.sessionPresent,
      reasonCode: c.reasonCode,
      properties: c.properties,
    }));
}

export function publishArbitrary(version: ProtocolVersion): fc.Arbitrary<PublishPacket> {
  const isV5 = version === ProtocolVersion.V5;
  return fc
    .record({
      qos,
      dup: fc.boolean(),
      retain: fc.boolean(),
      topic: topicName,
      aliasOnly: isV5 ? fc.boolean() : fc.constant(false),
      alias: u16NonZero,
      packetId,
      payload,
      properties: v5Properties(version, ALLOWED_PROPERTIES.publish),
    })
    .map((p): PublishPacket => {
      // An empty topic is only valid in MQTT 5 with a Topic Alias standing in for it.
      const properties =
        p.aliasOnly && p.properties.topicAlias === undefined
          ? { ...p.properties, topicAlias: p.alias }
          : p.properties;
      return {
        type: PacketType.Publish,
        // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
        dup: p.qos > 0 && p.dup,
        qos: p.qos,
        retain: p.retain,
        topic: p.aliasOnly ? '' : p.topic,
        packetId: p.qos > 0 ? p.packetId : 0,
        payload: p.payload,
        properties,
      };
    });
}

type AckType =
  | typeof PacketType.Puback
  | typeof PacketType.Pubrec
  | typeof PacketType.Pubrel
  | typeof PacketType.Pubcomp;
type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;

export function ackArbitrary(version: ProtocolVersion, type: AckType): fc.Arbitrary<AckPacket> {
  const codes =
    type === PacketType.Puback || type === PacketType.Pubrec
      ? REASON_CODES.pubackPubrec
      : REASON_CODES.pubrelPubcomp;
  return fc
    .record({
      packetId,
      reasonCode: reasonCode(version, codes),
      properties: v5Properties(version, ALLOWED_PROPERTIES.ack),
    })
    .map((a): AckPacket => ({ type, ...a }));
}

export function subscribeArbitrary(version: ProtocolVersion): fc.Arbitrary<SubscribePacket> {
  const isV5 = version === ProtocolVersion.V5;
  const subscription: fc.Arbitrary<Subscription> = fc
    .record({
      topicFilter,
      qos,
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
    })
    .map((s): Subscription =>
      isV5
        ? // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
          { ...s, noLocal: s.noLocal && !s.topicFilter.startsWith('$share/') }
        : { ...s, noLocal: false, retainAsPublished: false, retainHandling: 0 },
    );
  return fc
    .record({
      packetId,
      subscriptions: fc.array(subscription, { minLength: 1, maxLength: 4 }),
      properties: v5Properties(version, ALLOWED_PROPERTIES.subscribe, {
        // SUBSCRIBE carries at most one Subscription Identifier.
        subscriptionIdentifiers: subscriptionIdentifier.map((id) => [id]),
      }),
    })
    .map((s): SubscribePacket => ({ type: PacketType.Subscribe, ...s }));
}

export function subackArbitrary(version: ProtocolVersion): fc.Arbitrary<SubackPacket> {
  const codes: readonly number[] =
    version === ProtocolVersion.V5
      ? REASON_CODES.suback
      : version === ProtocolVersion.V311
        ? [0, 1, 2, 0x80]
        : [0, 1, 2];
  return fc
    .record({
      packetId,
      reasonCodes: fc.array(fc.constantFrom(...codes), { minLength: 1, maxLength: 5 }),
      properties: v5Properties(version, ALLOWED_PROPERTIES.ack),
    })
    .map((s): SubackPacket => ({ type: PacketType.Suback, ...s }));
}

export function unsubscribeArbitrary(version: ProtocolVersion): fc.Arbitrary<UnsubscribePacket> {
  return fc
    .record({
      packetId,
      topicFilters: fc.array(topicFilter, { minLength: 1, maxLength: 4 }),
      properties: v5Properties(version, ALLOWED_PROPERTIES.unsubscribe),
    })
    .map((u): UnsubscribePacket => ({ type: PacketType.Unsubscribe, ...u }));
}

export function unsubackArbitrary(version: ProtocolVersion): fc.Arbitrary<UnsubackPacket> {
  const isV5 = version === ProtocolVersion.V5;
  return fc
    .record({
      packetId,
      reasonCodes: isV5
        ? fc.array(fc.constantFrom(...REASON_CODES.unsuback), { minLength: 1, maxLength: 5 })
        : fc.constant([]),
      properties: v5Properties(version, ALLOWED_PROPERTIES.ack),
    })
    .map((u): UnsubackPacket => ({ type: PacketType.Unsuback, ...u }));
}

export const pingreqArbitrary: fc.Arbitrary<PingreqPacket> = fc.constant({
  type: PacketType.Pingreq,
});
export const pingrespArbitrary: fc.Arbitrary<PingrespPacket> = fc.constant({
  type: PacketType.Pingresp,
});

export function disconnectArbitrary(version: ProtocolVersion): fc.Arbitrary<DisconnectPacket> {
  return fc
    .record({
      reasonCode: reasonCode(version, REASON_CODES.disconnect),
      properties: v5Properties(version, ALLOWED_PROPERTIES.disconnect),
    })
    .map((d): DisconnectPacket => ({ type: PacketType.Disconnect, ...d }));
}

/** MQTT 5 only. The Authentication Method is mandatory in AUTH [MQTT-3.15.2.2.2]. */
export const authArbitrary: fc.Arbitrary<AuthPacket> = fc
  .record({
    reasonCode: fc.constantFrom(...REASON_CODES.auth),
    method: mqttString(),
    properties: propertiesOf(ALLOWED_PROPERTIES.auth),
  })
  .map((a): AuthPacket => ({
    type: PacketType.Auth,
    reasonCode: a.reasonCode,
    properties:
      a.properties.authenticationMethod === undefined
        ? { authenticationMethod: a.method, ...a.properties }
        : a.properties,
  }));

/** A valid packet of one type for one version (AUTH only exists in MQTT 5). */
export function packetOfTypeArbitrary(
  version: ProtocolVersion,
  type: PacketType,
): fc.Arbitrary<Packet> {
  switch (type) {
    case PacketType.Connect:
      return connectArbitrary(version);
    case PacketType.Connack:
      return connackArbitrary(version);
    case PacketType.Publish:
      return publishArbitrary(version);
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return ackArbitrary(version, type);
    case PacketType.Subscribe:
      return subscribeArbitrary(version);
    case PacketType.Suback:
      return subackArbitrary(version);
    case PacketType.Unsubscribe:
      return unsubscribeArbitrary(version);
    case PacketType.Unsuback:
      return unsubackArbitrary(version);
    case PacketType.Pingreq:
      return pingreqArbitrary;
    case PacketType.Pingresp:
      return pingrespArbitrary;
    case PacketType.Disconnect:
      return disconnectArbitrary(version);
    case PacketType.Auth:
      if (version !== ProtocolVersion.V5) throw new Error('AUTH exists only in MQTT 5');
      return authArbitrary;
  }
}

/** A valid packet of any type of `version`. */
export function packetArbitrary(version: ProtocolVersion): fc.Arbitrary<Packet> {
  return fc.oneof(...packetTypesOf(version).map((t) => packetOfTypeArbitrary(version, t)));
}
