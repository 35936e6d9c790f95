/**
 * Property tests: every valid packet of every type and version survives encode then
 * decode; a stream of packets decodes the same however it is cut into chunks, one byte
 * at a time included; and no input, however broken, makes the decoder throw anything
 * but an MqttError.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { ProtocolVersion } from '../../src/protocol/constants.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { MqttError } from '../../src/protocol/errors.ts';
import type { Packet } from '../../src/protocol/packets.ts';
import { packet, version } from './arbitraries.ts';

const VERSIONS = [ProtocolVersion.V31, ProtocolVersion.V311, ProtocolVersion.V5] as const;

/** Pushes `chunks` one by one, collecting every packet as soon as it is complete. */
function decodeChunks(chunks: readonly Buffer[], v: ProtocolVersion): Packet[] {
  const decoder = new FrameDecoder({ protocolVersion: v });
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let p = decoder.next(); p !== null; p = decoder.next()) packets.push(p);
  }
  assert.equal(decoder.bufferedBytes, 0);
  return packets;
}

/** Cuts `bytes` at the given points (any numbers; reduced modulo the length). */
function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const at = [...new Set(points.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const end of [...at, bytes.length]) {
    chunks.push(bytes.subarray(start, end));
    start = end;
  }
  return chunks;
}

describe('decode(encode(p)) deep-equals p', () => {
  for (const v of VERSIONS) {
    test(`every packet type, protocol version ${v}`, () => {
      fc.assert(
        fc.property(packet(v), (p) => {
          const bytes = encodePacket(p, v);
          assert.deepStrictEqual(decodeChunks([bytes], v), [p]);
          // Encoding is deterministic and decode -> encode gives the same bytes back.
          assert.deepStrictEqual(encodePacket(decodeChunks([bytes], v)[0]!, v), bytes);
        }),
        { numRuns: 1500 },
      );
    });
  }
});

describe('streams', () => {
  test('any chunking of a stream yields the same packets', () => {
    fc.assert(
      fc.property(
        version.chain((v) =>
          fc.tuple(
            fc.constant(v),
            fc.array(packet(v), { minLength: 1, maxLength: 8 }),
            fc.array(fc.nat(), { maxLength: 12 }),
          ),
        ),
        ([v, packets, points]) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p, v)));
          assert.deepStrictEqual(decodeChunks(cut(stream, points), v), packets);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('one byte at a time', () => {
    fc.assert(
      fc.property(
        version.chain((v) =>
          fc.tuple(fc.constant(v), fc.array(packet(v), { minLength: 1, maxLength: 5 })),
        ),
        ([v, packets]) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p, v)));
          const bytes = Array.from(stream, (b) => Buffer.from([b]));
          assert.deepStrictEqual(decodeChunks(bytes, v), packets);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('payloads of a packet inside one chunk are views of that chunk, not copies', () => {
    const stream = Buffer.from('300800017468656c6c6f', 'hex'); // PUBLISH "t" "hello"
    const decoded = decodeChunks([stream], ProtocolVersion.V311)[0];
    assert.ok(decoded !== undefined && decoded.type === 3);
    assert.equal(decoded.payload.buffer, stream.buffer);
    assert.equal(decoded.payload.byteOffset, stream.byteOffset + 5);
  });
});

describe('robustness', () => {
  /** Decodes everything; returns normally or throws; checks what is thrown. */
  function survive(
    chunks: readonly Buffer[],
    options: ConstructorParameters<typeof FrameDecoder>[0],
  ): void {
    const decoder = new FrameDecoder(options);
    try {
      for (const chunk of chunks) {
        decoder.push(chunk);
        while (decoder.next() !== null) {
          /* drain */
        }
      }
    } catch (e) {
      assert.ok(e instanceof MqttError, `threw ${String(e)}`);
      assert.equal(typeof e.reasonCode, 'number');
      assert.match(e.specRef, /^MQTT-/);
    }
  }
  const options = fc.record({
    protocolVersion: version,
    expectConnect: fc.boolean(),
    maximumPacketSize: fc.constantFrom(0, 0, 64, 1000),
  });

  test('random bytes only ever throw MqttError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }),
        options,
        (chunks, o) => {
          survive(
            chunks.map((c) => Buffer.from(c)),
            o,
          );
        },
      ),
      { numRuns: 3000 },
    );
  });

  test('valid packets with corrupted bytes only ever throw MqttError', () => {
    fc.assert(
      fc.property(
        version.chain((v) =>
          fc.tuple(fc.constant(v), fc.array(packet(v), { minLength: 1, maxLength: 4 })),
        ),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.boolean(),
        ([v, packets], flips, points, expectConnect) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p, v)));
          for (const [at, value] of flips) stream[at % stream.length] = value;
          survive(cut(stream, points), { protocolVersion: v, expectConnect });
        },
      ),
      { numRuns: 3000 },
    );
  });
});
