/**
 * Codec benchmark: decode and encode rates of our codec beside mqtt-packet, in the same
 * process and on the same packets. Decoding is measured the way a socket feeds it: one
 * large buffer of many concatenated packets, decoded packet by packet.
 *
 * Run with `npm run bench:codec` (builds, then runs dist/bench/codec.js).
 * The last case gives every packet its own topic: the worst case for the topic caches
 * of the decoder and encoder (which then step aside).
 *
 * Rates are operations per CPU second, the best of SLICES alternating slices of each
 * side (BENCH_SLICE_MS CPU milliseconds each, default 100).
 */
import { Buffer } from 'node:buffer';
import mqttPacket from 'mqtt-packet';
import { FrameDecoder } from '../src/protocol/decoder.ts';
import { encodePacket } from '../src/protocol/encoder.ts';
import { EMPTY_PROPERTIES } from '../src/protocol/packets.ts';
import type { Packet, PublishPacket } from '../src/protocol/packets.ts';
import { PacketType, ProtocolVersion } from '../src/protocol/constants.ts';

const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? '100');
const SLICES = 10;
const PACKETS_PER_BUFFER = 2_000;

interface Case {
  readonly name: string;
  readonly version: ProtocolVersion;
  /** Packets used in turn (one, or many variants of one packet). */
  readonly ours: readonly Packet[];
  readonly theirs: readonly mqttPacket.Packet[];
}

const payload = Buffer.alloc(64, 0x61);
const topic = 'sensors/building-1/floor-2/temperature';

const cases: Case[] = [
  {
    name: 'PUBLISH QoS 0, 64 B',
    version: ProtocolVersion.V311,
    ours: [
      {
        type: PacketType.Publish,
        dup: false,
        qos: 0,
        retain: false,
        topic,
        packetId: 0,
        payload,
        properties: EMPTY_PROPERTIES,
      },
    ],
    theirs: [{ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }],
  },
  {
    name: 'PUBLISH QoS 1, 64 B',
    version: ProtocolVersion.V311,
    ours: [
      {
        type: PacketType.Publish,
        dup: false,
        qos: 1,
        retain: false,
        topic,
        packetId: 4242,
        payload,
        properties: EMPTY_PROPERTIES,
      },
    ],
    theirs: [
      { cmd: 'publish', topic, payload, qos: 1, messageId: 4242, retain: false, dup: false },
    ],
  },
  {
    name: 'CONNECT',
    version: ProtocolVersion.V311,
    ours: [
      {
        type: PacketType.Connect,
        protocolName: 'MQTT',
        protocolVersion: ProtocolVersion.V311,
        isBridge: false,
        cleanStart: true,
        keepalive: 60,
        clientId: 'bench-client-0001',
        will: {
          topic: 'clients/bench-client-0001/status',
          payload: Buffer.from('offline'),
          qos: 1,
          retain: true,
          properties: EMPTY_PROPERTIES,
        },
        username: 'alice',
        password: Buffer.from('secret'),
        properties: EMPTY_PROPERTIES,
      },
    ],
    theirs: [
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        clientId: 'bench-client-0001',
        will: {
          topic: 'clients/bench-client-0001/status',
          payload: Buffer.from('offline'),
          qos: 1,
          retain: true,
        },
        username: 'alice',
        password: Buffer.from('secret'),
      },
    ],
  },
  {
    name: 'SUBSCRIBE, 3 filters',
    version: ProtocolVersion.V311,
    ours: [
      {
        type: PacketType.Subscribe,
        packetId: 7,
        subscriptions: [
          {
            topicFilter: 'sensors/+/temperature',
            qos: 1,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0,
          },
          {
            topicFilter: 'alerts/#',
            qos: 2,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0,
          },
          {
            topicFilter: 'config/device-42',
            qos: 0,
            noLocal: false,
            retainAsPublished: false,
            retainHandling: 0,
          },
        ],
        properties: EMPTY_PROPERTIES,
      },
    ],
    theirs: [
      {
        cmd: 'subscribe',
        messageId: 7,
        subscriptions: [
          { topic: 'sensors/+/temperature', qos: 1 },
          { topic: 'alerts/#', qos: 2 },
          { topic: 'config/device-42', qos: 0 },
        ],
      },
    ],
  },
];

// The worst case for the topic caches: every packet with a topic of its own.
const DISTINCT_TOPICS = 10_000;
const distinctTopics = Array.from(
  { length: DISTINCT_TOPICS },
  (_, i) => `sensors/building-${i}/floor-2/temperature`,
);
const [publishCase] = cases;
cases.push({
  name: `PUBLISH QoS 0, ${DISTINCT_TOPICS / 1000}k topics`,
  version: ProtocolVersion.V311,
  ours: distinctTopics.map((t) => ({ ...(publishCase!.ours[0] as PublishPacket), topic: t })),
  theirs: distinctTopics.map((t) => ({
    ...(publishCase!.theirs[0] as mqttPacket.IPublishPacket),
    topic: t,
  })),
});

