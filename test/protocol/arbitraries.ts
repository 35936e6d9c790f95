/**
 * fast-check arbitraries for valid MQTT packets of every type and protocol version:
 * valid in the sense of our decoder (Mosquitto's rules), so that decode(encode(p))
 * must give back p. Properties are drawn from the property table, so a property added
 * there is covered here too.
 */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import type { Arbitrary } from 'fast-check';
import { PacketType, ProtocolVersion } from '../../src/protocol/constants.ts';
import type { QoS } from '../../src/protocol/constants.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import type { Packet, Properties, Subscription, Will } from '../../src/protocol/packets.ts';
import {
  PROPERTY_SPECS,
  PropertyCheck,
  PropertyType,
  WILL_PROPERTIES,
} from '../../src/protocol/properties.ts';
import { checkMqttString, Utf8Problem } from '../../src/protocol/primitives.ts';

/** Any MQTT-acceptable string, short; disallowed code points are replaced. */
export const mqttString: Arbitrary<string> = fc.string({ unit: 'binary', maxLength: 8 }).map((s) =>
  Array.from(s)
    .map((c) => (checkMqttString(c) === Utf8Problem.None ? c : 'x'))
    .join(''),
);

/** A topic level without `/`, `+` or `#`. */
const level: Arbitrary<string> = fc.oneof(
  fc.constantFrom('a', 'b', 'sensors', '', '$SYS', 'é', '😀'),
  mqttString.map((s) => s.replace(/[/+#]/g, '_')),
);

export const topicName: Arbitrary<string> = fc
  .array(level, { minLength: 1, maxLength: 4 })
  .map((levels) => levels.join('/'))
  .filter((t) => t.length > 0);

const plainFilter: Arbitrary<string> = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0 && !f.startsWith('$share'));

const shareGroup: Arbitrary<string> = level.filter((g) => g.length > 0);

export const topicFilter: Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: plainFilter },
  { weight: 1, arbitrary: fc.tuple(shareGroup, plainFilter).map(([g, f]) => `$share/${g}/${f}`) },
);

/** fc.record with ordinary objects (fast-check's default prototype is null). */
function record<T>(model: { [K in keyof T]: Arbitrary<T[K]> }): Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const bytes = (maxLength = 16): Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const u16 = fc.integer({ min: 0, max: 0xffff });
const packetId = fc.integer({ min: 1, max: 0xffff });
const qos = fc.constantFrom<QoS>(0, 1, 2);

/**
 * Properties allowed in `where` (a packet type or WILL_PROPERTIES); EMPTY_PROPERTIES
 * when none is drawn, as the decoder returns for an empty block.
 */
export function properties(where: number): Arbitrary<Properties> {
  const fields: Record<string, Arbitrary<unknown>> = {};
  for (const spec of PROPERTY_SPECS) {
    if ((spec.allowedIn & (1 << where)) === 0) continue;
    let value: Arbitrary<unknown>;
    switch (spec.type) {
      case PropertyType.Byte:
        value = fc.constantFrom(0, 1);
        break;
      case PropertyType.U16:
        value = spec.check === PropertyCheck.NonZero ? fc.integer({ min: 1, max: 0xffff }) : u16;
        break;
      case PropertyType.U32:
        value = fc.integer({ min: spec.check === PropertyCheck.NonZero ? 1 : 0, max: 0xffff_ffff });
        break;
      case PropertyType.Varint:
        value = fc.array(fc.integer({ min: 1, max: 268_435_455 }), {
          minLength: 1,
          maxLength: where === PacketType.Publish ? 3 : 1,
        });
        break;
      case PropertyType.Utf8:
        value = spec.check === PropertyCheck.TopicName ? topicName : mqttString;
        break;
      case PropertyType.Binary:
        value = bytes();
        break;
      default:
        value = fc.array(fc.tuple(mqttString, mqttString), { minLength: 1, maxLength: 3 });
        break;
    }
    fields[spec.name] = value;
  }
  const some = fc
    .record(fields, { requiredKeys: [], noNullPrototype: true })
    .map((p) => (Object.keys(p).length === 0 ? EMPTY_PROPERTIES : (p as Properties)));
  return fc.oneof(fc.constant(EMPTY_PROPERTIES), some);
}

const noProperties = fc.constant(EMPTY_PROPERTIES);
const propsFor = (version: ProtocolVersion, where: number): Arbitrary<Properties> =>
  version === ProtocolVersion.V5 ? properties(where) : noProperties;

function will(version: ProtocolVersion): Arbitrary<Will | null> {
  return fc.option(
    record({
      topic: topicName,
      payload: bytes(),
      qos,
      retain: fc.boolean(),
      properties: propsFor(version, WILL_PROPERTIES),
    }),
    { nil: null },
  );
}

