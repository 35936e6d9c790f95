/**
 * Conversations for the broker fuzzer (broker.fuzz.test.ts): what one raw TCP client
 * sends to the broker, how the bytes are cut into writes, and how the client ends.
 * Deterministic: conversation `index` of run `seed` is always the same bytes, so a
 * failure replays with FUZZ_SEED=<seed> FUZZ_CASE=<index>.
 *
 * Three families:
 *  - session: a valid CONNECT (3.1, 3.1.1 or 5, sometimes with a will or MQTT 5 limits
 *    such as a tiny Maximum Packet Size), a few valid packets that give the session
 *    state (subscriptions, QoS 2 messages held, retained messages), then mutants of
 *    real packets of that version from the decoder fuzzer's corpus (mutations.ts), or
 *    (three times in ten) unmutated corpus packets: valid, with random topics, ids and
 *    properties;
 *  - connect: a mutated CONNECT (again from mutations.ts), sometimes followed by more;
 *  - hostile: hand-written attacks from a catalogue (HOSTILE below): remaining lengths
 *    announced and never sent, 5-byte varints, huge property counts, duplicated
 *    properties, topic alias abuse, acknowledgement floods, QoS 2 never released,
 *    thousands of filters, deep and long topics, bad UTF-8, bad CONNECT flags, ...
 */
import { Buffer } from 'node:buffer';
import { PacketType, PacketTypeName, ProtocolVersion } from '../../src/protocol/constants.ts';
import type { SeedFrame } from './corpus.ts';
import { frameBytes } from './corpus.ts';
import { makeCase, Rng } from './mutations.ts';
import type { WireProperty, WireVersion } from '../helpers/packet-bytes.ts';
import {
  connect,
  disconnect,
  frame,
  hex,
  lengthPrefixed,
  pingreq,
  properties,
  puback,
  pubcomp,
  publish,
  pubrec,
  pubrel,
  subscribe,
  toHex,
  u16,
  unsubscribe,
  varint,
} from '../helpers/packet-bytes.ts';

/** What the client does once every byte is written. */
export type Ending =
  /** Keep the connection open: wait for the broker to close it, or probe it with PINGREQ. */
  | 'hold'
  /** Half-close (FIN) at once; the broker must close its side too. */
  | 'fin'
  /** Reset (RST) at once. */
  | 'reset';

/** The broker settings a conversation runs against (the fuzzer starts one broker each). */
export type BrokerProfile = 'default' | 'limited';

/** The settings of the 'limited' profile that conversations are built around. */
export const LIMITED = {
  maxPacketSize: 2048,
  messageSizeLimit: 600,
  maxInflightMessages: 5,
  maxQueuedMessages: 10,
  maxQos: 1,
  maxTopicAlias: 2,
  mountPoint: 'mnt/',
} as const;

/** The default profile's max_topic_alias (Mosquitto's default). */
export const DEFAULT_MAX_TOPIC_ALIAS = 10;

export interface Conversation {
  readonly seed: number;
  readonly index: number;
  readonly profile: BrokerProfile;
  /** 'session', 'connect' or 'hostile:<name>'. */
  readonly kind: string;
  /** The protocol version the conversation means to speak (the CONNECT may say otherwise). */
  readonly version: ProtocolVersion;
  readonly bytes: Buffer;
  /** Write end offsets, increasing, the last one bytes.length. */
  readonly cuts: readonly number[];
  /** Yield to the event loop between writes, so that the broker sees separate chunks. */
  readonly pauses: boolean;
  readonly ending: Ending;
  /** With 'hold': milliseconds to stay silent before probing. */
  readonly holdMs: number;
  readonly notes: readonly string[];
}

/** The seed corpus split the way conversations use it. */
export interface CorpusIndex {
  readonly all: readonly SeedFrame[];
  readonly connects: readonly SeedFrame[];
  /** Packets a client sends (no CONNECT), per version. */
  readonly clientPackets: Readonly<Record<ProtocolVersion, readonly SeedFrame[]>>;
  /** Packets a client sends, except DISCONNECT and AUTH, per version (no decoys). */
  readonly validClientPackets: Readonly<Record<ProtocolVersion, readonly SeedFrame[]>>;
  /** Every packet of a version, both directions. */
  readonly byVersion: Readonly<Record<ProtocolVersion, readonly SeedFrame[]>>;
}

const CLIENT_TYPES: ReadonlySet<PacketType> = new Set<PacketType>([
  PacketType.Publish,
  PacketType.Puback,
  PacketType.Pubrec,
  PacketType.Pubrel,
  PacketType.Pubcomp,
  PacketType.Subscribe,
  PacketType.Unsubscribe,
  PacketType.Pingreq,
  PacketType.Disconnect,
  PacketType.Auth,
]);

const VERSIONS: readonly ProtocolVersion[] = [
  ProtocolVersion.V31,
  ProtocolVersion.V311,
  ProtocolVersion.V5,
];