/** CPU time of this process in milliseconds (user + system). */
function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/**
 * Operations per CPU second of `round` (which does `opsPerRound` operations) over one
 * slice of `ms` CPU milliseconds. CPU time rather than wall time, so that other
 * processes on a busy machine do not skew one side of a comparison.
 */
function measure(round: () => void, opsPerRound: number, ms: number): number {
  let ops = 0;
  const start = cpuMs();
  const stop = start + ms;
  let now = start;
  while (now < stop) {
    round();
    ops += opsPerRound;
    now = cpuMs();
  }
  return (ops * 1000) / (now - start);
}

/** Best rate of each side over alternating slices, after a warm-up of each. */
function compare(ours: () => void, theirs: () => void, opsPerRound: number): [number, number] {
  measure(ours, opsPerRound, 2 * SLICE_MS);
  measure(theirs, opsPerRound, 2 * SLICE_MS);
  let bestOurs = 0;
  let bestTheirs = 0;
  for (let i = 0; i < SLICES; i++) {
    bestOurs = Math.max(bestOurs, measure(ours, opsPerRound, SLICE_MS));
    bestTheirs = Math.max(bestTheirs, measure(theirs, opsPerRound, SLICE_MS));
  }
  return [bestOurs, bestTheirs];
}

let sink = 0;

function decodeOurs(stream: Buffer, version: ProtocolVersion, expected: number): () => void {
  return () => {
    const decoder = new FrameDecoder({ protocolVersion: version });
    decoder.push(stream);
    let count = 0;
    while (decoder.next() !== null) count++;
    if (count !== expected) throw new Error(`decoded ${count} packets, expected ${expected}`);
    sink += count;
  };
}

function decodeTheirs(stream: Buffer, version: number, expected: number): () => void {
  return () => {
    const parser = mqttPacket.parser({ protocolVersion: version });
    let count = 0;
    parser.on('packet', () => count++);
    parser.parse(stream);
    if (count !== expected) throw new Error(`mqtt-packet parsed ${count}, expected ${expected}`);
    sink += count;
  };
}

const ENCODE_BATCH = 1000;

function encodeOurs(packets: readonly Packet[], version: ProtocolVersion): () => void {
  let next = 0;
  return () => {
    for (let i = 0; i < ENCODE_BATCH; i++) {
      sink += encodePacket(packets[next]!, version).length;
      next = next + 1 === packets.length ? 0 : next + 1;
    }
  };
}

function encodeTheirs(packets: readonly mqttPacket.Packet[], version: number): () => void {
  const options = { protocolVersion: version };
  let next = 0;
  return () => {
    for (let i = 0; i < ENCODE_BATCH; i++) {
      sink += mqttPacket.generate(packets[next]!, options).length;
      next = next + 1 === packets.length ? 0 : next + 1;
    }
  };
}

function rate(opsPerSecond: number): string {
  return opsPerSecond >= 1e6
    ? `${(opsPerSecond / 1e6).toFixed(2)} M/s`
    : `${(opsPerSecond / 1e3).toFixed(0)} k/s`;
}

interface Row {
  readonly name: string;
  readonly ours: number;
  readonly theirs: number;
}

const rows: Row[] = [];
for (const c of cases) {
  const encoded = c.ours.map((p, i) => {
    const ourBytes = encodePacket(p, c.version);
    const theirBytes = mqttPacket.generate(c.theirs[i]!, { protocolVersion: c.version });
    if (!ourBytes.equals(theirBytes)) {
      throw new Error(
        `${c.name}: encodings differ\n ours   ${ourBytes.toString('hex')}\n theirs ${theirBytes.toString('hex')}`,
      );
    }
    return ourBytes;
  });
  const stream = Buffer.concat(
    Array.from({ length: PACKETS_PER_BUFFER }, (_, i) => encoded[i % encoded.length]!),
  );
  const [decodeOursRate, decodeTheirsRate] = compare(
    decodeOurs(stream, c.version, PACKETS_PER_BUFFER),
    decodeTheirs(stream, c.version, PACKETS_PER_BUFFER),
    PACKETS_PER_BUFFER,
  );
  rows.push({ name: `decode ${c.name}`, ours: decodeOursRate, theirs: decodeTheirsRate });
  const [encodeOursRate, encodeTheirsRate] = compare(
    encodeOurs(c.ours, c.version),
    encodeTheirs(c.theirs, c.version),
    ENCODE_BATCH,
  );
  rows.push({ name: `encode ${c.name}`, ours: encodeOursRate, theirs: encodeTheirsRate });
}

const header = ['operation', 'mosquitto-ts', 'mqtt-packet', 'ratio'];
const table = rows.map((r) => [
  r.name,
  rate(r.ours),
  rate(r.theirs),
  `${(r.ours / r.theirs).toFixed(1)}x`,
]);
const widths = header.map((h, i) =>
  Math.max(h.length, ...table.map((row) => (row[i] ?? '').length)),
);
const line = (cells: readonly string[]): string =>
  cells
    .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
    .join('  ');
console.log(
  `node ${process.version}; ops per CPU second, best of ${SLICES} slices of ${SLICE_MS} ms each side`,
);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of table) console.log(line(row));
if (sink === 0) console.log('');
