/**
 * LastString: the last string decoded from bytes of one kind (a topic, a client id) and
 * where those bytes were. Stored state repeats such strings row after row (a client id
 * over its messages, a topic over a queue): the same bytes again give the same string,
 * neither decoded nor allocated again.
 */
import type { Buffer } from 'node:buffer';

export class LastString {
  value = '';
  #source: Buffer | null = null;
  #start = 0;
  #length = -1;

  /** Whether `data[start .. start + length)` are the bytes `value` was decoded from. */
  matches(data: Buffer, start: number, length: number): boolean {
    if (length !== this.#length) return false;
    const source = this.#source as Buffer;
    const from = this.#start;
    // A loop rather than Buffer.compare, whose argument checks cost more than comparing
    // a short string.
    for (let i = 0; i < length; i++) if (data[start + i] !== source[from + i]) return false;
    return true;
  }

  /** The bytes may have changed: match nothing until the next remember(). */
  forget(): void {
    this.#length = -1;
  }

  /** `value` was decoded from `data[start .. start + length)`. */
  remember(value: string, data: Buffer, start: number, length: number): string {
    this.value = value;
    this.#source = data;
    this.#start = start;
    this.#length = length;
    return value;
  }
}