/**
 * A corpus for makeCase() to mutate packets that follow a CONNECT. makeCase() starts a
 * quarter of its cases from a frame typed CONNECT (and needs one): here those are copies
 * of the pool's own frames under that label, so a case starts with a real CONNECT only
 * when a mutation makes one.
 */
function tailPool(frames: readonly SeedFrame[]): SeedFrame[] {
  return [...frames, ...frames.map((f) => ({ ...f, type: PacketType.Connect }))];
}

export function indexCorpus(all: readonly SeedFrame[]): CorpusIndex {
  const of = (v: ProtocolVersion, client: boolean): SeedFrame[] =>
    all.filter(
      (f) =>
        f.version === v && f.type !== PacketType.Connect && (!client || CLIENT_TYPES.has(f.type)),
    );
  const valid = (v: ProtocolVersion): SeedFrame[] =>
    of(v, true).filter((f) => f.type !== PacketType.Disconnect && f.type !== PacketType.Auth);
  return {
    all,
    connects: all.filter((f) => f.type === PacketType.Connect),
    validClientPackets: { 3: valid(3), 4: valid(4), 5: valid(5) },
    clientPackets: { 3: tailPool(of(3, true)), 4: tailPool(of(4, true)), 5: tailPool(of(5, true)) },
    byVersion: { 3: tailPool(of(3, false)), 4: tailPool(of(4, false)), 5: tailPool(of(5, false)) },
  };
}

// ---------------------------------------------------------------------------------
// Building blocks

function wire(version: ProtocolVersion): WireVersion {
  return version;
}

function clientIdFor(seed: number, index: number): string {
  return `fz${seed.toString(36)}-${index}`;
}

/** A valid CONNECT for `version`, sometimes with a will or MQTT 5 properties. */
function validConnect(
  rng: Rng,
  seed: number,
  index: number,
  version: ProtocolVersion,
  notes: string[],
): Buffer {
  const props: WireProperty[] = [];
  if (version === ProtocolVersion.V5) {
    if (rng.chance(0.15)) {
      const size = rng.pick([24, 64, 128, 1024]);
      props.push({ id: 0x27, value: size });
      notes.push(`client Maximum Packet Size ${size}`);
    }
    if (rng.chance(0.15)) props.push({ id: 0x21, value: rng.range(1, 3) }); // receive maximum
    if (rng.chance(0.1)) props.push({ id: 0x22, value: rng.range(0, 5) }); // topic alias max
    if (rng.chance(0.15)) props.push({ id: 0x11, value: rng.pick([0, 1, 30, 0xffffffff]) });
    if (rng.chance(0.1)) props.push({ id: 0x19, value: 1 }); // request response information
    if (rng.chance(0.1)) props.push({ id: 0x26, value: ['k', 'v'] });
  }
  const withWill = rng.chance(0.2);
  const willProps: WireProperty[] = [];
  if (withWill && version === ProtocolVersion.V5 && rng.chance(0.5)) {
    willProps.push({ id: 0x18, value: rng.pick([0, 1, 5]) }); // will delay
  }
  const emptyId = version !== ProtocolVersion.V31 && rng.chance(0.05);
  return connect({
    version: wire(version),
    clientId: emptyId ? '' : clientIdFor(seed, index),
    cleanStart: emptyId || rng.chance(0.85),
    keepAlive: rng.pick([0, 1, 10, 60, 65535]),
    ...(withWill
      ? {
          will: {
            topic: rng.pick(['fz/will', 'fz/will/' + String(index)]),
            payload: 'gone',
            qos: rng.int(3),
            retain: rng.chance(0.2),
            properties: willProps,
          },
        }
      : {}),
    ...(rng.chance(0.1) ? { username: 'u', password: 'p' } : {}),
    properties: props,
  });
}

const WARMUP_FILTERS = ['#', 'fz/#', '+/+', '$share/g/#', 'fz/+/x', '$SYS/#', 'a/b'];

/** Valid packets that give the session something to hold: subscriptions, messages. */
function warmup(rng: Rng, version: ProtocolVersion, notes: string[]): Buffer[] {
  const out: Buffer[] = [];
  const v = wire(version);
  const n = rng.pick([0, 1, 1, 2, 3]);
  for (let i = 0; i < n; i++) {
    switch (rng.int(4)) {
      case 0: {
        const filter = rng.pick(WARMUP_FILTERS);
        if (filter.startsWith('$share') && version !== ProtocolVersion.V5 && rng.chance(0.5)) break;
        out.push(
          subscribe({
            version: v,
            packetId: rng.range(1, 0xffff),
            subscriptions: [{ filter, options: rng.int(3) }],
          }),
        );
        notes.push(`warmup SUBSCRIBE ${filter}`);
        break;
      }
      case 1:
      case 2: {
        const qos = rng.int(3);
        out.push(
          publish({
            version: v,
            topic: `fz/${rng.int(8)}/x`,
            payload: Buffer.alloc(rng.pick([0, 1, 10, 300, 700]), 0x61),
            qos,
            retain: rng.chance(0.3),
            ...(qos > 0 ? { packetId: rng.range(1, 0xffff) } : {}),
          }),
        );
        notes.push(`warmup PUBLISH QoS ${qos}`);
        break;
      }
      default:
        out.push(pingreq());
        notes.push('warmup PINGREQ');
    }
  }
  return out;
}

