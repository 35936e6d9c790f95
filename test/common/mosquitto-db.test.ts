/**
 * The `mosquitto.db` codec (src/common/mosquitto-db.ts) against files the real Mosquitto
 * writes in the test (Debian's 2.0.11; a 2.0.22 build where there is one): their content
 * as read, and writeMosquittoDb giving back the very same bytes. Then round trips of random
 * chunks, the older format versions (built here byte by byte from Mosquitto's readers),
 * every truncation and random damage of a file, and the atomic file replacement.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import {
  closeSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  DbFileWriteError,
  MosquittoDbError,
  parseDbProperties,
  readMosquittoDb,
  readMosquittoDbFile,
  writeMosquittoDb,
  writeMosquittoDbFileAtomic,
  type DbChunk,
  type DbChunkVisitor,
  type DbClientChunk,
  type DbClientMessageChunk,
  type DbMessageChunk,
  type MosquittoDbFile,
} from '../../src/common/mosquitto-db.ts';
import { propertiesLength, writeProperties } from '../../src/protocol/properties.ts';
import type { Properties } from '../../src/protocol/packets.ts';
import { ALLOWED_PROPERTIES, mqttString, propertiesOf, topicName } from '../helpers/arbitraries.ts';
import { trackTempDir } from '../helpers/children.ts';
import { mosquittoSkip } from '../helpers/mosquitto.ts';
import { makeRealDb, referenceProgram, referenceSkipMessage } from '../helpers/real-db.ts';

const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'mosquitto-ts-dbcodec-')));

/** MQTT 5 property bytes (no length prefix), encoded by our protocol layer. */
function propertyBytes(props: Properties): Buffer {
  const length = propertiesLength(props);
  const buf = Buffer.alloc(length + 4);
  const end = writeProperties(buf, 0, props, length);
  return buf.subarray(end - length, end);
}

function ofType<T extends DbChunk['type']>(
  file: MosquittoDbFile,
  type: T,
): Extract<DbChunk, { type: T }>[] {
  return file.chunks.filter((c): c is Extract<DbChunk, { type: T }> => c.type === type);
}

// --- Files written by the real broker -----------------------------------------------

const REAL_BROKERS = [
  { version: '2.0.11', options: mosquittoSkip(['mosquitto', 'mosquitto_pub', 'mosquitto_sub']) },
  {
    version: '2.0.22',
    options:
      referenceProgram('2.0.22', 'mosquitto') === null
        ? { skip: referenceSkipMessage('2.0.22', 'mosquitto') }
        : mosquittoSkip(['mosquitto_pub', 'mosquitto_sub']),
  },
] as const;

