/**
 * OutputBuffer: frames copied or referenced, merged runs of one received chunk, and the
 * storage handed back or let go after a write.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { LARGE_FRAME_BYTES, OutputBuffer } from '../../src/transport/output-buffer.ts';

const bytes = (...values: number[]): Buffer => Buffer.from(values);

describe('OutputBuffer', () => {
  test('consecutive slices of one chunk are one run, written without a copy', () => {
    const chunk = bytes(1, 2, 3, 4, 5, 6, 7, 8);
    const out = new OutputBuffer();
    out.appendSlice(chunk, 0, 3);
    out.appendSlice(chunk, 3, 6);
    assert.equal(out.length, 6);
    assert.equal(out.frames, 2);
    const view = out.view();
    assert.deepEqual([...view], [1, 2, 3, 4, 5, 6]);
    assert.equal(view.buffer, chunk.buffer, 'a view of the chunk itself');
  });

  test('a gap, another chunk or a reserved frame ends the run; the order is kept', () => {
    const a = bytes(10, 11, 12, 13, 14, 15);
    const b = bytes(20, 21, 22);
    const out = new OutputBuffer();
    out.appendSlice(a, 0, 2);
    out.appendSlice(a, 3, 4);
    out.appendSlice(b, 0, 3);
    const at = out.reserve(2);
    out.bytes[at] = 30;
    out.bytes[at + 1] = 31;
    out.appendSlice(a, 4, 6);
    out.appendFrame(b, 0, 3, 0x99, 1, 0x0102);
    const view = out.view();
    assert.notEqual(view.buffer, a.buffer);
    assert.deepEqual([...view], [10, 11, 13, 20, 21, 22, 30, 31, 14, 15, 0x99, 0x01, 0x02]);
    assert.equal(out.frames, 6);
    // The chunks were copied, not patched.
    assert.deepEqual([...b], [20, 21, 22]);
  });

  test('materialize() copies a pending run, so that the chunk may change afterwards', () => {
    const chunk = bytes(1, 2, 3);
    const out = new OutputBuffer();
    out.append(bytes(9));
    out.appendSlice(chunk, 0, 3);
    out.materialize();
    chunk.fill(0);
    assert.deepEqual([...out.view()], [9, 1, 2, 3]);
  });

  test('grows past its first storage and empties on reset and detach', () => {
    const out = new OutputBuffer();
    const big = Buffer.alloc(10_000, 7);
    out.append(bytes(1));
    out.append(big);
    out.appendSlice(big, 0, 5000);
    assert.equal(out.length, 15_001);
    const view = out.view();
    assert.equal(view[0], 1);
    assert.equal(view[15_000], 7);
    out.reset();
    assert.equal(out.length, 0);
    assert.equal(out.frames, 0);
    assert.equal(out.view().length, 0);
    out.append(bytes(5));
    out.detach();
    assert.equal(out.view().length, 0);
  });

  test('a large frame is kept by reference past its patched head, between copied frames', () => {
    const frame = Buffer.alloc(LARGE_FRAME_BYTES + 10, 7);
    frame[0] = 0x32;
    const out = new OutputBuffer();
    out.append(bytes(1, 2));
    // byte0 patched, packet id at offset 3.
    out.appendFrame(frame, 0, frame.length, 0x3a, 3, 0x0102, true);
    const at = out.reserve(1);
    out.bytes[at] = 9;
    assert.equal(out.hasParts, true);
    assert.equal(out.length, 2 + frame.length + 1);
    assert.equal(out.frames, 3);
    const parts = out.parts();
    assert.deepEqual(
      parts.map((p) => p.length),
      [2 + 5, frame.length - 5, 1],
    );
    assert.equal(parts[1]?.buffer, frame.buffer, 'the tail is the frame itself, not a copy');
    const joined = Buffer.concat(parts);
    assert.deepEqual([...joined.subarray(0, 8)], [1, 2, 0x3a, 7, 7, 0x01, 0x02, 7]);
    assert.equal(joined[joined.length - 1], 9);
    assert.equal(frame[0], 0x32, 'the shared frame is not patched');
    assert.deepEqual(out.view(), joined, 'view() joins the parts');
    out.reset();
    assert.equal(out.hasParts, false);
    assert.equal(out.length, 0);
  });

  test('appendWithU16 of a large form references it; small frames are still copied', () => {
    const form = Buffer.alloc(LARGE_FRAME_BYTES, 5);
    const out = new OutputBuffer();
    const at = out.appendWithU16(form, 4, 0xabcd);
    out.bytes[at] = (out.bytes[at] ?? 0) | 0x08;
    out.appendFrame(Buffer.alloc(100, 1), 0, 100, 0x30, -1, 0, true);
    const parts = out.parts();
    assert.equal(parts.length, 3);
    assert.equal(parts[1]?.buffer, form.buffer);
    const joined = Buffer.concat(parts);
    assert.equal(joined.length, LARGE_FRAME_BYTES + 100);
    assert.deepEqual([...joined.subarray(0, 7)], [0x0d, 5, 5, 5, 0xab, 0xcd, 5]);
    assert.equal(joined[LARGE_FRAME_BYTES], 0x30);
    assert.equal(form[4], 5);
  });

  test('growing after a large frame keeps the bytes already in parts', () => {
    const frame = Buffer.alloc(LARGE_FRAME_BYTES, 3);
    const out = new OutputBuffer();
    out.append(bytes(1, 2, 3));
    out.appendFrame(frame, 0, frame.length, 0x30, -1, 0, true);
    const filler = Buffer.alloc(20_000, 4);
    out.append(filler);
    const joined = Buffer.concat(out.parts());
    assert.equal(joined.length, 3 + LARGE_FRAME_BYTES + 20_000);
    assert.deepEqual([...joined.subarray(0, 5)], [1, 2, 3, 0x30, 3]);
    assert.equal(joined[3 + LARGE_FRAME_BYTES], 4);
    assert.equal(joined[joined.length - 1], 4);
  });
});