/** Mutants of seed frames (mutations.ts), from a corpus of the caller's choosing. */
function mutated(
  corpus: readonly SeedFrame[],
  seed: number,
  index: number,
  notes: string[],
): Buffer {
  const c = makeCase(corpus, seed, index);
  notes.push(...c.mutations.map((m) => `mutation: ${m}`));
  return c.input;
}

function pickCuts(rng: Rng, length: number): { cuts: number[]; note: string } {
  const r = rng.int(100);
  if (length <= 1 || r < 35) return { cuts: [length], note: 'one write' };
  if (r < 50 && length <= 1024) {
    return { cuts: Array.from({ length }, (_, i) => i + 1), note: '1-byte writes' };
  }
  const cuts = new Set<number>([length]);
  const count = rng.range(1, Math.min(12, length - 1));
  for (let i = 0; i < count; i++) cuts.add(rng.range(1, length - 1));
  return { cuts: [...cuts].sort((a, b) => a - b), note: `${cuts.size} writes` };
}

// ---------------------------------------------------------------------------------
// The hostile catalogue

interface HostileContext {
  readonly rng: Rng;
  readonly version: ProtocolVersion;
  readonly profile: BrokerProfile;
  readonly seed: number;
  readonly index: number;
  /** A valid CONNECT for the conversation's version. */
  readonly hello: Buffer;
  readonly notes: string[];
}

interface Hostile {
  readonly name: string;
  /** Only for these versions (all when absent). */
  readonly versions?: readonly ProtocolVersion[];
  /** The bytes, and optionally the ending the attack needs. */
  build(c: HostileContext): { bytes: Buffer[]; ending?: Ending };
}

const V5_ONLY: readonly ProtocolVersion[] = [ProtocolVersion.V5];

function userProperties(count: number, key = 'k', value = 'v'): WireProperty[] {
  return Array.from({ length: count }, () => ({ id: 0x26, value: [key, value] as const }));
}

/** A raw property list, its entries already encoded (for duplicates and odd forms). */
function rawProps(...parts: Buffer[]): WireProperty[] {
  return parts.map((raw) => ({ raw }));
}

function maxAlias(profile: BrokerProfile): number {
  return profile === 'limited' ? LIMITED.maxTopicAlias : DEFAULT_MAX_TOPIC_ALIAS;
}

/** A topic of `levels` levels of `level`. */
function deepTopic(levels: number, level = 'a'): string {
  return Array.from({ length: levels }, () => level).join('/');
}