function connect(version: ProtocolVersion): Arbitrary<Packet> {
  return fc
    .record({
      isBridge: version === ProtocolVersion.V5 ? fc.constant(false) : fc.boolean(),
      cleanStart: fc.boolean(),
      keepalive: u16,
      clientId: mqttString,
      will: will(version),
      username: fc.option(mqttString, { nil: null }),
      password: fc.option(bytes(), { nil: null }),
      properties: propsFor(version, PacketType.Connect),
    })
    .map((c) => ({
      type: PacketType.Connect,
      protocolName: version === ProtocolVersion.V31 ? 'MQIsdp' : 'MQTT',
      protocolVersion: version,
      ...c,
      // [MQTT-3.1.2-22] before 5.0: no password without a user name.
      password: version !== ProtocolVersion.V5 && c.username === null ? null : c.password,
    }));
}

function publish(version: ProtocolVersion): Arbitrary<Packet> {
  return fc
    .record({
      qos,
      dup: fc.boolean(),
      retain: fc.boolean(),
      topic: topicName,
      packetId,
      payload: bytes(64),
      properties: propsFor(version, PacketType.Publish),
      emptyTopic: fc.boolean(),
    })
    .map((p) => {
      // 5.0: an empty topic name stands for the topic alias.
      const aliased = p.emptyTopic && p.properties.topicAlias !== undefined;
      return {
        type: PacketType.Publish,
        dup: p.qos > 0 && p.dup,
        qos: p.qos,
        retain: p.retain,
        topic: aliased ? '' : p.topic,
        packetId: p.qos > 0 ? p.packetId : 0,
        payload: p.payload,
        properties: p.properties,
      };
    });
}

/** Reason codes Mosquitto accepts on each acknowledgement. */
const ACK_REASONS: Record<number, number[]> = {
  [PacketType.Puback]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.Pubrec]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.Pubrel]: [0x00, 0x92],
  [PacketType.Pubcomp]: [0x00, 0x92],
};

function ack(
  version: ProtocolVersion,
  type:
    | typeof PacketType.Puback
    | typeof PacketType.Pubrec
    | typeof PacketType.Pubrel
    | typeof PacketType.Pubcomp,
): Arbitrary<Packet> {
  const v5 = version === ProtocolVersion.V5;
  return record({
    type: fc.constant(type),
    packetId,
    reasonCode: v5 ? fc.constantFrom(...(ACK_REASONS[type] ?? [0])) : fc.constant(0),
    properties: propsFor(version, type),
  });
}

function subscription(version: ProtocolVersion): Arbitrary<Subscription> {
  if (version !== ProtocolVersion.V5) {
    return record({
      topicFilter,
      qos,
      noLocal: fc.constant(false),
      retainAsPublished: fc.constant(false),
      retainHandling: fc.constant<0>(0),
    });
  }
  return fc
    .record({
      topicFilter,
      qos,
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
    })
    .map((s) => ({ ...s, noLocal: s.noLocal && !s.topicFilter.startsWith('$share/') }));
}

const reasonCode = fc.integer({ min: 0, max: 255 });

/** Every packet type valid in `version`. */
export function packet(version: ProtocolVersion): Arbitrary<Packet> {
  const v5 = version === ProtocolVersion.V5;
  const minFilters = version === ProtocolVersion.V31 ? 0 : 1;
  const all: Arbitrary<Packet>[] = [
    connect(version),
    record({
      type: fc.constant(PacketType.Connack),
      sessionPresent: fc.boolean(),
      reasonCode,
      properties: propsFor(version, PacketType.Connack),
    }),
    publish(version),
    ack(version, PacketType.Puback),
    ack(version, PacketType.Pubrec),
    ack(version, PacketType.Pubrel),
    ack(version, PacketType.Pubcomp),
    record({
      type: fc.constant(PacketType.Subscribe),
      packetId,
      subscriptions: fc.array(subscription(version), { minLength: minFilters, maxLength: 4 }),
      properties: propsFor(version, PacketType.Subscribe),
    }),
    record({
      type: fc.constant(PacketType.Suback),
      packetId,
      reasonCodes: fc.array(reasonCode, { minLength: 1, maxLength: 4 }),
      properties: propsFor(version, PacketType.Suback),
    }),
    record({
      type: fc.constant(PacketType.Unsubscribe),
      packetId,
      topicFilters: fc.array(topicFilter, { minLength: minFilters, maxLength: 4 }),
      properties: propsFor(version, PacketType.Unsubscribe),
    }),
    record({
      type: fc.constant(PacketType.Unsuback),
      packetId,
      reasonCodes: v5 ? fc.array(reasonCode, { maxLength: 4 }) : fc.constant([]),
      properties: propsFor(version, PacketType.Unsuback),
    }),
    fc.constant({ type: PacketType.Pingreq }),
    fc.constant({ type: PacketType.Pingresp }),
    record({
      type: fc.constant(PacketType.Disconnect),
      reasonCode: v5 ? reasonCode : fc.constant(0),
      properties: propsFor(version, PacketType.Disconnect),
    }),
  ];
  if (v5) {
    all.push(
      record({
        type: fc.constant(PacketType.Auth),
        reasonCode: fc.constantFrom(0x00, 0x18, 0x19),
        properties: properties(PacketType.Auth),
      }),
    );
  }
  return fc.oneof(...all);
}

export const version: Arbitrary<ProtocolVersion> = fc.constantFrom(
  ProtocolVersion.V31,
  ProtocolVersion.V311,
  ProtocolVersion.V5,
);