for (const { version, options } of REAL_BROKERS) {
  describe(`a mosquitto.db written by Mosquitto ${version}`, options, () => {
    test('reads as what was stored, and writes back to the same bytes', async () => {
      const real = await makeRealDb(version);
      const file = readMosquittoDb(real.data, real.path);
      assert.equal(file.version, 6);

      const [cfg, ...rest] = file.chunks;
      assert.equal(cfg?.type, 'cfg');
      assert.ok(rest.every((c) => c.type !== 'cfg'));
      assert.equal(cfg.shutdown, true);
      assert.equal(cfg.dbIdSize, 8);

      const messages = new Map(ofType(file, 'msgStore').map((m) => [m.topic, m]));
      assert.deepEqual([...messages.keys()].sort(), ['q/a', 'q/b', 'r/1', 'r/2']);
      const r1 = messages.get('r/1')!;
      assert.equal(r1.sourceId, 'pub-retain');
      assert.equal(r1.sourceUsername, null);
      assert.equal(r1.sourcePort, real.port);
      assert.equal(r1.qos, 1);
      assert.equal(r1.retain, true);
      assert.equal(r1.payload.toString(), 'hello');
      // The Message Expiry Interval becomes the expiry time; the rest stays a property list.
      assert.ok(r1.expiryTime >= BigInt(real.startedAt + 3600));
      assert.ok(r1.expiryTime <= BigInt(real.savedAt + 3600));
      const parsed = parseDbProperties(
        Buffer.concat([Buffer.from([r1.properties!.length]), r1.properties!]),
        0,
        r1.properties!.length + 1,
      );
      assert.ok(parsed.ok);
      assert.deepEqual(
        parsed.properties.map((p) => [p.id, p.number, p.name?.toString(), p.bytes?.toString()]),
        [
          [3, 0, undefined, 'text/plain'],
          [38, 0, 'k', 'v'],
          [9, 0, undefined, 'abc'],
          [8, 0, undefined, 'resp/t'],
          [1, 1, undefined, undefined],
        ],
      );
      const r2 = messages.get('r/2')!;
      assert.deepEqual(
        [r2.sourceId, r2.qos, r2.retain, r2.payload.toString(), r2.expiryTime, r2.properties],
        ['pub-retain2', 0, true, 'plain', 0n, null],
      );
      const qa = messages.get('q/a')!;
      const qb = messages.get('q/b')!;
      assert.deepEqual(
        [qa.qos, qa.retain, qa.payload.toString(), qa.properties],
        [1, false, 'one', null],
      );
      assert.deepEqual([qb.qos, qb.payload.toString()], [2, 'two']);
      assert.deepEqual(qb.properties, Buffer.from([38, 0, 1, 0x61, 0, 1, 0x62]));

      assert.deepEqual(
        ofType(file, 'retain')
          .map((r) => r.storeId)
          .sort(),
        [r1.storeId, r2.storeId].sort(),
      );

      const clients = new Map(ofType(file, 'client').map((c) => [c.clientId, c]));
      assert.deepEqual([...clients.keys()].sort(), ['durable311', 'durable5']);
      const c311 = clients.get('durable311')!;
      assert.deepEqual(
        [c311.username, c311.sessionExpiryInterval, c311.sessionExpiryTime, c311.lastMid],
        [null, 0xffffffff, 0n, 2],
      );
      const c5 = clients.get('durable5')!;
      assert.equal(c5.username, 'user5');
      assert.equal(c5.sessionExpiryInterval, 3600);
      assert.ok(c5.sessionExpiryTime >= BigInt(real.startedAt + 3600));
      assert.ok(c5.sessionExpiryTime <= BigInt(real.savedAt + 3600));
      // 2.0.11 keeps the listener of a disconnected client; 2.0.22 no longer does.
      assert.equal(c5.listenerPort, version === '2.0.11' ? real.port : 0);

      // Shared subscriptions are not persisted by Mosquitto 2.0: only q/# is there.
      const subs = ofType(file, 'sub').map((s) => [
        s.clientId,
        s.topic,
        s.qos,
        s.identifier,
        s.options,
      ]);
      assert.deepEqual(subs.sort(), [
        ['durable311', 'q/#', 1, 0, 0],
        ['durable5', 'q/#', 2, 7, 0],
      ]);

      const queued = ofType(file, 'clientMsg').map((m) => [
        m.clientId,
        m.storeId === qa.storeId ? 'q/a' : m.storeId === qb.storeId ? 'q/b' : '?',
        m.mid,
        m.qos,
        m.state,
        m.direction,
        m.retain,
        m.dup,
        m.properties?.toString('hex') ?? null,
      ]);
      assert.deepEqual(queued, [
        ['durable311', 'q/a', 1, 1, 11, 1, false, false, null],
        ['durable311', 'q/b', 2, 1, 11, 1, false, false, null],
        ['durable5', 'q/a', 1, 1, 11, 1, false, false, '0b07'],
        ['durable5', 'q/b', 2, 2, 11, 1, false, false, '0b07'],
      ]);
      // Each client's CLIENT chunk comes before its messages.
      const order = file.chunks.map((c) => c.type);
      assert.deepEqual(order.slice(0, 5), ['cfg', 'msgStore', 'msgStore', 'msgStore', 'msgStore']);

      assert.ok(writeMosquittoDb(file).equals(real.data), 'rewritten bytes differ');

      // And the damaged versions of this file: every cut is refused or reads as whole chunks.
      for (let length = 0; length < real.data.length; length++) {
        checkTruncated(real.data.subarray(0, length), real.path);
      }
    });
  });
}

/** A cut file is refused with MosquittoDbError, or (cut between chunks) reads as a shorter file. */
function checkTruncated(data: Buffer, path: string): void {
  let file: MosquittoDbFile;
  try {
    file = readMosquittoDb(data, path);
  } catch (error) {
    assert.ok(error instanceof MosquittoDbError, `not a MosquittoDbError: ${String(error)}`);
    assert.ok(error.message.startsWith(`${path}: `), error.message);
    return;
  }
  assert.ok(writeMosquittoDb(file).equals(data), `a partial result at ${data.length} bytes`);
}

