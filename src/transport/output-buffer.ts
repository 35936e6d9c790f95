/**
 * A growable byte buffer that frames are copied into and that is handed to the socket
 * in one write per event-loop turn. When the socket wrote everything at once (the common
 * case) the storage goes back to a small shared pool, so only the connections that have
 * output in the current turn hold a buffer (10,000 idle clients do not keep 16 KiB each);
 * when the socket keeps a reference to the bytes, the storage is let go instead.
 */
import { Buffer } from 'node:buffer';

const INITIAL_CAPACITY = 16 * 1024;
/** A buffer grown past this by a burst is not kept for reuse. */
const KEEP_CAPACITY = 256 * 1024;

const EMPTY = Buffer.alloc(0);

/** Free storage, shared by every OutputBuffer of the process. */
const pool: Buffer[] = [];
const POOL_LIMIT = 64;

export class OutputBuffer {
  #bytes: Buffer = EMPTY;
  /** Bytes written so far. */
  length = 0;
  /** Frames written since the last take(). */
  frames = 0;

  /** The underlying storage; valid for indices below `length`. */
  get bytes(): Buffer {
    return this.#bytes;
  }

  /** Makes room for `n` more bytes and returns the offset to write them at. */
  reserve(n: number): number {
    const at = this.length;
    const needed = at + n;
    if (needed > this.#bytes.length) this.#grow(needed);
    this.length = needed;
    this.frames++;
    return at;
  }

  append(frame: Buffer): void {
    const at = this.reserve(frame.length);
    frame.copy(this.#bytes, at);
  }

  /** Appends `frame` with a big-endian u16 written at `offset` inside the copy. */
  appendWithU16(frame: Buffer, offset: number, value: number): number {
    const at = this.reserve(frame.length);
    frame.copy(this.#bytes, at);
    if (offset >= 0) this.#bytes.writeUInt16BE(value, at + offset);
    return at;
  }

  /** The bytes written so far, as a view (no copy). */
  view(): Buffer {
    return this.#bytes.subarray(0, this.length);
  }

  /** Empties the buffer; its storage is free for reuse (the socket no longer needs it). */
  reset(): void {
    this.length = 0;
    this.frames = 0;
    const bytes = this.#bytes;
    if (bytes !== EMPTY && bytes.length <= KEEP_CAPACITY && pool.length < POOL_LIMIT) {
      pool.push(bytes);
    }
    this.#bytes = EMPTY;
  }

  /** Empties the buffer and lets go of its storage (the socket still references it). */
  detach(): void {
    this.length = 0;
    this.frames = 0;
    this.#bytes = EMPTY;
  }

  #grow(needed: number): void {
    if (this.length === 0 && needed <= INITIAL_CAPACITY) {
      const pooled = pool.pop();
      if (pooled !== undefined) {
        this.#bytes = pooled;
        return;
      }
    }
    let capacity = Math.max(INITIAL_CAPACITY, this.#bytes.length * 2);
    while (capacity < needed) capacity *= 2;
    const next = Buffer.allocUnsafeSlow(capacity);
    if (this.length > 0) this.#bytes.copy(next, 0, 0, this.length);
    this.#bytes = next;
  }
}
