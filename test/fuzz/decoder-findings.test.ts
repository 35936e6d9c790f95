/**
 * Fuzzer findings, minimized into deterministic regression tests. Each checks the
 * fuzzer's contract for one input: the decoder returns packets or throws an MqttError,
 * and every packet it returns re-encodes and decodes again to an equal packet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { ProtocolVersion } from '../../src/protocol/constants.ts';
import type { Packet } from '../../src/protocol/packets.ts';
import { isMqttError } from '../../src/protocol/errors.ts';
import { FrameDecoder } from '../../src/protocol/decoder.ts';
import { encodePacket } from '../../src/protocol/encoder.ts';
import { PacketType } from '../../src/protocol/constants.ts';

function decodeAll(bytes: Buffer, version: ProtocolVersion): Packet[] {
  const decoder = new FrameDecoder({ protocolVersion: version });
  decoder.push(bytes);
  const out: Packet[] = [];
  for (let p = decoder.next(); p !== null; p = decoder.next()) out.push(p);
  return out;
}

/** The round-trip half of the fuzzer's contract, for every packet `bytes` yields. */
function assertRoundTrips(bytes: Buffer, version: ProtocolVersion): void {
  let packets: Packet[];
  try {
    packets = decodeAll(bytes, version);
  } catch (e) {
    assert.ok(isMqttError(e), `only MqttError may be thrown, got ${String(e)}`);
    return;
  }
  for (const packet of packets) {
    const v = packet.type === PacketType.Connect ? packet.protocolVersion : version;
    const again = encodePacket(packet, v);
    assert.deepStrictEqual(decodeAll(again, v), [packet], `re-encoded as ${again.toString('hex')}`);
  }
}

test('3.1 CONNECT whose user name is not UTF-8 but which has a password (fuzz seed 1, case 4292)', () => {
  // MQTT 3.1 leniency (Mosquitto handle_connect.c): an unreadable user name is ignored,
  // the password is still read. The decoder returns {username: null, password: "p"},
  // a packet it refuses when that packet is encoded ("password without user name",
  // [MQTT-3.1.2-22], which Mosquitto 2.0.x also applies to 3.1).
  const bytes = Buffer.from(
    '1015' + '00064d5149736470' + '03' + 'c2' + '003c' + '000163' + '0001ff' + '000170',
    'hex',
  );
  const [packet] = decodeAll(bytes, ProtocolVersion.V31);
  assert.equal(packet?.type, PacketType.Connect);
  assertRoundTrips(bytes, ProtocolVersion.V31);
});