// --- A small file built here ------------------------------------------------------

const SMALL: MosquittoDbFile = {
  version: 6,
  chunks: [
    { type: 'cfg', lastDbId: 7n, shutdown: false, dbIdSize: 8 },
    {
      type: 'msgStore',
      storeId: 7n,
      expiryTime: 1_900_000_000n,
      sourceId: 'src',
      sourceUsername: 'usr',
      sourceMid: 9,
      sourcePort: 1883,
      topic: 'a/b',
      qos: 2,
      retain: true,
      payload: Buffer.from('payload'),
      properties: propertyBytes({ contentType: 'c', userProperties: [['k', 'v']] }),
    },
    {
      type: 'client',
      clientId: 'cid',
      username: 'u',
      sessionExpiryTime: 1_900_000_100n,
      sessionExpiryInterval: 100,
      lastMid: 3,
      listenerPort: 1883,
    },
    {
      type: 'clientMsg',
      storeId: 7n,
      mid: 3,
      clientId: 'cid',
      qos: 2,
      state: 11,
      retain: true,
      dup: true,
      direction: 1,
      properties: propertyBytes({ subscriptionIdentifiers: [300] }),
    },
    { type: 'sub', clientId: 'cid', topic: 'a/#', qos: 2, options: 12, identifier: 300 },
    { type: 'retain', storeId: 7n },
  ],
};