const HOSTILE: readonly Hostile[] = [
  {
    name: 'connect-remaining-length-max',
    build: ({ rng }) => ({
      // CONNECT announcing 268,435,455 bytes, a few of them sent, then silence.
      bytes: [hex('10 ff ff ff 7f'), hex('00 04 4d 51 54 54 04 02').subarray(0, rng.int(9))],
      ending: rng.pick(['hold', 'fin'] as const),
    }),
  },
  {
    name: 'publish-remaining-length-max',
    build: ({ rng, hello }) => ({
      bytes: [hello, hex('30 ff ff ff 7f 00 03 61 2f 62'), Buffer.alloc(rng.int(4096), 0x41)],
      ending: rng.pick(['hold', 'fin', 'reset'] as const),
    }),
  },
  {
    name: 'remaining-length-5-bytes',
    build: ({ rng, hello }) => ({
      bytes: [
        ...(rng.chance(0.5) ? [hello] : []),
        Buffer.from([rng.pick([0x10, 0x30, 0x82, 0xc0]), 0xff, 0xff, 0xff, 0xff, 0x01]),
      ],
    }),
  },
  {
    name: 'remaining-length-dangling',
    build: ({ hello }) => ({ bytes: [hello, hex('30 80 80')] }),
  },
  {
    name: 'announced-longer-than-sent',
    build: ({ rng, hello, version }) => {
      const packet = publish({ version: wire(version), topic: 'fz/t', payload: 'xyz' });
      const body = packet.subarray(2);
      return {
        bytes: [
          hello,
          Buffer.concat([Buffer.from([0x30]), varint(body.length + rng.range(1, 100)), body]),
        ],
        ending: rng.pick(['hold', 'fin'] as const),
      };
    },
  },
  {
    name: 'many-user-properties',
    versions: V5_ONLY,
    build: ({ rng, hello, profile }) => {
      // As many user properties as fit in the packet size limit (100,000 with none).
      const count = profile === 'limited' ? 400 : rng.pick([1000, 10_000, 20_000]);
      const where = rng.int(4);
      const props = userProperties(count);
      if (where === 0) {
        return {
          bytes: [connect({ version: 5, clientId: 'fz-up', properties: props }), pingreq()],
        };
      }
      const packet =
        where === 1
          ? publish({ version: 5, topic: 'fz/up', qos: 1, packetId: 7, properties: props })
          : where === 2
            ? subscribe({ version: 5, subscriptions: ['fz/up'], properties: props })
            : disconnect(0, props);
      return { bytes: [hello, packet, pingreq()] };
    },
  },
  {
    name: 'user-property-huge-strings',
    versions: V5_ONLY,
    build: ({ hello }) => ({
      bytes: [
        hello,
        publish({
          version: 5,
          topic: 'fz/big',
          properties: [{ id: 0x26, value: ['k'.repeat(65535), 'v'.repeat(65535)] }],
        }),
        pingreq(),
      ],
    }),
  },
  {
    name: 'property-length-beyond-packet',
    versions: V5_ONLY,
    build: ({ rng, hello }) => {
      const body = Buffer.concat([lengthPrefixed('fz/p'), varint(rng.pick([5, 200, 268_435_455]))]);
      return { bytes: [hello, frame(0x30, body, hex('01 01'))] };
    },
  },
  {
    name: 'duplicate-property',
    versions: V5_ONLY,
    build: ({ rng, hello }) => {
      const dup = rng.pick([
        hex('01 00 01 01'), // payload format indicator twice
        hex('02 00 00 00 01 02 00 00 00 02'), // message expiry twice
        hex('23 00 01 23 00 01'), // topic alias twice
        hex('03 00 01 61 03 00 01 62'), // content type twice
      ]);
      return {
        bytes: [hello, publish({ version: 5, topic: 'fz/d', properties: rawProps(dup) })],
      };
    },
  },
  {
    name: 'property-not-allowed-here',
    versions: V5_ONLY,
    build: ({ rng, hello }) => {
      const prop = rng.pick([
        hex('11 00 00 00 05'), // session expiry in PUBLISH
        hex('24 01'), // maximum QoS in PUBLISH
        hex('0b 01'), // subscription identifier in a client PUBLISH
        hex('7f 00'), // unknown property 0x7f
        hex('ff ff ff ff 7f'), // identifier as an over-long varint
      ]);
      return { bytes: [hello, publish({ version: 5, topic: 'fz/n', properties: rawProps(prop) })] };
    },
  },
  {
    name: 'bad-connect-properties',
    versions: V5_ONLY,
    build: ({ rng }) => {
      const prop = rng.pick<WireProperty[]>([
        [{ id: 0x21, value: 0 }], // receive maximum 0
        [{ id: 0x27, value: 0 }], // maximum packet size 0
        [{ id: 0x17, value: 2 }], // request problem information 2
        [{ id: 0x19, value: 7 }], // request response information 7
        rawProps(hex('11 00 00 00 01 11 00 00 00 02')), // session expiry twice
        [{ id: 0x15, value: 'SCRAM-SHA-1' }], // authentication method
        [{ id: 0x16, value: Buffer.from('x') }], // authentication data without a method
        [{ id: 0x23, value: 1 }], // topic alias in CONNECT
      ]);
      return { bytes: [connect({ version: 5, clientId: 'fz-bcp', properties: prop }), pingreq()] };
    },
  },
  {
    name: 'topic-alias',
    versions: V5_ONLY,
    build: ({ rng, hello, profile }) => {
      const max = maxAlias(profile);
      const alias = rng.pick([0, 1, max, max + 1, 0xffff]);
      const packets: Buffer[] = [hello];
      if (rng.chance(0.5)) {
        packets.push(
          publish({ version: 5, topic: 'fz/alias', properties: [{ id: 0x23, value: alias }] }),
        );
      }
      // Empty topic with an alias: known only if set just above.
      packets.push(
        publish({
          version: 5,
          topic: '',
          qos: rng.int(2),
          packetId: 3,
          properties: [{ id: 0x23, value: rng.chance(0.5) ? alias : rng.range(1, max) }],
        }),
        pingreq(),
      );
      return { bytes: packets };
    },
  },
  {
    name: 'topic-alias-churn',
    versions: V5_ONLY,
    build: ({ rng, hello, profile }) => {
      // Every alias rebound again and again to long topics: the table must stay bounded.
      const max = maxAlias(profile);
      const packets: Buffer[] = [hello];
      for (let i = 0; i < 300; i++) {
        packets.push(
          publish({
            version: 5,
            topic: `fz/${i}/${'x'.repeat(rng.pick([1, 100, 1000]))}`,
            properties: [{ id: 0x23, value: 1 + (i % max) }],
          }),
        );
      }
      packets.push(pingreq());
      return { bytes: packets };
    },
  },
  {
    name: 'pubrel-flood',
    build: ({ rng, hello, version }) => {
      const n = rng.pick([100, 2000, 20_000]);
      const packets = [hello];
      const v5 = version === ProtocolVersion.V5;
      for (let i = 0; i < n; i++)
        packets.push(pubrel(1 + (i % 0xffff), v5 && i % 2 === 0 ? 0x92 : undefined));
      packets.push(pingreq());
      return { bytes: packets };
    },
  },
  {
    name: 'ack-flood-unknown-ids',
    build: ({ rng, hello }) => {
      const packets = [hello];
      for (let i = 0; i < 3000; i++) {
        const id = rng.range(1, 0xffff);
        packets.push(rng.pick([puback, pubrec, pubcomp])(id));
      }
      packets.push(pingreq());
      return { bytes: packets };
    },
  },
  {
    name: 'qos2-never-released',
    build: ({ rng, hello, version }) => {
      const n = rng.pick([30, 500, 5000]);
      const packets = [hello];
      for (let i = 0; i < n; i++) {
        packets.push(
          publish({
            version: wire(version),
            topic: `fz/q2/${i % 7}`,
            qos: 2,
            packetId: 1 + (i % 0xffff),
            payload: Buffer.alloc(rng.pick([1, 100, 1000]), 0x62),
          }),
        );
      }
      packets.push(pingreq());
      return { bytes: packets };
    },
  },
  {
    name: 'qos2-id-reuse',
    build: ({ hello, version }) => {
      const packets = [hello];
      for (let i = 0; i < 200; i++) {
        packets.push(
          publish({
            version: wire(version),
            topic: `fz/r/${i}`,
            qos: 2,
            packetId: 42,
            payload: String(i),
          }),
        );
      }
      packets.push(pingreq());
      return { bytes: packets };
    },
  },
  {
    name: 'subscribe-many-filters',
    build: ({ rng, hello, version }) => {
      const n = rng.pick([100, 1000, 10_000]);
      const invalidAt = rng.chance(0.3) ? rng.int(n) : -1;
      const subscriptions = Array.from({ length: n }, (_, i) => ({
        filter: i === invalidAt ? 'a/#/b' : `fz/${i % 50}/${i}`,
        options: i % 3,
      }));
      return {
        bytes: [
          hello,
          subscribe({ version: wire(version), packetId: 9, subscriptions }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'unsubscribe-many-filters',
    build: ({ hello, version }) => {
      const filters = Array.from({ length: 5000 }, (_, i) => `fz/${i}`);
      return {
        bytes: [hello, unsubscribe({ version: wire(version), packetId: 9, filters }), pingreq()],
      };
    },
  },
  {
    name: 'deep-topics',
    build: ({ rng, hello, version }) => {
      const v = wire(version);
      const levels = rng.pick([200, 201, 32_767]);
      const topic = deepTopic(levels);
      const filter = rng.pick([
        topic,
        deepTopic(Math.min(levels, 32_767) - 1) + '/#',
        '+/'.repeat(Math.min(levels, 32_767) - 1) + '#',
      ]);
      return {
        bytes: [
          hello,
          subscribe({ version: v, packetId: 2, subscriptions: [{ filter, options: 1 }] }),
          publish({
            version: v,
            topic,
            qos: 1,
            packetId: 3,
            retain: rng.chance(0.5),
            payload: 'deep',
          }),
          subscribe({ version: v, packetId: 4, subscriptions: ['#'] }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'empty-levels',
    build: ({ rng, hello, version }) => {
      const v = wire(version);
      const topic = '/'.repeat(rng.pick([199, 200, 201, 65_535]));
      return {
        bytes: [
          hello,
          subscribe({
            version: v,
            packetId: 2,
            subscriptions: [topic.slice(0, 199) + '/#', '+/#'],
          }),
          publish({ version: v, topic, qos: 1, packetId: 3, retain: true }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'long-topic',
    build: ({ rng, hello, version }) => {
      const v = wire(version);
      const topic = 'fz/' + 'x'.repeat(rng.pick([65_532, 65_533]));
      return {
        bytes: [
          hello,
          publish({
            version: v,
            topic: Buffer.from(topic).subarray(0, 65_535),
            qos: 1,
            packetId: 5,
          }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'bad-utf8',
    build: ({ rng, hello, version }) => {
      const bad = rng.pick([
        hex('ff'),
        hex('c0 80'), // overlong NUL
        hex('00'), // U+0000
        hex('ed a0 80'), // surrogate
        hex('ef bf bf'), // U+FFFF non-character
        hex('f4 90 80 80'), // above U+10FFFF
        hex('01'), // control character
      ]);
      const topic = Buffer.concat([Buffer.from('fz/'), bad]);
      const where = rng.int(4);
      const v = wire(version);
      if (where === 0) {
        return {
          bytes: [
            // CONNECT whose client id is the bad string.
            frame(
              0x10,
              lengthPrefixed(version === ProtocolVersion.V31 ? 'MQIsdp' : 'MQTT'),
              Buffer.from([version, 0x02]),
              u16(60),
              version === ProtocolVersion.V5 ? hex('00') : Buffer.alloc(0),
              lengthPrefixed(topic),
            ),
            pingreq(),
          ],
        };
      }
      if (where === 1)
        return { bytes: [hello, publish({ version: v, topic, qos: 1, packetId: 1 }), pingreq()] };
      if (where === 2)
        return {
          bytes: [hello, subscribe({ version: v, subscriptions: [{ filter: topic }] }), pingreq()],
        };
      return { bytes: [hello, unsubscribe({ version: v, filters: [topic] }), pingreq()] };
    },
  },
  {
    name: 'wildcard-publish',
    build: ({ rng, hello, version }) => ({
      bytes: [
        hello,
        publish({
          version: wire(version),
          topic: rng.pick(['fz/#', 'fz/+', '#', '+', 'a+b']),
          qos: rng.int(2),
          packetId: 1,
        }),
        pingreq(),
      ],
    }),
  },
  {
    name: 'bad-filters',
    build: ({ rng, hello, version }) => {
      const filter = rng.pick([
        'a/#/b',
        'a#',
        'a/+b',
        '',
        '$share/g',
        '$share//a',
        '$share/g/',
        '$share/+/a',
        '$share/g#/a',
        '$share/g/#',
      ]);
      return {
        bytes: [
          hello,
          subscribe({
            version: wire(version),
            packetId: 3,
            subscriptions: [{ filter, options: rng.int(4) }],
          }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'subscribe-options-reserved',
    build: ({ rng, hello, version }) => ({
      bytes: [
        hello,
        subscribe({
          version: wire(version),
          subscriptions: [
            { filter: 'fz/o', options: rng.pick([0x03, 0x30, 0x40, 0x80, 0xc0, 0x04, 0x0c]) },
          ],
        }),
        pingreq(),
      ],
    }),
  },
  {
    name: 'no-local-shared',
    versions: V5_ONLY,
    build: ({ hello }) => ({
      bytes: [
        hello,
        subscribe({ version: 5, subscriptions: [{ filter: '$share/g/fz', options: 0x04 }] }),
        pingreq(),
      ],
    }),
  },
  {
    name: 'subscription-identifiers',
    versions: V5_ONLY,
    build: ({ rng, hello }) => {
      const ids = rng.pick<WireProperty[]>([
        [{ id: 0x0b, value: 0 }],
        [{ id: 0x0b, value: 268_435_455 }],
        [
          { id: 0x0b, value: 1 },
          { id: 0x0b, value: 2 },
        ],
        rawProps(hex('0b 80 80 80 80 01')),
      ]);
      return {
        bytes: [
          hello,
          subscribe({ version: 5, subscriptions: ['fz/#'], properties: ids }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'empty-subscribe-unsubscribe',
    build: ({ rng, hello, version }) => ({
      bytes: [
        hello,
        rng.chance(0.5)
          ? subscribe({ version: wire(version), subscriptions: [] })
          : unsubscribe({ version: wire(version), filters: [] }),
        pingreq(),
      ],
    }),
  },
  {
    name: 'packet-id-zero',
    build: ({ rng, hello, version }) => {
      const v = wire(version);
      const packet = rng.pick([
        () => publish({ version: v, topic: 'fz/z', qos: 1, packetId: 0 }),
        () => publish({ version: v, topic: 'fz/z', qos: 2, packetId: 0 }),
        () => subscribe({ version: v, packetId: 0, subscriptions: ['fz/z'] }),
        () => unsubscribe({ version: v, packetId: 0, filters: ['fz/z'] }),
        () => pubrel(0),
      ])();
      return { bytes: [hello, packet, pingreq()] };
    },
  },
  {
    name: 'wrong-fixed-header-flags',
    build: ({ rng, hello }) => ({
      bytes: [
        hello,
        rng.pick([
          hex('80 06 00 01 00 01 61 00'), // SUBSCRIBE flags 0
          hex('a0 05 00 01 00 01 61'), // UNSUBSCRIBE flags 0
          hex('60 02 00 01'), // PUBREL flags 0
          hex('c1 00'), // PINGREQ flags 1
          hex('e2 00'), // DISCONNECT flags 2
          hex('36 03 00 01 61'), // PUBLISH QoS 3
          hex('38 03 00 01 61'), // PUBLISH DUP with QoS 0
          hex('c0 01 00'), // PINGREQ with a body
          hex('40 03 00 01 00'), // PUBACK of 3 bytes (ok in 5, malformed in 3.x)
        ]),
      ],
    }),
  },
  {
    name: 'reserved-packet-types',
    build: ({ rng, hello }) => ({
      bytes: [
        ...(rng.chance(0.8) ? [hello] : []),
        rng.pick([
          hex('00 00'),
          hex('f0 00'),
          hex('f0 02 00 00'),
          hex('20 02 00 00'),
          hex('90 03 00 01 00'),
          hex('b0 02 00 01'),
          hex('d0 00'),
        ]),
      ],
    }),
  },
  {
    name: 'second-connect',
    build: ({ rng, hello, seed, index }) => ({
      bytes: [
        hello,
        rng.chance(0.5)
          ? hello
          : connect({
              version: rng.pick([3, 4, 5] as const),
              clientId: `${clientIdFor(seed, index)}b`,
            }),
      ],
    }),
  },
  {
    name: 'takeover',
    build: ({ rng, version }) => {
      // The same client id twice in a row from one connection's point of view: the
      // fuzzer also runs other conversations with this id concurrently.
      const id = `fz-shared-${rng.int(3)}`;
      return {
        bytes: [
          connect({ version: wire(version), clientId: id, cleanStart: rng.chance(0.5) }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'connect-flags',
    build: ({ rng, version }) => {
      const flags = rng.pick([
        0x01, // reserved bit
        0x0e | 0x18, // will with QoS 3
        0x08, // will QoS without the will flag
        0x20, // will retain without the will flag
        0x40, // password without user name
        0xc2, // both, but no strings follow
        0x06, // will flag, no will topic follows
      ]);
      return {
        bytes: [connect({ version: wire(version), clientId: 'fz-flags', flags }), pingreq()],
      };
    },
  },
  {
    name: 'connect-protocol',
    build: ({ rng }) => {
      const [name, level] = rng.pick<[string, number]>([
        ['MQTT', 3],
        ['MQIsdp', 4],
        ['MQTT', 6],
        ['MQTT', 0],
        ['MQTT', 0x84],
        ['MQTT', 0xff],
        ['mqtt', 4],
        ['MQTT\u0000', 4],
        ['', 4],
      ]);
      return {
        bytes: [
          connect({ version: 4, clientId: 'fz-proto', protocolName: name, protocolLevel: level }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'connect-client-id',
    build: ({ rng, version }) => {
      const id = rng.pick([
        '',
        'x'.repeat(65_535),
        'a/b#+',
        '\u{10FFFF}',
        'x'.repeat(24),
        'x'.repeat(23),
      ]);
      return {
        bytes: [
          connect({ version: wire(version), clientId: id, cleanStart: rng.chance(0.5) }),
          pingreq(),
        ],
      };
    },
  },
  {
    name: 'connect-will',
    build: ({ rng, version }) => {
      const topic = rng.pick([
        '',
        'fz/#',
        'fz/+',
        '$SYS/x',
        '$CONTROL/x',
        deepTopic(201),
        'fz/will',
      ]);
      const payload = Buffer.alloc(rng.pick([0, 700, 65_535]), 0x77);
      const willProps: WireProperty[] =
        version === ProtocolVersion.V5
          ? rng.pick<WireProperty[]>([
              [],
              [{ id: 0x18, value: 0xffffffff }],
              [{ id: 0x23, value: 1 }],
              [{ id: 0x01, value: 2 }],
            ])
          : [];
      return {
        bytes: [
          connect({
            version: wire(version),
            clientId: 'fz-will',
            will: {
              topic,
              payload,
              qos: rng.int(3),
              retain: rng.chance(0.5),
              properties: willProps,
            },
          }),
          pingreq(),
        ],
        ending: rng.pick(['hold', 'fin', 'reset'] as const),
      };
    },
  },
  {
    name: 'connect-trailing-bytes',
    build: ({ rng, version }) => ({
      bytes: [
        connect({
          version: wire(version),
          clientId: 'fz-trail',
          trailing: Buffer.alloc(rng.range(1, 10)),
        }),
        pingreq(),
      ],
    }),
  },
  {
    name: 'disconnect-v5',
    versions: V5_ONLY,
    build: ({ rng, version, seed, index }) => {
      const expiry = rng.chance(0.5);
      const hello = connect({
        version: wire(version),
        clientId: clientIdFor(seed, index),
        will: { topic: 'fz/will', payload: 'w' },
        properties: expiry ? [{ id: 0x11, value: 10 }] : [],
      });
      const d = rng.pick([
        disconnect(0x04),
        disconnect(0x00, [{ id: 0x11, value: 5 }]), // expiry set after 0: protocol error
        disconnect(0x8e),
        disconnect(0x05), // not a DISCONNECT reason code
        disconnect(0x00, [{ id: 0x1f, value: 'bye' }, ...userProperties(100)]),
        hex('e0 01 00'),
        hex('e0 02 00 05'), // property length past the end
      ]);
      return { bytes: [hello, d, pingreq()] };
    },
  },
  {
    name: 'auth-packet',
    versions: V5_ONLY,
    build: ({ rng, hello }) => ({
      bytes: [
        ...(rng.chance(0.8) ? [hello] : []),
        rng.pick([
          hex('f0 00'),
          hex('f0 02 18 00'),
          hex('f0 02 19 00'),
          frame(0xf0, hex('18'), properties([{ id: 0x15, value: 'X' }])),
        ]),
        pingreq(),
      ],
    }),
  },
  {
    name: 'qos-above-maximum',
    build: ({ rng, hello, version }) => ({
      // The limited profile has max_qos 1: QoS 2 is refused with a DISCONNECT 0x9b.
      bytes: [
        hello,
        publish({
          version: wire(version),
          topic: 'fz/qos',
          qos: 2,
          packetId: 1,
          retain: rng.chance(0.5),
        }),
        pingreq(),
      ],
    }),
  },
  {
    name: 'packet-size-boundary',
    build: ({ rng, hello, version, profile }) => {
      // Just under, at and just over the limited profile's max_packet_size.
      const limit = profile === 'limited' ? LIMITED.maxPacketSize : 4096;
      const overhead = 2 + 2 + 'fz/s'.length + 3 + (version === ProtocolVersion.V5 ? 1 : 0);
      const payload = Buffer.alloc(limit - overhead + rng.range(-1, 1), 0x73);
      return {
        bytes: [hello, publish({ version: wire(version), topic: 'fz/s', payload }), pingreq()],
      };
    },
  },
  {
    name: 'many-small-packets-one-write',
    build: ({ rng, hello, version }) => {
      const packets = [hello];
      for (let i = 0; i < 5000; i++)
        packets.push(
          rng.chance(0.5)
            ? pingreq()
            : publish({ version: wire(version), topic: 'fz/m', payload: 'm' }),
        );
      return { bytes: packets };
    },
  },
  {
    name: 'garbage',
    build: ({ rng }) => ({
      bytes: [Buffer.from(Array.from({ length: rng.range(1, 2000) }, () => rng.int(256)))],
    }),
  },
  {
    name: 'http-request',
    build: ({ rng }) => ({
      bytes: [
        Buffer.from(
          rng.pick([
            'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
            '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
          ]),
        ),
      ],
    }),
  },
];

export const HOSTILE_NAMES: readonly string[] = HOSTILE.map((h) => h.name);

// ---------------------------------------------------------------------------------
// Conversations

/** Conversation `index` of run `seed` (see the module note). */
export function makeConversation(corpus: CorpusIndex, seed: number, index: number): Conversation {
  const rng = new Rng(seed ^ 0x5bd1e995, index);
  const profile: BrokerProfile = rng.chance(0.3) ? 'limited' : 'default';
  const version = rng.pick(VERSIONS);
  const notes: string[] = [];
  let kind: string;
  let parts: Buffer[];
  let ending: Ending | undefined;

  const family = rng.int(100);
  if (family < 45) {
    kind = 'session';
    const hello = validConnect(rng, seed, index, version, notes);
    parts = [hello, ...warmup(rng, version, notes)];
    const pool = rng.chance(0.85) ? corpus.clientPackets[version] : corpus.byVersion[version];
    if (rng.chance(0.3)) {
      // Valid but unusual packets (random topics, properties, ids), unmutated.
      const n = rng.range(1, 6);
      for (let i = 0; i < n; i++) {
        const f = rng.pick(corpus.validClientPackets[version]);
        parts.push(Buffer.from(frameBytes(f)));
        notes.push(`valid ${PacketTypeName[f.type]} (${f.origin})`);
      }
    } else {
      parts.push(mutated(pool, seed, index, notes));
    }
    if (rng.chance(0.3)) parts.push(...warmup(rng, version, notes));
  } else if (family < 65) {
    kind = 'connect';
    parts = [mutated(corpus.connects, seed, index, notes)];
    if (rng.chance(0.4)) parts.push(...warmup(rng, version, notes));
  } else {
    const candidates = HOSTILE.filter(
      (h) => h.versions === undefined || h.versions.includes(version),
    );
    const hostile = rng.pick(candidates);
    kind = `hostile:${hostile.name}`;
    const hello = validConnect(rng, seed, index, version, notes);
    const built = hostile.build({ rng, version, profile, seed, index, hello, notes });
    parts = built.bytes;
    ending = built.ending;
  }

  const bytes = Buffer.concat(parts);
  const { cuts, note } = pickCuts(rng, bytes.length);
  notes.push(note);
  ending ??= rng.pick<Ending>(['hold', 'hold', 'hold', 'hold', 'fin', 'reset']);
  return {
    seed,
    index,
    profile,
    kind,
    version,
    bytes,
    cuts,
    pauses: cuts.length > 1 && rng.chance(0.7),
    ending,
    holdMs: rng.pick([0, 0, 2, 10, 30]),
    notes,
  };
}

/** A description of a conversation for failure messages (bytes abbreviated when long). */
export function describeConversation(c: Conversation): string {
  const shown = c.bytes.length <= 512 ? toHex(c.bytes) : `${toHex(c.bytes.subarray(0, 512))} ...`;
  return [
    `case ${c.index} (${c.kind}, v${c.version}, ${c.profile} broker, ending ${c.ending}` +
      `${c.pauses ? ', pauses' : ''}): replay with FUZZ_SEED=${c.seed} FUZZ_CASE=${c.index}`,
    `  sent (${c.bytes.length} bytes): ${shown}`,
    `  notes: ${c.notes.join('; ') || 'none'}`,
  ].join('\n');
}
