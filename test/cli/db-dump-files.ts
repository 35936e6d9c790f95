/**
 * Persistence files for the mosquitto_db_dump tests, made the same way every time (by our
 * writer, whose bytes the codec tests hold against Mosquitto's), so their dumps can be
 * written down: db-dump.test.ts has the output Mosquitto 2.0.22's and 2.1.2's
 * mosquitto_db_dump gave for them, and checks it against those builds where they exist.
 */
import { Buffer } from 'node:buffer';
import { writeMosquittoDb, type DbChunk } from '../../src/common/mosquitto-db.ts';
import { propertiesLength, writeProperties } from '../../src/protocol/properties.ts';
import type { Properties } from '../../src/protocol/packets.ts';

function propertyBytes(props: Properties): Buffer {
  const length = propertiesLength(props);
  const buf = Buffer.alloc(length + 4);
  const end = writeProperties(buf, 0, props, length);
  return buf.subarray(end - length, end);
}

/** Every chunk type, every property a stored message can have, the printing edge cases. */
export const FULL_CHUNKS: readonly DbChunk[] = [
  { type: 'cfg', lastDbId: 12n, shutdown: true, dbIdSize: 8 },
  {
    type: 'msgStore',
    storeId: 10n,
    expiryTime: 1_900_000_000n,
    sourceId: 'pub',
    sourceUsername: 'user',
    sourceMid: 5,
    sourcePort: 1883,
    topic: 'a/b',
    qos: 1,
    retain: true,
    payload: Buffer.from('hello'),
    properties: propertyBytes({
      payloadFormatIndicator: 1,
      messageExpiryInterval: 4_000_000_000,
      contentType: 'text/plain',
      responseTopic: 'r/t',
      correlationData: Buffer.from([0x00, 0xab, 0x7f]),
      subscriptionIdentifiers: [7],
      topicAlias: 3,
      userProperties: [
        ['k', 'v'],
        ['k', 'é"\\'],
      ],
    }),
  },
  {
    type: 'msgStore',
    storeId: 11n,
    expiryTime: 0n,
    sourceId: null,
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 0,
    topic: 'bin/"quoted"\\',
    qos: 0,
    retain: false,
    payload: Buffer.from([0xff, 0x00, 0x01]),
    properties: null,
  },
  {
    type: 'msgStore',
    storeId: 12n,
    expiryTime: -1n,
    sourceId: 'p2',
    sourceUsername: null,
    sourceMid: 65535,
    sourcePort: 8883,
    topic: 'big',
    qos: 2,
    retain: false,
    payload: Buffer.alloc(300, 0x78),
    properties: null,
  },
  {
    type: 'msgStore',
    storeId: 13n,
    expiryTime: 0n,
    sourceId: null,
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 0,
    topic: '',
    qos: 0,
    retain: false,
    payload: Buffer.alloc(0),
    properties: propertyBytes({ contentType: '' }),
  },
  {
    type: 'client',
    clientId: 'c1',
    username: 'u1',
    sessionExpiryTime: -1n,
    sessionExpiryInterval: 0xffffffff,
    lastMid: 3,
    listenerPort: 1883,
  },
  {
    type: 'clientMsg',
    storeId: 10n,
    mid: 1,
    clientId: 'c1',
    qos: 1,
    state: 11,
    retain: true,
    dup: true,
    direction: 1,
    properties: propertyBytes({ subscriptionIdentifiers: [7] }),
  },
  {
    type: 'clientMsg',
    storeId: 12n,
    mid: 2,
    clientId: 'c1',
    qos: 2,
    state: 2,
    retain: false,
    dup: false,
    direction: 1,
    properties: null,
  },
  {
    type: 'client',
    clientId: 'c2',
    username: null,
    sessionExpiryTime: 1_900_000_100n,
    sessionExpiryInterval: 100,
    lastMid: 0,
    listenerPort: 0,
  },
  {
    type: 'clientMsg',
    storeId: 11n,
    mid: 0,
    clientId: 'c2',
    qos: 0,
    state: 11,
    retain: false,
    dup: false,
    direction: 1,
    properties: null,
  },
  { type: 'sub', clientId: 'c1', topic: 'a/#', qos: 1, options: 0x0c, identifier: 7 },
  { type: 'sub', clientId: 'c2', topic: 'big', qos: 2, options: 0, identifier: 0xffffffff },
  { type: 'sub', clientId: 'ghost', topic: 'x', qos: 0, options: 0, identifier: 0 },
  { type: 'retain', storeId: 10n },
];

/** FULL_CHUNKS as a version 6 file. */
export function fullFile(): Buffer {
  return writeMosquittoDb({ version: 6, chunks: [...FULL_CHUNKS] });
}

/**
 * A version 4 file (Mosquitto 1.5), bytes as 1.5 wrote them: 6-byte chunk headers and
 * every field on its own; the MSG_STORE length counts the source id twice, as 1.5's did.
 */
export function version4File(): Buffer {
  const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const u64 = (n: bigint): Buffer => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return b;
  };
  const str = (s: string): Buffer => Buffer.concat([u16(Buffer.byteLength(s)), Buffer.from(s)]);
  const chunk = (type: number, body: Buffer, extra = 0): Buffer =>
    Buffer.concat([u16(type), u32(body.length + extra), body]);
  const store = Buffer.concat([
    u64(93n),
    str('src-id'),
    str(''),
    u16(1883),
    u16(1),
    u16(0),
    str('single/topic'),
    Buffer.from([1, 0]),
    u32(7),
    Buffer.from('message'),
  ]);
  return Buffer.concat([
    Buffer.from('00b5006d6f7371756974746f206462', 'hex'),
    u32(0),
    u32(4),
    chunk(1, Buffer.concat([Buffer.from([1, 8]), u64(93n)])),
    chunk(2, store, 6),
    chunk(6, Buffer.concat([str('client-1'), u16(1), u64(0n)])),
    chunk(3, Buffer.concat([str('client-1'), u64(93n), u16(1), Buffer.from([1, 0, 1, 2, 0])])),
    chunk(5, Buffer.concat([str('client-1'), str('single/#'), Buffer.from([1])])),
    chunk(4, u64(93n)),
  ]);
}

/** The damaged and foreign files of the error tests, each from fullFile(). */
export function damagedFiles(): Record<string, Buffer> {
  const full = fullFile();
  // A chunk of unknown type 77 between the CFG chunk and the first MSG_STORE.
  const unknown = Buffer.concat([
    full.subarray(0, 47),
    Buffer.from('0000004d00000003787978', 'hex'),
    full.subarray(47),
  ]);
  const version7 = Buffer.from(full);
  version7.writeUInt32BE(7, 19);
  const dbidSize = Buffer.from(full);
  dbidSize[23 + 8 + 9] = 4;
  return {
    empty: Buffer.alloc(0),
    'cut in the magic': full.subarray(0, 10),
    'cut in the version': full.subarray(0, 21),
    'header only': full.subarray(0, 23),
    'bad magic': Buffer.from('this is not a mosquitto db'),
    'cut inside MSG_STORE': full.subarray(0, 100),
    'cut inside a chunk header': full.subarray(0, 23 + 24 + 5),
    'cut inside RETAIN': full.subarray(0, full.length - 3),
    'unknown chunk': unknown,
    'version 7': version7,
    'dbid size 4': dbidSize,
  };
}
