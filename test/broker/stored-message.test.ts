/**
 * StoredMessage: a message decoded from a PUBLISH borrows the received chunk (payload
 * and frame) until keep() gives it bytes of its own; which recipients its frame fits.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { ProtocolVersion } from '../../src/protocol/constants.ts';
import { EMPTY_PROPERTIES } from '../../src/protocol/packets.ts';
import { StoredMessage } from '../../src/broker/messages/stored-message.ts';
import * as wire from '../helpers/packet-bytes.ts';

/** A chunk holding some bytes, then a QoS 1 PUBLISH, then more bytes. */
function received(): { chunk: Buffer; start: number; end: number; message: StoredMessage } {
  const frame = wire.publish({ topic: 'a/b', payload: 'hello', qos: 1, packetId: 7 });
  const chunk = Buffer.concat([Buffer.from('xx'), frame, Buffer.from('yyy')]);
  const start = 2;
  const end = start + frame.length;
  const message = new StoredMessage(
    'a/b',
    StoredMessage.NO_PAYLOAD,
    1,
    false,
    EMPTY_PROPERTIES,
    0,
    'c',
    null,
  );
  // fixed header 2, topic 2 + 3: the packet id sits at offset 7, the payload at 9.
  message.borrowFrame(chunk, start, end, end - 5, true, 7, false);
  return { chunk, start, end, message };
}

describe('StoredMessage', () => {
  test('keep() copies payload and frame once; the chunk may be reused afterwards', () => {
    const { chunk, start, end, message } = received();
    const frame = Buffer.from(chunk.subarray(start, end));
    assert.ok(message.rawSource === chunk, 'borrowed');
    message.keep();
    chunk.fill(0);
    assert.equal(message.payload.toString(), 'hello');
    const raw = message.rawSource as Buffer | null;
    if (raw === null) throw new Error('no frame after keep()');
    assert.notEqual(raw.byteOffset, chunk.byteOffset + start, 'a copy, not the chunk');
    assert.deepEqual(raw.subarray(message.rawStart, message.rawEnd), frame);
    assert.equal(message.payload.buffer, raw.buffer, 'payload and frame share the copy');
    assert.equal(
      message.payload.byteOffset + message.payload.length,
      raw.byteOffset + message.rawEnd,
      'the payload ends the frame',
    );
    const kept = message.payload;
    message.keep();
    assert.equal(message.payload, kept, 'a second keep() copies nothing');
  });

  test('the payload is made on demand, as a view of the chunk until keep()', () => {
    const { chunk, message } = received();
    assert.equal(message.payloadLength, 5);
    const view = message.payload;
    assert.equal(view.toString(), 'hello');
    assert.equal(view.buffer, chunk.buffer);
    assert.equal(message.payload, view, 'made once');
  });

  test('a frame that is no form: keep() copies just the payload and forgets the frame', () => {
    const chunk = Buffer.from('..payload..');
    const message = new StoredMessage(
      't',
      StoredMessage.NO_PAYLOAD,
      0,
      false,
      EMPTY_PROPERTIES,
      0,
      'c',
      null,
    );
    message.borrowFrame(chunk, 0, 9, 2, false, -1, false);
    assert.equal(message.rawFormFits(ProtocolVersion.V311, 0, 0), false);
    message.keep();
    chunk.fill(0);
    assert.equal(message.payload.toString(), 'payload');
    assert.equal(message.rawSource, null);
  });

  test('a borrowed payload Buffer is copied by keep()', () => {
    const chunk = Buffer.from('..payload..');
    const message = new StoredMessage(
      't',
      chunk.subarray(2, 9),
      0,
      false,
      EMPTY_PROPERTIES,
      0,
      'c',
      null,
    );
    message.borrowPayload();
    message.keep();
    chunk.fill(0);
    assert.equal(message.payload.toString(), 'payload');
  });

  test('the frame fits recipients of its protocol family and packet-id presence', () => {
    const { message } = received();
    assert.equal(message.rawFormFits(ProtocolVersion.V311, 1, 0), true);
    assert.equal(message.rawFormFits(ProtocolVersion.V31, 2, 0), true);
    assert.equal(message.rawFormFits(ProtocolVersion.V311, 0, 0), false);
    assert.equal(message.rawFormFits(ProtocolVersion.V5, 1, 0), false);
    const v5 = new StoredMessage('t', Buffer.alloc(0), 0, false, EMPTY_PROPERTIES, 0, 'c', null);
    v5.borrowFrame(wire.publish({ topic: 't', version: 5 }), 0, 6, 6, true, -1, true);
    assert.equal(v5.rawFormFits(ProtocolVersion.V5, 0, 0), true);
    assert.equal(v5.rawFormFits(ProtocolVersion.V5, 0, 3), false, 'a subscription id is added');
    assert.equal(v5.rawFormFits(ProtocolVersion.V311, 0, 0), false);
  });
});
