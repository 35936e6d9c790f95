/**
 * FrameDecoder behaviour beyond byte layouts: streaming, zero-copy views, early header
 * checks, protocol version switching, the topic-name cache, and the fixed shapes of
 * decoded packets (one hidden class per packet type, checked with V8's %HaveSameMap).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import v8 from 'node:v8';
import { PacketType, ProtocolVersion, ReasonCode } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { MqttError } from '../../src/protocol/errors.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import type { Packet, PublishPacket } from '../../src/protocol/packets.ts';
import { decodeAll, decodeOne, field, frame, hex } from './codec-helpers.ts';

function publish(topic: string, payload = 'x', qos: 0 | 1 = 0): Buffer {
  return qos === 0
    ? frame(0x30, field(topic), Buffer.from(payload))
    : frame(0x32, field(topic), '00 01', Buffer.from(payload));
}

function topicOf(p: Packet): string {
  assert.equal(p.type, PacketType.Publish);
  return p.topic;
}

describe('streaming', () => {
  test('next() returns null until a packet is complete, and bufferedBytes tracks the bytes', () => {
    const decoder = new FrameDecoder();
    const bytes = publish('a/b', 'hello');
    decoder.push(bytes.subarray(0, 1));
    assert.equal(decoder.next(), null);
    decoder.push(bytes.subarray(1, 6));
    assert.equal(decoder.next(), null);
    assert.equal(decoder.bufferedBytes, 6);
    decoder.push(bytes.subarray(6));
    const p = decoder.next();
    assert.equal(p === null ? '' : topicOf(p), 'a/b');
    assert.equal(decoder.next(), null);
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('a packet split across chunks is joined into its own buffer', () => {
    const bytes = publish('t', 'hello');
    // Chunks with their own memory (Buffer.from would share Node's pool with the join).
    const own = (b: Buffer): Buffer => {
      const copy = Buffer.allocUnsafeSlow(b.length);
      b.copy(copy);
      return copy;
    };
    const first = own(bytes.subarray(0, 4));
    const second = own(bytes.subarray(4));
    const decoder = new FrameDecoder();
    decoder.push(first);
    decoder.push(second);
    const p = decoder.next() as PublishPacket;
    assert.equal(p.payload.toString(), 'hello');
    assert.notEqual(p.payload.buffer, first.buffer);
    assert.notEqual(p.payload.buffer, second.buffer);
  });

  test('empty chunks are ignored', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.alloc(0));
    assert.equal(decoder.next(), null);
    decoder.push(hex('c0 00'));
    decoder.push(Buffer.alloc(0));
    assert.equal(decoder.next()?.type, PacketType.Pingreq);
  });

  test('a remaining length split across chunks', () => {
    const bytes = publish('t', 'x'.repeat(300)); // two-byte remaining length
    const decoder = new FrameDecoder();
    for (const b of bytes) decoder.push(Buffer.from([b]));
    assert.equal((decoder.next() as PublishPacket).payload.length, 300);
  });

  test('many packets in one chunk, including after a partial one', () => {
    const stream = Buffer.concat([publish('a'), hex('c0 00'), publish('b', 'y', 1), hex('e0 00')]);
    const decoder = new FrameDecoder();
    decoder.push(stream.subarray(0, 9));
    decoder.push(stream.subarray(9));
    const types: number[] = [];
    for (let p = decoder.next(); p !== null; p = decoder.next()) types.push(p.type);
    assert.deepEqual(types, [3, 12, 3, 14]);
  });

  test('the maximum packet size can be changed between packets', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.concat([publish('t', 'x'.repeat(20)), publish('t', 'x'.repeat(20))]));
    assert.equal(decoder.next()?.type, PacketType.Publish);
    decoder.maximumPacketSize = 10;
    assert.throws(
      () => decoder.next(),
      (e: unknown) => e instanceof MqttError && e.reasonCode === ReasonCode.PacketTooLarge,
    );
  });
});

describe('large frames', () => {
  test('a large frame is assembled as it arrives, copied once, with the next packet after it', () => {
    const payload = Buffer.alloc(200_000, 0x61);
    payload[payload.length - 1] = 0x7a;
    const bytes = Buffer.concat([publish('big', payload.toString(), 1), publish('next', 'n')]);
    const decoder = new FrameDecoder({ lazyPayloads: true });
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536));
    const packets: Packet[] = [];
    for (const chunk of chunks) {
      decoder.push(chunk);
      for (let p = decoder.next(); p !== null; p = decoder.next()) {
        packets.push(p);
        if (packets.length === 1) {
          assert.equal(decoder.frameOwned, true, 'the joined frame is a Buffer of its own');
          assert.equal(decoder.frameSource.length, decoder.frameEnd);
          assert.equal(
            chunks.some((c) => c.buffer === decoder.frameSource.buffer),
            false,
          );
        }
      }
    }
    assert.equal(packets.length, 2);
    const big = packets[0] as PublishPacket;
    assert.equal(big.topic, 'big');
    assert.equal(big.payload.length, payload.length);
    assert.equal(big.payload.equals(payload), true);
    assert.equal(topicOf(packets[1] as Packet), 'next');
    assert.equal(decoder.bufferedBytes, 0);
  });

  test('bufferedBytes counts an assembling frame; a frame inside one chunk is not owned', () => {
    const bytes = publish('t', 'x'.repeat(40_000));
    const decoder = new FrameDecoder();
    decoder.push(bytes.subarray(0, 10));
    assert.equal(decoder.next(), null);
    decoder.push(bytes.subarray(10, 30_000));
    assert.equal(decoder.next(), null);
    assert.equal(decoder.bufferedBytes, 30_000);
    decoder.push(bytes.subarray(30_000));
    assert.notEqual(decoder.next(), null);
    const whole = new FrameDecoder();
    whole.push(Buffer.concat([bytes, publish('u')]));
    assert.notEqual(whole.next(), null);
    assert.equal(whole.frameOwned, false);
  });
});

describe('server side', () => {
  test('the CONNECT decides its own version; the broker then sets the decoder version', () => {
    const connect5 = encodePacket(
      {
        type: PacketType.Connect,
        protocolName: 'MQTT',
        protocolVersion: ProtocolVersion.V5,
        isBridge: false,
        cleanStart: true,
        keepalive: 0,
        clientId: 'c',
        will: null,
        username: null,
        password: null,
        properties: EMPTY_PROPERTIES,
      },
      ProtocolVersion.V5,
    );
    const publish5 = frame(0x30, field('t'), '02 01 01', 'ff'); // payload format indicator 1
    const decoder = new FrameDecoder({ expectConnect: true });
    decoder.push(Buffer.concat([connect5, publish5]));
    const connect = decoder.next();
    assert.equal(connect?.type === PacketType.Connect && connect.protocolVersion, 5);
    decoder.protocolVersion = ProtocolVersion.V5;
    const p = decoder.next() as PublishPacket;
    assert.deepEqual(p.properties, { payloadFormatIndicator: 1 });
  });

  test('the first-packet rule applies to the first packet only', () => {
    const decoder = new FrameDecoder({ expectConnect: true });
    decoder.push(
      Buffer.concat([hex('10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61'), hex('c0 00')]),
    );
    assert.equal(decoder.next()?.type, PacketType.Connect);
    assert.equal(decoder.next()?.type, PacketType.Pingreq);
  });

  test('an oversized CONNECT is refused before its body arrives', () => {
    const decoder = new FrameDecoder({ expectConnect: true });
    decoder.push(hex('10 a1 8d 06 00'));
    assert.throws(
      () => decoder.next(),
      (e: unknown) => e instanceof MqttError && e.reasonCode === ReasonCode.MalformedPacket,
    );
  });
});

describe('topic name cache', () => {
  test('a repeated topic gives the same string; similar topics are told apart', () => {
    const a = 'sensors/building-1/floor-2/temperature';
    const b = 'sensors/building-2/floor-2/temperature'; // differs where no byte is sampled
    const topics = decodeAll(Buffer.concat([a, a, b, a, b, b].map((t) => publish(t)))).map(topicOf);
    assert.deepEqual(topics, [a, a, b, a, b, b]);
  });

  test('non-ASCII topics and many distinct topics decode correctly', () => {
    const names = Array.from({ length: 3000 }, (_, i) => `dev/${i}/é/${i % 7}`);
    const stream = Buffer.concat([...names, ...names, ...names].map((t) => publish(t)));
    assert.deepEqual(decodeAll(stream).map(topicOf), [...names, ...names, ...names]);
  });

  test('an invalid topic is never served from the cache', () => {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.concat([publish('a/b'), publish('a/b'), publish('a/#')]));
    assert.equal(topicOf(decoder.next()!), 'a/b');
    assert.equal(topicOf(decoder.next()!), 'a/b');
    assert.throws(() => decoder.next(), MqttError);
  });
});

describe('fixed shapes', () => {
  v8.setFlagsFromString('--allow-natives-syntax');
  // V8 natives syntax is only reachable through a function compiled after the flag is set.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (
    a: unknown,
    b: unknown,
  ) => boolean;

  test('decoded PUBLISH packets share one hidden class, whatever their flags and properties', () => {
    const variants = decodeAll(
      Buffer.concat([
        publish('a'),
        publish('a'), // served from the topic cache
        publish('é/b', 'y', 1),
        frame(0x3b, field('t'), '00 07', 'ff'),
      ]),
    );
    const v5 = decodeOne(frame(0x32, field('t'), '00 01', '02 01 01', 'ff'), {
      protocolVersion: ProtocolVersion.V5,
    });
    for (const p of [...variants, v5]) assert.ok(haveSameMap(p, variants[0]), JSON.stringify(p));
  });

  test('acknowledgements of each type share a hidden class across versions', () => {
    const v3 = decodeOne(hex('40 02 00 01'));
    const v5 = decodeOne(hex('40 08 00 01 87 04 1f 00 01 78'), {
      protocolVersion: ProtocolVersion.V5,
    });
    assert.ok(haveSameMap(v3, v5));
  });

  test('CONNECT with and without will and credentials share a hidden class', () => {
    const plain = decodeOne(hex('10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61'));
    const full = decodeOne(
      hex(
        '10 24 00 04 4d 51 54 54 04 ce 00 0a 00 06 63 6c 69 65 6e 74 00 01 77 00 03 62 79 65 00 04 75 73 65 72 00 02 70 77',
      ),
    );
    assert.ok(haveSameMap(plain, full));
  });
});
