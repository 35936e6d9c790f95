/**
 * FileWindow: the bytes of a `mosquitto.db` file as the reader needs them, either a whole
 * file already in memory or a file read a window at a time. Reading a large store through
 * one reused window (16 MiB, more for a larger chunk) keeps it from being in memory whole
 * beside everything restored from it, and spares the pages of a fresh buffer its size.
 */
import { Buffer } from 'node:buffer';
import { readSync } from 'node:fs';
import { MosquittoDbError } from './format.ts';

const WINDOW_BYTES = 16 * 1024 * 1024;

export class FileWindow {
  /** Holds the file's bytes [base, base + filled). */
  data: Buffer;
  base = 0;
  /** The file's size. */
  readonly size: number;
  /** Counts the times the window moved: positions kept in `data` are stale after one. */
  moves = 0;
  readonly #fd: number | null;
  readonly #path: string;
  #filled: number;

  private constructor(data: Buffer, size: number, fd: number | null, path: string) {
    this.data = data;
    this.size = size;
    this.#fd = fd;
    this.#path = path;
    this.#filled = fd === null ? size : 0;
  }

  /** A file already in memory. */
  static whole(data: Buffer): FileWindow {
    return new FileWindow(data, data.length, null, '');
  }

  /** The open file `fd` of `size` bytes, read as needed; `path` for error messages. */
  static reading(fd: number, size: number, path: string): FileWindow {
    return new FileWindow(Buffer.allocUnsafe(Math.min(size, WINDOW_BYTES)), size, fd, path);
  }

  /**
   * Makes `data` hold the file's bytes [from, to) (`to` is cut at the end of the file);
   * `from` must not be before the window's start. Throws what reading the file throws, and
   * MosquittoDbError when the file turns out shorter than it was.
   */
  ensure(from: number, to: number): void {
    const end = Math.min(to, this.size);
    if (from >= this.base && end <= this.base + this.#filled) return;
    const fd = this.#fd as number;
    // Keep what is already read from `from` on, at the start of the window.
    const kept = Math.max(0, this.base + this.#filled - from);
    if (end - from > this.data.length) {
      const larger = Buffer.allocUnsafe(end - from);
      this.data.copy(larger, 0, from - this.base, from - this.base + kept);
      this.data = larger;
    } else if (kept > 0) {
      this.data.copy(this.data, 0, from - this.base, from - this.base + kept);
    }
    this.base = from;
    this.#filled = kept;
    this.moves++;
    const want = Math.min(this.data.length, this.size - from);
    while (this.#filled < want) {
      const read = readSync(fd, this.data, this.#filled, want - this.#filled, from + this.#filled);
      if (read === 0) {
        const at = from + this.#filled;
        throw new MosquittoDbError(this.#path, 'truncated', `file ended at offset ${at}`, at);
      }
      this.#filled += read;
    }
  }
}