describe('the version 6 layout', () => {
  const bytes = writeMosquittoDb(SMALL);

  test('header, then each chunk as Mosquitto 2.0.22 lays it out on x86-64', () => {
    const expected = Buffer.from(
      [
        '00b5006d6f7371756974746f206462',
        '00000000 00000006',
        // CFG: uint64 LE last id, shutdown, dbid size, 6 bytes of padding
        '00000001 00000010 0700000000000000 00 08 000000000000',
        // MSG_STORE: id LE, expiry LE, payloadlen, mid, id len, user len, topic len, port, qos, retain
        '00000002 0000003c 0700000000000000 00b33f7100000000 00000007 0009 0003 0003 0003 075b 02 01',
        '737263 757372 612f62 7061796c6f6164 0b 030001 63 2600016b000176',
        // CLIENT: expiry LE, interval, last mid, id len, port, user len, 4 bytes of padding
        '00000006 0000001c 64b33f7100000000 00000064 0003 0003 075b 0001 00000000 636964 75',
        // CLIENT_MSG: id LE, mid, id len, qos, state, retain<<4|dup, direction
        '00000003 00000017 0700000000000000 0003 0003 02 0b 11 01 636964 03 0bac02',
        // SUB: identifier, id len, topic len, qos, options, 2 bytes of padding
        '00000005 00000012 0000012c 0003 0003 02 0c 0000 636964 612f23',
        // RETAIN
        '00000004 00000008 0700000000000000',
      ]
        .join('')
        .replace(/ /g, ''),
      'hex',
    );
    assert.equal(bytes.toString('hex'), expected.toString('hex'));
  });

  test('reads back to the same chunks', () => {
    assert.deepEqual(readMosquittoDb(bytes, '/x/mosquitto.db'), SMALL);
  });

  test('cut at every offset: a MosquittoDbError naming the file, or whole chunks', () => {
    for (let length = 0; length < bytes.length; length++) {
      checkTruncated(bytes.subarray(0, length), '/x/mosquitto.db');
    }
  });

  test('the messages name the file, the problem and the offset', () => {
    const cases: [Buffer, RegExp, string][] = [
      [Buffer.alloc(0), /^\/x\/mosquitto\.db: empty file$/, 'empty'],
      [bytes.subarray(0, 10), /: truncated file header \(10 of 23 bytes\)$/, 'truncated'],
      [
        Buffer.from('not a mosquitto db file'),
        /: unrecognised file format \(bad magic\)$/,
        'format',
      ],
      [withVersion(bytes, 7), /: unsupported persistent database format version 7 /, 'version'],
      [withVersion(bytes, 1), /: unsupported persistent database format version 1 /, 'version'],
      [bytes.subarray(0, 47 + 20), /: truncated MSG_STORE chunk at offset 47$/, 'truncated'],
      [bytes.subarray(0, 47 + 3), /: truncated chunk header at offset 47$/, 'truncated'],
      [
        patch(bytes, 23 + 8 + 9, 4),
        /: CFG chunk at offset 23: incompatible database configuration \(dbid size is 4 bytes, expected 8\)$/,
        'corrupt',
      ],
      // MSG_STORE length one byte short: the property list no longer fits.
      [patch(bytes, 47 + 7, 0x3b), /: MSG_STORE chunk at offset 47: invalid properties/, 'corrupt'],
      // RETAIN declaring 9 bytes, with a 9th byte there.
      [
        Buffer.concat([
          bytes.subarray(0, bytes.length - 9),
          Buffer.from([9]),
          bytes.subarray(bytes.length - 8),
          Buffer.from([0]),
        ]),
        /: RETAIN chunk at offset \d+: length 9 does not match its contents \(8 bytes\)$/,
        'corrupt',
      ],
      // Property 17 (Session Expiry Interval) in a message: Mosquitto refuses the file.
      [
        writeMosquittoDb({
          version: 6,
          chunks: [{ ...msg(), properties: Buffer.from([17, 0, 0, 0, 5]) }],
        }),
        /: MSG_STORE chunk at offset 23: invalid properties \(property 17 is not allowed in PUBLISH\)$/,
        'corrupt',
      ],
      [
        patch(
          writeMosquittoDb({ version: 6, chunks: [{ ...msg(), topic: 'ab' }] }),
          23 + 8 + 32,
          0xff,
        ),
        /: MSG_STORE chunk at offset 23: topic is not valid UTF-8$/,
        'corrupt',
      ],
    ];
    for (const [data, pattern, reason] of cases) {
      assert.throws(
        () => readMosquittoDb(data, '/x/mosquitto.db'),
        (error: unknown) => {
          assert.ok(error instanceof MosquittoDbError);
          assert.match(error.message, pattern);
          assert.ok(error.message.startsWith('/x/mosquitto.db: '));
          assert.equal(error.reason, reason);
          return true;
        },
      );
    }
  });

  test('random damage: a MosquittoDbError or a file, never another exception', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const damaged = Buffer.from(bytes);
          for (const [at, value] of edits) damaged[at] = value;
          try {
            readMosquittoDb(damaged, '/x/mosquitto.db');
          } catch (error) {
            if (!(error instanceof MosquittoDbError)) throw error;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  test('an unknown chunk type is skipped, as Mosquitto does', () => {
    const unknown = Buffer.from('0000004d00000003787978', 'hex');
    const data = Buffer.concat([bytes.subarray(0, 47), unknown, bytes.subarray(47)]);
    const seen: number[][] = [];
    const file = readMosquittoDb(data, '/x/mosquitto.db', {
      onUnknownChunk: (type, length, offset) => seen.push([type, length, offset]),
    });
    assert.deepEqual(file, SMALL);
    assert.deepEqual(seen, [[77, 3, 47]]);
    assert.throws(
      () => readMosquittoDb(data.subarray(0, 47 + 9), '/x/mosquitto.db'),
      /truncated chunk of unknown type 77 at offset 47/,
    );
  });

  test('the CRC field is not checked (Mosquitto always writes 0 and never reads it)', () => {
    assert.deepEqual(readMosquittoDb(patch(bytes, 15, 0xff), '/x/mosquitto.db'), SMALL);
  });
});

function withVersion(data: Buffer, version: number): Buffer {
  const copy = Buffer.from(data);
  copy.writeUInt32BE(version, 19);
  return copy;
}

function patch(data: Buffer, offset: number, value: number): Buffer {
  const copy = Buffer.from(data);
  copy[offset] = value;
  return copy;
}

function msg(): DbMessageChunk {
  return {
    type: 'msgStore',
    storeId: 1n,
    expiryTime: 0n,
    sourceId: null,
    sourceUsername: null,
    sourceMid: 0,
    sourcePort: 0,
    topic: 't',
    qos: 0,
    retain: false,
    payload: Buffer.alloc(0),
    properties: null,
  };
}

// --- Round trips --------------------------------------------------------------------

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const text = mqttString(12);
const optionalText = fc.option(
  mqttString(12).filter((s) => s !== ''),
  { nil: null },
);
const byte = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
/** Property lists Mosquitto accepts in a stored message; null for none. */
const properties = fc.option(
  propertiesOf(ALLOWED_PROPERTIES.publish, {
    subscriptionIdentifiers: fc.tuple(fc.integer({ min: 1, max: 268_435_455 })),
  })
    .map(propertyBytes)
    .filter((b) => b.length > 0),
  { nil: null },
);

const chunkArbitrary: fc.Arbitrary<DbChunk> = fc.oneof(
  fc.record({
    type: fc.constant('cfg' as const),
    lastDbId: u64,
    shutdown: fc.boolean(),
    dbIdSize: fc.constant(8),
  }),
  fc.record({
    type: fc.constant('msgStore' as const),
    storeId: u64,
    expiryTime: i64,
    sourceId: optionalText,
    sourceUsername: optionalText,
    sourceMid: u16,
    sourcePort: u16,
    topic: fc.oneof(topicName, text),
    qos: byte,
    retain: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    properties,
  }),
  fc.record({
    type: fc.constant('clientMsg' as const),
    storeId: u64,
    mid: u16,
    clientId: text,
    qos: byte,
    state: byte,
    retain: fc.boolean(),
    dup: fc.boolean(),
    direction: byte,
    properties,
  }),
  fc.record({ type: fc.constant('retain' as const), storeId: u64 }),
  fc.record({
    type: fc.constant('sub' as const),
    clientId: text,
    topic: text,
    qos: byte,
    options: byte,
    identifier: u32,
  }),
  fc.record({
    type: fc.constant('client' as const),
    clientId: text,
    username: optionalText,
    sessionExpiryTime: i64,
    sessionExpiryInterval: u32,
    lastMid: u16,
    listenerPort: u16,
  }),
);

test('round trip: any chunks read back as written, and rewrite to the same bytes', () => {
  fc.assert(
    fc.property(fc.array(chunkArbitrary, { maxLength: 8 }), (generated) => {
      // fast-check's records have no prototype; the reader's chunks are plain objects.
      const chunks = generated.map((chunk) => ({ ...chunk }));
      const file: MosquittoDbFile = { version: 6, chunks };
      const bytes = writeMosquittoDb(file);
      const read = readMosquittoDb(bytes, 'round-trip.db');
      assert.deepEqual(read, file);
      assert.ok(writeMosquittoDb(read).equals(bytes));
    }),
    { numRuns: 300 },
  );
});

test('a visitor gets the same chunks, in order, ids as numbers; an id beyond 2^53 is refused', () => {
  const safe = (value: bigint): boolean => value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER);
  fc.assert(
    fc.property(fc.array(chunkArbitrary, { maxLength: 8 }), (generated) => {
      const chunks = generated.map((chunk) => ({ ...chunk }));
      const bytes = writeMosquittoDb({ version: 6, chunks });
      const seen: DbChunk[] = [];
      // Fields are refilled for the next chunk: copy them, as a visitor must.
      const copy = (b: Buffer | null): Buffer | null => (b === null ? null : Buffer.from(b));
      const visitor: DbChunkVisitor = {
        chunk: (chunk) => seen.push(chunk),
        message: (m) =>
          seen.push({
            ...m,
            type: 'msgStore',
            storeId: BigInt(m.storeId),
            expiryTime: BigInt(m.expiryTime),
            payload: Buffer.from(m.payload),
            properties: copy(m.properties),
          }),
        clientMessage: (m) =>
          seen.push({
            ...m,
            type: 'clientMsg',
            storeId: BigInt(m.storeId),
            properties: copy(m.properties),
          }),
        retain: (storeId) => seen.push({ type: 'retain', storeId: BigInt(storeId) }),
      };
      const unsafe = chunks.find(
        (c) =>
          (c.type === 'msgStore' && (!safe(c.storeId) || !safe(c.expiryTime))) ||
          ((c.type === 'clientMsg' || c.type === 'retain') && !safe(c.storeId)),
      );
      if (unsafe !== undefined) {
        assert.throws(
          () => readMosquittoDb(bytes, 'streamed.db', { visitor }),
          (error: unknown) =>
            error instanceof MosquittoDbError &&
            error.reason === 'corrupt' &&
            /out of range/.test(error.message),
        );
        return;
      }
      const read = readMosquittoDb(bytes, 'streamed.db', { visitor });
      assert.deepEqual(read, { version: 6, chunks: [] });
      assert.deepEqual(seen, chunks);
    }),
    { numRuns: 200 },
  );
});

test('readMosquittoDbFile reads a file larger than its window as readMosquittoDb reads it', () => {
  // 20,000 messages of 1 KiB: past the 16 MiB window, with chunks across its edges and
  // strings repeated across them (their cache must not outlive the window's bytes).
  const chunks: DbChunk[] = [{ type: 'cfg', lastDbId: 20_000n, shutdown: true, dbIdSize: 8 }];
  for (let i = 1; i <= 20_000; i++) {
    chunks.push({
      ...msg(),
      storeId: BigInt(i),
      sourceId: i % 3 === 0 ? 'other' : 'same source',
      topic: `queue/${Math.floor(i / 7)}`,
      payload: Buffer.alloc(1000 + (i % 50), i % 251),
    });
    chunks.push({
      type: 'clientMsg',
      storeId: BigInt(i),
      mid: i % 65_536,
      clientId: `client-${Math.floor(i / 1000)}`,
      qos: 1,
      state: 11,
      retain: false,
      dup: false,
      direction: 1,
      properties: null,
    });
  }
  const bytes = writeMosquittoDb({ version: 6, chunks });
  assert.ok(bytes.length > 17 * 1024 * 1024);
  const file = join(dir, 'large.db');
  writeFileSync(file, bytes);
  const visited = (read: (visitor: DbChunkVisitor) => void): unknown[] => {
    const seen: unknown[] = [];
    read({
      chunk: (chunk) => seen.push(chunk),
      message: (m) => seen.push({ ...m, payload: Buffer.from(m.payload) }),
      clientMessage: (m) => seen.push({ ...m }),
      retain: (storeId) => seen.push(storeId),
    });
    return seen;
  };
  const fromFile = visited((visitor) => {
    const fd = openSync(file, 'r');
    try {
      readMosquittoDbFile(fd, file, { visitor });
    } finally {
      closeSync(fd);
    }
  });
  assert.deepEqual(
    fromFile,
    visited((visitor) => readMosquittoDb(bytes, file, { visitor })),
  );
  // Cut inside a chunk past the first window: the same error as for the bytes in memory.
  const cut = join(dir, 'large-cut.db');
  writeFileSync(cut, bytes.subarray(0, 17 * 1024 * 1024 + 5));
  const errorOf = (read: () => void): unknown => {
    try {
      read();
    } catch (error) {
      return error instanceof MosquittoDbError ? [error.reason, error.message] : error;
    }
    return null;
  };
  const visitor: DbChunkVisitor = { chunk() {}, message() {}, clientMessage() {}, retain() {} };
  const fd = openSync(cut, 'r');
  try {
    assert.deepEqual(
      errorOf(() => {
        readMosquittoDbFile(fd, cut, { visitor });
      }),
      errorOf(() => readMosquittoDb(readFileSync(cut), cut, { visitor })),
    );
  } finally {
    closeSync(fd);
  }
});

test('the writer: empty optional strings and property lists are left out, like NULL', () => {
  const bytes = writeMosquittoDb({
    version: 6,
    chunks: [{ ...msg(), sourceId: '', sourceUsername: '', properties: Buffer.alloc(0) }],
  });
  assert.deepEqual(readMosquittoDb(bytes, 'x').chunks, [msg()]);
  assert.ok(bytes.equals(writeMosquittoDb({ version: 6, chunks: [msg()] })));
  // An old version is written as version 6.
  assert.ok(bytes.equals(writeMosquittoDb({ version: 3, chunks: [msg()] })));
  assert.throws(
    () => writeMosquittoDb({ version: 6, chunks: [{ ...msg(), topic: 'x'.repeat(65536) }] }),
    RangeError,
  );
  assert.throws(
    () => writeMosquittoDb({ version: 6, chunks: [{ ...msg(), qos: 256 }] }),
    RangeError,
  );
  assert.throws(
    () => writeMosquittoDb({ version: 6, chunks: [{ ...msg(), storeId: -1n }] }),
    RangeError,
  );
});

// --- Older format versions ------------------------------------------------------------

/** Byte builder for the old formats (each field written on its own, big endian). */
function be(...parts: (Buffer | string | [number, 1 | 2 | 4] | bigint)[]): Buffer {
  return Buffer.concat(
    parts.map((part) => {
      if (Buffer.isBuffer(part)) return part;
      if (typeof part === 'string') return Buffer.from(part);
      if (typeof part === 'bigint') {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(part);
        return b;
      }
      const [value, size] = part;
      const b = Buffer.alloc(size);
      b.writeUIntBE(value, 0, size);
      return b;
    }),
  );
}

function str16(s: string): Buffer {
  return be([Buffer.byteLength(s), 2], s);
}

/** A version 2 to 4 file: 6-byte chunk headers (uint16 type, uint32 length). */
function oldFile(version: number, chunks: [number, Buffer][], lengthFix = 0): Buffer {
  return Buffer.concat([
    Buffer.from('00b5006d6f737175697474 6f206462'.replace(/ /g, ''), 'hex'),
    be([0, 4], [version, 4]),
    ...chunks.map(([type, body]) => be([type, 2], [body.length + lengthFix, 4], body)),
  ]);
}

describe('older format versions', () => {
  const cfg = be([1, 1], [8, 1], 42n);

  test('version 4 (Mosquitto 1.5): all chunk types, defaults for the missing fields', () => {
    const data = oldFile(4, [
      [1, cfg],
      // store id, source id, source username, source port, source mid, mid, topic, qos, retain, payload
      [
        2,
        be(
          5n,
          str16('src'),
          str16('usr'),
          [1883, 2],
          [7, 2],
          [8, 2],
          str16('t/1'),
          [1, 1],
          [1, 1],
          [3, 4],
          'abc',
        ),
      ],
      // client id, last mid, disconnect time
      [6, be(str16('c1'), [9, 2], 1234n)],
      // client id, store id, mid, qos, retain, direction, state, dup
      [3, be(str16('c1'), 5n, [9, 2], [1, 1], [1, 1], [1, 1], [3, 1], [1, 1])],
      [5, be(str16('c1'), str16('t/#'), [2, 1])],
      [4, be(5n)],
    ]);
    const file = readMosquittoDb(data, 'v4.db');
    assert.equal(file.version, 4);
    const expected: DbChunk[] = [
      { type: 'cfg', lastDbId: 42n, shutdown: true, dbIdSize: 8 },
      {
        type: 'msgStore',
        storeId: 5n,
        expiryTime: 0n,
        sourceId: 'src',
        sourceUsername: 'usr',
        sourceMid: 7,
        sourcePort: 1883,
        topic: 't/1',
        qos: 1,
        retain: true,
        payload: Buffer.from('abc'),
        properties: null,
      },
      {
        type: 'client',
        clientId: 'c1',
        username: null,
        sessionExpiryTime: 0n,
        sessionExpiryInterval: 0,
        lastMid: 9,
        listenerPort: 0,
      } satisfies DbClientChunk,
      {
        type: 'clientMsg',
        storeId: 5n,
        mid: 9,
        clientId: 'c1',
        qos: 1,
        state: 3,
        retain: true,
        dup: true,
        direction: 1,
        properties: null,
      } satisfies DbClientMessageChunk,
      { type: 'sub', clientId: 'c1', topic: 't/#', qos: 2, options: 0, identifier: 0 },
      { type: 'retain', storeId: 5n },
    ];
    assert.deepEqual(file.chunks, expected);
    // Loaded and saved again, it becomes a version 6 file of the same content.
    assert.deepEqual(readMosquittoDb(writeMosquittoDb(file), 'v6.db').chunks, expected);
  });

  test('versions 2 and 4 ignore the chunk length, as Mosquitto does (1.5 wrote wrong ones)', () => {
    const store = be(
      5n,
      str16('src'),
      str16(''),
      [0, 2],
      [7, 2],
      [8, 2],
      str16('t'),
      [0, 1],
      [0, 1],
      [0, 4],
    );
    const file = readMosquittoDb(
      oldFile(
        4,
        [
          [1, cfg],
          [2, store],
          [4, be(5n)],
        ],
        3,
      ),
      'v4.db',
    );
    assert.deepEqual(
      file.chunks.map((c) => c.type),
      ['cfg', 'msgStore', 'retain'],
    );
  });

  test('version 3 (no source username or port) and version 2 (no disconnect time)', () => {
    const v3 = readMosquittoDb(
      oldFile(3, [
        [1, cfg],
        [2, be(6n, str16(''), [7, 2], [8, 2], str16('t'), [0, 1], [0, 1], [0, 4])],
        [6, be(str16('c'), [1, 2], 0n)],
      ]),
      'v3.db',
    );
    const [, m3, c3] = v3.chunks;
    assert.equal(m3?.type === 'msgStore' && m3.sourceId, null);
    assert.equal(m3?.type === 'msgStore' && m3.sourceUsername, null);
    assert.equal(c3?.type === 'client' && c3.lastMid, 1);
    const v2 = readMosquittoDb(
      oldFile(2, [
        [1, cfg],
        [6, be(str16('c'), [1, 2])],
      ]),
      'v2.db',
    );
    assert.deepEqual(v2.chunks[1], {
      type: 'client',
      clientId: 'c',
      username: null,
      sessionExpiryTime: 0n,
      sessionExpiryInterval: 0,
      lastMid: 1,
      listenerPort: 0,
    });
  });

  test('version 5 (Mosquitto 1.6): a 16-byte client without port and username', () => {
    const v6 = writeMosquittoDb({
      version: 6,
      chunks: [SMALL.chunks[0]!, SMALL.chunks[1]!],
    });
    const client = Buffer.concat([
      Buffer.from('00000006 00000013'.replace(/ /g, ''), 'hex'),
      be(100n, [3600, 4], [4, 2], [3, 2]),
      Buffer.from('cid'),
    ]);
    const data = withVersion(Buffer.concat([v6, client]), 5);
    const file = readMosquittoDb(data, 'v5.db');
    assert.equal(file.version, 5);
    assert.deepEqual(file.chunks[2], {
      type: 'client',
      clientId: 'cid',
      username: null,
      sessionExpiryTime: 100n,
      sessionExpiryInterval: 3600,
      lastMid: 4,
      listenerPort: 0,
    });
  });
});

// --- Atomic replacement of the file ------------------------------------------------------

describe('writeMosquittoDbFileAtomic', () => {
  test('writes <path>.new with mode 0600 and renames it over <path>', () => {
    const target = join(dir, 'a.db');
    writeFileSync(target, 'old');
    writeMosquittoDbFileAtomic(target, Buffer.from('new contents'));
    assert.equal(readFileSync(target, 'utf8'), 'new contents');
    assert.equal(statSync(target).mode & 0o777, 0o600);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('a.db')),
      ['a.db'],
    );
  });

  test('a stale <path>.new hard-linked to <path> is unlinked, not written through', () => {
    const target = join(dir, 'b.db');
    writeFileSync(target, 'live');
    linkSync(target, `${target}.new`);
    writeMosquittoDbFileAtomic(target, Buffer.from('next'));
    assert.equal(readFileSync(target, 'utf8'), 'next');
  });

  test('failures name the file and strerror(), and leave <path> as it was', () => {
    assert.throws(
      () => {
        writeMosquittoDbFileAtomic(join(dir, 'missing', 'c.db'), Buffer.from('x'));
      },
      (error: unknown) => {
        assert.ok(error instanceof DbFileWriteError);
        assert.equal(error.path, join(dir, 'missing', 'c.db.new'));
        assert.match(
          error.message,
          /c\.db\.new: unable to open it for writing: No such file or directory\.$/,
        );
        return true;
      },
    );
    // <path> is a directory: the rename fails; the directory and its contents stay.
    const target = join(dir, 'd.db');
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), 'k');
    assert.throws(
      () => {
        writeMosquittoDbFileAtomic(target, Buffer.from('x'));
      },
      (error: unknown) => {
        assert.ok(error instanceof DbFileWriteError);
        assert.match(
          error.message,
          /d\.db\.new: unable to rename it to .*d\.db: Is a directory\.$/,
        );
        return true;
      },
    );
    assert.equal(readFileSync(join(target, 'keep'), 'utf8'), 'k');
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('d.db')),
      ['d.db'],
    );
    // A stale <path>.new that cannot be removed (a non-empty directory).
    const e = join(dir, 'e.db');
    writeFileSync(e, 'live');
    mkdirSync(`${e}.new`);
    writeFileSync(join(`${e}.new`, 'x'), 'x');
    assert.throws(() => {
      writeMosquittoDbFileAtomic(e, Buffer.from('x'));
    }, /e\.db\.new: unable to remove the stale file: /);
    assert.equal(readFileSync(e, 'utf8'), 'live');
  });
});
