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
 *
 * Large frames (LARGE_FRAME_BYTES and up) are not copied either: only their head (up to
 * the bytes patched per recipient: first byte, packet identifier) goes into the storage,
 * and the rest is kept by reference as a separate part. The buffer is then written as a
 * list of parts (parts()): the storage written so far, the frame's tail, then more storage.
 * A 1 MB message relayed to ten subscribers so costs ten small heads, not ten 1 MB copies.
 */
import { Buffer } from 'node:buffer';

/** Storage starts this small (most turns write a few acknowledgements or messages)... */
const SMALL_CAPACITY = 4 * 1024;
/** ...and grows by doubling from at least this. */
const GROWN_CAPACITY = 16 * 1024;
/** A buffer grown past this by a burst is not kept for reuse. */
const KEEP_CAPACITY = 256 * 1024;

const EMPTY = Buffer.alloc(0);

/** Frames at least this large are written from where they are rather than copied. */
export const LARGE_FRAME_BYTES = 16 * 1024;

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
  /** Bytes of the storage in use (#bytes[0..#used)). */
  #used = 0;
  /** Bytes written so far: storage, pending run and parts. */
  length = 0;
  /** Frames written since the last take(). */
  frames = 0;
  /** A run of appended slices not copied yet: runSource[runStart..runEnd), at the end. */
  #runSource: Buffer | null = null;
  #runStart = 0;
  #runEnd = 0;
  /**
   * What comes before #bytes[#sealed..#used) once a large frame was appended by reference:
   * views of the storage and the frames' tails, in order; null while there is none (the
   * storage alone is the output).
   */
  #parts: Buffer[] | null = null;
  #sealed = 0;

  /** The underlying storage; valid at the offsets reserve() or appendWithU16() returned. */
  get bytes(): Buffer {
    return this.#bytes;
  }

  /** Whether a large frame is held by reference: then the output is parts(), not view(). */
  get hasParts(): boolean {
    return this.#parts !== null;
  }

  /** Makes room for `n` more bytes and returns the offset to write them at. */
  reserve(n: number): number {
    if (this.#runSource !== null) this.materialize();
    const at = this.#used;
    const needed = at + n;
    if (needed > this.#bytes.length) this.#grow(needed);
    const offset = this.#used;
    this.#used = offset + n;
    this.length += n;
    this.frames++;
    return offset;
  }

  append(frame: Buffer): void {
    const at = this.reserve(frame.length);
    frame.copy(this.#bytes, at);
  }

  /**
   * Appends `frame` with a big-endian u16 written at `offset` inside the copy. Returns
   * where the frame's first byte is in `bytes`. A large frame is kept by reference past
   * the u16, so `frame` must stay unchanged until the buffer is next reset or detached
   * (a message's cached form, which nobody writes to, qualifies).
   */
  appendWithU16(frame: Buffer, offset: number, value: number): number {
    const length = frame.length;
    if (length >= LARGE_FRAME_BYTES) return this.#appendLarge(frame, 0, length, -1, offset, value);
    const at = this.reserve(length);
    frame.copy(this.#bytes, at);
    if (offset >= 0) this.#bytes.writeUInt16BE(value, at + offset);
    return at;
  }

  /**
   * Appends the frame `source[start..end)` with its first byte replaced by `byte0` and,
   * when `offset` >= 0, a big-endian u16 written at `offset` inside the copy. With
   * `byReference`, a large frame's bytes after those are not copied but kept by
   * reference, as appendWithU16 does.
   */
  appendFrame(
    source: Buffer,
    start: number,
    end: number,
    byte0: number,
    offset: number,
    value: number,
    byReference = false,
  ): void {
    if (byReference && end - start >= LARGE_FRAME_BYTES) {
      this.#appendLarge(source, start, end, byte0, offset, value);
      return;
    }
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
   * A large frame: its head (through the u16 at `offset`, or its first byte) copied and
   * patched (`byte0` -1 keeps the first byte); the rest ends the storage's current part
   * and is appended by reference as the next one. Returns the head's offset in `bytes`.
   */
  #appendLarge(
    source: Buffer,
    start: number,
    end: number,
    byte0: number,
    offset: number,
    value: number,
  ): number {
    const head = Math.max(1, offset + 2);
    const at = this.reserve(head);
    const bytes = this.#bytes;
    source.copy(bytes, at, start, start + head);
    if (byte0 >= 0) bytes[at] = byte0;
    if (offset >= 0) {
      bytes[at + offset] = value >>> 8;
      bytes[at + offset + 1] = value & 0xff;
    }
    const parts = (this.#parts ??= []);
    if (this.#used > this.#sealed) parts.push(bytes.subarray(this.#sealed, this.#used));
    parts.push(source.subarray(start + head, end));
    this.#sealed = this.#used;
    this.length += end - start - head;
    return at;
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
    const length = this.#runEnd - this.#runStart;
    const needed = this.#used + length;
    if (needed > this.#bytes.length) this.#grow(needed);
    source.copy(this.#bytes, this.#used, this.#runStart, this.#runEnd);
    this.#used += length;
  }

  /**
   * The bytes written so far, as a view (no copy): of the storage, or of the received
   * chunk when the buffer holds one run and nothing else. With parts (hasParts) this is a
   * copy: write parts() instead.
   */
  view(): Buffer {
    if (this.#parts !== null) return Buffer.concat(this.parts(), this.length);
    const source = this.#runSource;
    if (source !== null && this.#runEnd - this.#runStart === this.length) {
      return source.subarray(this.#runStart, this.#runEnd);
    }
    this.materialize();
    return this.#bytes.subarray(0, this.#used);
  }

  /** The bytes written so far as a list of views, in order (no copy): see hasParts. */
  parts(): Buffer[] {
    this.materialize();
    const parts = this.#parts === null ? [] : this.#parts.slice();
    if (this.#used > this.#sealed) parts.push(this.#bytes.subarray(this.#sealed, this.#used));
    return parts;
  }

  /** Empties the buffer; its storage is free for reuse (the socket no longer needs it). */
  reset(): void {
    this.#clear();
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
    this.#clear();
    this.#bytes = EMPTY;
  }

  #clear(): void {
    this.length = 0;
    this.#used = 0;
    this.frames = 0;
    this.#runSource = null;
    this.#parts = null;
    this.#sealed = 0;
  }

  /**
   * Grows the storage to hold `needed` bytes, keeping those in use. Bytes already in parts
   * stay where they are (the parts are views of the old storage, which is then not reused).
   */
  #grow(needed: number): void {
    const old = this.#bytes;
    const sealed = this.#sealed;
    const used = this.#used - sealed;
    needed -= sealed;
    this.#used = used;
    this.#sealed = 0;
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
    if (used > 0) old.copy(next, 0, sealed, sealed + used);
    this.#bytes = next;
    if (sealed > 0) return;
    if (old.length === SMALL_CAPACITY && smallPool.length < SMALL_POOL_LIMIT) smallPool.push(old);
  }
}
