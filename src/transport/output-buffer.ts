/**
 * A growable byte buffer that frames are copied into and that is handed to the socket
 * in one write per event-loop turn. When the socket wrote everything at once (the common
 * case) the storage goes back to a small shared pool, so only the connections that have
 * output in the current turn hold a buffer (10,000 idle clients do not keep 16 KiB each);
 * when the socket keeps a reference to the bytes, the storage is let go instead.
 *
 * Frames forwarded verbatim from a received chunk are appended by reference
 * (appendSlice): consecutive slices of the same chunk (a burst of PUBLISHes read in one
 * go) merge into one run, copied with a single copy when anything else is appended or
 * the buffer is read. A buffer holding nothing but one run is written straight from the
 * received chunk, without any copy (fan-out: every subscriber gets the same slice).
 */
import { Buffer } from 'node:buffer';

/** Storage starts this small (most turns write a few acknowledgements or messages)... */
const SMALL_CAPACITY = 4 * 1024;
/** ...and grows by doubling from at least this. */
const GROWN_CAPACITY = 16 * 1024;
/** A buffer grown past this by a burst is not kept for reuse. */
const KEEP_CAPACITY = 256 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Free storage, shared by every OutputBuffer of the process, bounded so that a burst of
 * output does not stay resident (at most 1 MiB small and 2 MiB grown buffers).
 */
const smallPool: Buffer[] = [];
const SMALL_POOL_LIMIT = 256;
const grownPool: Buffer[] = [];
const GROWN_POOL_LIMIT = 8;

export class OutputBuffer {
  #bytes: Buffer = EMPTY;
  /** Bytes written so far, a pending run included. */
  length = 0;
  /** Frames written since the last take(). */
  frames = 0;
  /** A run of appended slices not copied yet: runSource[runStart..runEnd), at the end. */
  #runSource: Buffer | null = null;
  #runStart = 0;
  #runEnd = 0;

  /** The underlying storage; valid for indices below `length` after reserve() or append*(). */
  get bytes(): Buffer {
    return this.#bytes;
  }

  /** Makes room for `n` more bytes and returns the offset to write them at. */
  reserve(n: number): number {
    if (this.#runSource !== null) this.materialize();
    const at = this.length;
    const needed = at + n;
    if (needed > this.#bytes.length) this.#grow(needed, at);
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

  /**
   * Appends the frame `source[start..end)` with its first byte replaced by `byte0` and,
   * when `offset` >= 0, a big-endian u16 written at `offset` inside the copy.
   */
  appendFrame(
    source: Buffer,
    start: number,
    end: number,
    byte0: number,
    offset: number,
    value: number,
  ): void {
    const at = this.reserve(end - start);
    const bytes = this.#bytes;
    source.copy(bytes, at, start, end);
    bytes[at] = byte0;
    if (offset >= 0) {
      bytes[at + offset] = value >>> 8;
      bytes[at + offset + 1] = value & 0xff;
    }
  }

  /**
   * Appends the frame `source[start..end)` by reference: `source` must stay unchanged
   * until the buffer is next read, reset or detached (a received chunk, which nobody
   * writes to, qualifies).
   */
  appendSlice(source: Buffer, start: number, end: number): void {
    if (this.#runSource !== source || this.#runEnd !== start) {
      if (this.#runSource !== null) this.materialize();
      this.#runSource = source;
      this.#runStart = start;
    }
    this.#runEnd = end;
    this.length += end - start;
    this.frames++;
  }

  /** Copies a pending run into the storage (so that no received chunk stays referenced). */
  materialize(): void {
    const source = this.#runSource;
    if (source === null) return;
    this.#runSource = null;
    const at = this.length - (this.#runEnd - this.#runStart);
    if (this.length > this.#bytes.length) this.#grow(this.length, at);
    source.copy(this.#bytes, at, this.#runStart, this.#runEnd);
  }

  /**
   * The bytes written so far, as a view (no copy): of the storage, or of the received
   * chunk when the buffer holds one run and nothing else.
   */
  view(): Buffer {
    const source = this.#runSource;
    if (source !== null && this.#runEnd - this.#runStart === this.length) {
      return source.subarray(this.#runStart, this.#runEnd);
    }
    this.materialize();
    return this.#bytes.subarray(0, this.length);
  }

  /** Empties the buffer; its storage is free for reuse (the socket no longer needs it). */
  reset(): void {
    this.length = 0;
    this.frames = 0;
    this.#runSource = null;
    const bytes = this.#bytes;
    this.#bytes = EMPTY;
    if (bytes.length === SMALL_CAPACITY) {
      if (smallPool.length < SMALL_POOL_LIMIT) smallPool.push(bytes);
    } else if (bytes.length > SMALL_CAPACITY && bytes.length <= KEEP_CAPACITY) {
      if (grownPool.length < GROWN_POOL_LIMIT) grownPool.push(bytes);
    }
  }

  /** Empties the buffer and lets go of its storage (the socket still references it). */
  detach(): void {
    this.length = 0;
    this.frames = 0;
    this.#runSource = null;
    this.#bytes = EMPTY;
  }

  /** Grows the storage to hold `needed` bytes, keeping the first `used`. */
  #grow(needed: number, used: number): void {
    const old = this.#bytes;
    let next: Buffer | undefined;
    if (needed <= SMALL_CAPACITY) {
      next = smallPool.pop() ?? Buffer.allocUnsafeSlow(SMALL_CAPACITY);
    } else {
      const pooled = grownPool[grownPool.length - 1];
      if (pooled !== undefined && pooled.length >= needed) {
        next = pooled;
        grownPool.pop();
      } else {
        let capacity = Math.max(GROWN_CAPACITY, old.length * 2);
        while (capacity < needed) capacity *= 2;
        next = Buffer.allocUnsafeSlow(capacity);
      }
    }
    if (used > 0) old.copy(next, 0, 0, used);
    this.#bytes = next;
    if (old.length === SMALL_CAPACITY && smallPool.length < SMALL_POOL_LIMIT) smallPool.push(old);
  }
}
